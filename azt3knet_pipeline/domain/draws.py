"""The one derivation behind every random draw of generation, and the draws built on it.

Every draw comes from a generator seeded by `sub_seed = sha256(seed, namespace, block, field)` (DESIGN.md),
never Python's `hash()`. Rows are drawn in blocks of `BLOCK` agents so a whole field is sampled with one numpy
call per block; the row's position inside its block stands for the index. Because draws are prefix-stable,
agent `i` is the same whatever the population's count. Part of every generator version: never edited.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from azt3knet_pipeline.domain import columns as col
from azt3knet_pipeline.domain.models import canonical_json

NAMESPACE = "azt3knet/profiles/v1"
BLOCK = 1024


def derive_seed(seed: int | str, namespace: str, index: int, field: str) -> int:
    """`H(seed, namespace, index, field)` as a 128-bit integer: the one derivation behind every draw."""
    material = canonical_json([type(seed).__name__, str(seed), namespace, index, field])
    return int.from_bytes(hashlib.sha256(material.encode("utf-8")).digest()[:16], "big")


def _draw(
    seed: int | str,
    field: str,
    start: int,
    stop: int,
    sample: Callable[[np.random.Generator, int], np.ndarray],
    namespace: str = NAMESPACE,
) -> np.ndarray:
    """Rows `start..stop-1` (`start` on a block boundary, `stop` a block boundary or the population's end) of
    a field: `sample(rng, n)` per block, each block with its own derived generator."""
    parts = []
    for row in range(start, stop, BLOCK):
        size = min(BLOCK, stop - row)
        rng = np.random.Generator(np.random.PCG64(derive_seed(seed, namespace, row // BLOCK, field)))
        parts.append(sample(rng, size))
    return np.concatenate(parts) if parts else np.empty(0)


def _smallest_keys(keys: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's `k` smallest keys, in key order (== argsort(keys)[:, :k], but O(m) a row)."""
    if k >= keys.shape[1]:
        return np.argsort(keys, axis=1)
    part = np.argpartition(keys, k - 1, axis=1)[:, :k]
    return np.take_along_axis(part, np.argsort(np.take_along_axis(keys, part, axis=1), axis=1), axis=1)


@dataclass(frozen=True)
class _Subsets:
    """Per row a subset of a pool: `rows[i, :sizes[i]]` are pool indices in pool order, padded with len(pool)."""

    rows: np.ndarray
    sizes: np.ndarray
    column: col.Coded


def _subsets(
    seed: int | str,
    field: str,
    start: int,
    stop: int,
    pool: Sequence[str],
    lo: int,
    hi: int,
    memo: dict[int, tuple[str, ...]] | None = None,
    *,
    namespace: str = NAMESPACE,
    weights: np.ndarray | None = None,
) -> _Subsets:
    """For each row, a subset of `pool` of size lo..hi (clipped to the pool), in pool order.

    `weights` (rows x pool, positive) makes the draw weighted without replacement (exponential race: the
    smallest `-log(1 - u) / w` keys win); without it every member is equally likely, as in v1.
    """
    if list(pool) != sorted(pool):
        raise ValueError(f"{field}: the pool must be sorted so index order is name order")
    hi = min(hi, len(pool))
    lo = min(lo, hi)
    sizes = _draw(seed, f"{field}:size", start, stop, lambda rng, n: rng.integers(lo, hi + 1, size=n), namespace)
    if weights is None:
        chosen = _draw(
            seed,
            f"{field}:order",
            start,
            stop,
            lambda rng, n: _smallest_keys(rng.random((n, len(pool))), hi),
            namespace,
        )
    else:
        uniforms = _draw(seed, f"{field}:order", start, stop, lambda rng, n: rng.random((n, len(pool))), namespace)
        chosen = _smallest_keys(-np.log1p(-uniforms) / weights, hi)
    # Sort each row's first `size` picks by index (= by name); unused slots sort last.
    rows = np.sort(np.where(np.arange(hi)[None, :] < sizes[:, None], chosen, len(pool)), axis=1)
    radix = len(pool) + 1
    if hi * np.log2(radix) < 62:  # one integer per row: much faster to deduplicate than rows
        distinct, codes = np.unique(rows @ radix ** np.arange(hi, dtype=np.int64), return_inverse=True)
        memo = {} if memo is None else memo  # code -> subset, kept across the chunks of one population
        values = []
        for code in distinct.tolist():
            subset = memo.get(code)
            if subset is None:
                digits = ((code // radix**j) % radix for j in range(hi))
                subset = memo[code] = tuple(pool[i] for i in digits if i < len(pool))
            values.append(subset)
    else:
        unique_rows, codes = np.unique(rows, axis=0, return_inverse=True)
        values = [tuple(pool[i] for i in row if i < len(pool)) for row in unique_rows.tolist()]
    return _Subsets(rows=rows, sizes=sizes, column=col.Coded(codes.reshape(-1), values))
