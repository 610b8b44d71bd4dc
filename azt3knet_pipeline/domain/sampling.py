"""Deterministic samples of a population's mailboxes (pure)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def deterministic_sample(addresses: Iterable[str], population_key: str, size: int) -> list[str]:
    """`size` addresses (all when `size` is 0 or larger than the population), the same ones on every call.

    Ordered by SHA-256 of key and address, so a sample spreads over the population rather than taking its first
    addresses, and growing the sample keeps the smaller one as its prefix.
    """
    ranked = sorted(set(addresses), key=lambda a: hashlib.sha256(f"{population_key}\0{a}".encode()).hexdigest())
    return ranked if size <= 0 else ranked[:size]
