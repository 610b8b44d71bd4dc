"""Agent ids, usernames and e-mail local parts: unique within a population, the same bytes in every version.

Collisions are resolved in index order by the first free numeric suffix (`juan.garcia`, `juan.garcia2`, ...).
Pure: no I/O here.
"""

from __future__ import annotations

import hashlib
import uuid
from itertools import repeat
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from azt3knet_pipeline.domain.generation import _Tables

AGENT_ID_NAMESPACE = uuid.UUID("5b0c1a52-7d2e-4f39-9d0b-a27e3c1f4e11")
_LOCAL_PART_MAX = 64
_USERNAME_MAX = 30


class _AddressBook:
    """Usernames and local parts taken so far: unique within the population, collisions resolved in index
    order by the first free numeric suffix. Kept as integer keys (`_address_key`): a million of them take a
    third less memory than the strings."""

    def __init__(self) -> None:
        self.users: set[int] = set()
        self.locals: set[int] = set()
        self.next_user: dict[int, int] = {}
        self.next_local: dict[int, int] = {}

    def take_users(self, bases: list[str]) -> list[str]:
        return _unique_all(bases, self.users, self.next_user)

    def take_locals(self, bases: list[str]) -> list[str]:
        return _unique_all(bases, self.locals, self.next_local)


def _address_key(value: str) -> int:
    """An exact, injective integer for a string (the leading 1 byte keeps leading NULs significant)."""
    return int.from_bytes(b"\x01" + value.encode("utf-8"), "big")


def _address_keys(values: list[str]) -> list[int]:
    """`_address_key` of every value, encoded and split in C (values never contain a newline; checked)."""
    parts = ("\x01" + "\n\x01".join(values)).encode("utf-8").split(b"\n") if values else []
    if len(parts) != len(values):
        return [_address_key(v) for v in values]
    return list(map(int.from_bytes, parts, repeat("big")))


def _unique_all(bases: list[str], taken: set[int], counters: dict[int, int]) -> list[str]:
    """`_unique_in_order(bases, taken, counters)`, with set operations in C for the rows that keep their base.

    A row keeps its base when it is the base's first row in the chunk and no earlier chunk took it; only the
    other rows are suffixed, in index order, against everything taken before them. If a suffixed value would
    be the base of a later row (which would then need a suffix itself), the chunk is redone in order.
    """
    keys = _address_keys(bases)
    n = len(keys)
    first = dict(zip(reversed(keys), range(n - 1, -1, -1), strict=True))  # key -> the first row with that base
    clashing = taken.intersection(first)
    if len(first) == n and not clashing:
        taken.update(keys)
        return bases
    suffixed = np.fromiter(map(first.__getitem__, keys), dtype=np.int64, count=n) != np.arange(n)
    suffixed[[first[k] for k in clashing]] = True
    out = list(bases)
    mine: set[int] = set()  # suffixed values taken in this chunk
    hints: dict[int, int] = {}
    key = _address_key
    for i in np.flatnonzero(suffixed).tolist():
        base, base_key = bases[i], keys[i]
        k = hints.get(base_key) or counters.get(base_key, 2)
        while True:
            value_key = key(f"{base}{k}")
            if value_key not in taken and value_key not in mine:
                owner = first.get(value_key, i)  # a row of this chunk whose base this value is
                if owner == i:
                    break
                if owner > i:  # a later row's base: the in-order rule gives it to this row and suffixes that one
                    return _unique_in_order(bases, taken, counters)
            k += 1
        hints[base_key] = k + 1
        mine.add(value_key)
        out[i] = f"{base}{k}"
    taken.update(keys)
    taken.update(mine)
    counters.update(hints)
    return out


def _unique_in_order(bases: list[str], taken: set[int], counters: dict[int, int]) -> list[str]:
    """Each base, or the base with the first free suffix 2, 3, ... when taken: rows in index order."""
    out = []
    append, add, key = out.append, taken.add, _address_key
    for base, base_key in zip(bases, _address_keys(bases), strict=True):
        if base_key in taken:
            k = counters.get(base_key, 2)
            while key(f"{base}{k}") in taken:
                k += 1
            counters[base_key] = k + 1
            base = f"{base}{k}"
            base_key = key(base)
        add(base_key)
        append(base)
    return out


_TWO_DIGITS = np.array([f"{i:02d}" for i in range(100)], dtype=object)


def _addresses(
    tables: _Tables,
    given_codes: np.ndarray,
    family_codes: np.ndarray,
    birth_years: np.ndarray,
    styles: np.ndarray,
    numbers: np.ndarray,
    book: _AddressBook,
) -> tuple[list[str], list[str]]:
    """Usernames and email local parts, unique within the population, collisions resolved in index order."""
    n = len(given_codes)
    g, gi = tables.given_slug[given_codes], tables.given_initial[given_codes]
    f, fi = tables.family_slug[family_codes], tables.family_initial[family_codes]
    year = np.array(birth_years.astype(np.int64).astype(str), dtype=object)
    yy = _TWO_DIGITS[birth_years.astype(np.int64) % 100]
    num = np.array(numbers.astype(np.int64).astype(str), dtype=object)
    user = np.empty(n, dtype=object)
    local = np.empty(n, dtype=object)
    forms = (
        lambda i: (g[i] + f[i], g[i] + "." + f[i]),
        lambda i: (g[i] + "_" + f[i] + num[i], g[i] + "." + f[i] + num[i]),
        lambda i: (gi[i] + f[i] + yy[i], gi[i] + "." + f[i] + yy[i]),
        lambda i: (g[i] + year[i], g[i] + "." + fi[i] + year[i]),
    )
    for style, form in enumerate(forms):
        where = np.flatnonzero(styles == style)
        if len(where):
            user[where], local[where] = form(where)
    return (
        book.take_users(_clipped(user.tolist(), _USERNAME_MAX)),
        book.take_locals(_clipped(local.tolist(), _LOCAL_PART_MAX - 6)),
    )


def _clipped(values: list[str], limit: int) -> list[str]:
    """`_clip` of every value. Unclipped values need no strip: slugs are [a-z0-9]+, so no form starts or ends
    with a dot."""
    if not values or max(map(len, values)) <= limit:
        return values
    return [v if len(v) <= limit else _clip(v, limit) for v in values]


def _clip(value: str, limit: int) -> str:
    return value[:limit].strip(".")


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# Where the 32 hex digits go in the 36-character UUID text (the rest are dashes).
_UUID_DIGITS = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])


def agent_ids(population_key: str, count: int, *, start: int = 0) -> list[str]:
    """`str(uuid5(AGENT_ID_NAMESPACE, f"{key}:{index}"))` for every index in `start..count-1`: one sha1 a row,
    the version bits and hex text for all rows at once."""
    prefix = AGENT_ID_NAMESPACE.bytes + f"{population_key}:".encode()
    sha1 = hashlib.sha1
    digests = b"".join([sha1(prefix + b"%d" % index).digest() for index in range(start, count)])
    n = max(count - start, 0)
    raw = np.frombuffer(digests, dtype=np.uint8).reshape(n, 20)[:, :16].copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x50
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    nibbles = np.empty((n, 32), dtype=np.uint8)
    nibbles[:, 0::2], nibbles[:, 1::2] = raw >> 4, raw & 0x0F
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    text[:, _UUID_DIGITS] = _HEX[nibbles]
    joined = text.tobytes().decode("ascii")
    return [joined[i : i + 36] for i in range(0, 36 * n, 36)]
