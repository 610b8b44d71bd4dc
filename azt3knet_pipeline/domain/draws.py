"""The one derivation behind every random draw of generation, and the draws built on it.

Every draw comes from a generator seeded by `sub_seed = sha256(seed, namespace, block, field)` (DESIGN.md),
never Python's `hash()`. Rows are drawn in blocks of `BLOCK` agents so a whole field is sampled with one numpy
call per block; the row's position inside its block stands for the index. Because draws are prefix-stable,
agent `i` is the same whatever the population's count. Part of every generator version: never edited.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.random.bit_generator import ISeedSequence

from azt3knet_pipeline.domain import columns as col
from azt3knet_pipeline.domain.cdf_lookup import CdfLookup
from azt3knet_pipeline.domain.models import canonical_json
from azt3knet_pipeline.domain.seed_sequence import pcg64_seed_words

NAMESPACE = "azt3knet/profiles/v1"
BLOCK = 1024


def derive_seed(seed: int | str, namespace: str, index: int, field: str) -> int:
    """`H(seed, namespace, index, field)` as a 128-bit integer: the one derivation behind every draw."""
    material = canonical_json([type(seed).__name__, str(seed), namespace, index, field])
    return int.from_bytes(hashlib.sha256(material.encode("utf-8")).digest()[:16], "big")


def _block_seeds(seed: int | str, namespace: str, blocks: Iterable[int], field: str) -> list[int]:
    """`[derive_seed(seed, namespace, b, field) for b in blocks]` (b a Python int), hashing the rest once.

    The canonical JSON of the list is the JSON of its items joined by "," inside "[...]", so only the index's
    text changes from block to block; tests/unit/domain/test_draws.py checks the equality.
    """
    head = canonical_json([type(seed).__name__, str(seed), namespace])[:-1] + ","
    tail = ("," + canonical_json([field])[1:]).encode("utf-8")
    prefix = hashlib.sha256(head.encode("utf-8"))
    seeds = []
    for index in blocks:
        digest = prefix.copy()
        digest.update(b"%d" % index + tail)
        seeds.append(int.from_bytes(digest.digest()[:16], "big"))
    return seeds


def _generators(
    seed: int | str, namespace: str, blocks: Sequence[int], field: str, seeds: Seeds | None = None
) -> Iterator[np.random.Generator]:
    """`np.random.Generator(np.random.PCG64(derive_seed(seed, namespace, b, field)))` for each block `b`; the
    seeds hashed together (numpy's SeedSequence, `pcg64_seed_words`), or taken from `seeds` where it has them."""
    words = seeds.words(seed, namespace, blocks, field) if seeds is not None else None
    if words is None:
        words = pcg64_seed_words(_block_seeds(seed, namespace, blocks, field))
    for row in words:
        yield np.random.Generator(np.random.PCG64(_Hashed(row)))


class Seeds:
    """The generator seeds of one chunk's blocks for the fields it draws, hashed in one go: numpy hashes a seed
    in ~10 µs, `pcg64_seed_words` a chunk's hundred in less than that a field. Draws given a `Seeds` take their
    generators' seeds from it (and hash their own if it lacks them)."""

    def __init__(self, seed: int | str, namespace: str, start: int, stop: int, fields: Sequence[str]) -> None:
        blocks = [row // BLOCK for row in range(start, stop, BLOCK)]
        entropies = [entropy for field in fields for entropy in _block_seeds(seed, namespace, blocks, field)]
        words = pcg64_seed_words(entropies)
        self._at = (seed, namespace, blocks)
        self._words = {field: words[i * len(blocks) : (i + 1) * len(blocks)] for i, field in enumerate(fields)}

    def words(self, seed: int | str, namespace: str, blocks: Sequence[int], field: str) -> np.ndarray | None:
        """The seed words of `field`'s generators for `blocks` (None unless they are this chunk's)."""
        if (type(seed), seed, namespace, list(blocks)) != (type(self._at[0]), *self._at):
            return None
        return self._words.get(field)


class _Hashed(ISeedSequence):
    """A seed sequence whose state is already generated: `SeedSequence(entropy).generate_state(4, np.uint64)`,
    all that PCG64 asks of its seed."""

    def __init__(self, words: np.ndarray) -> None:
        self._words = words

    def generate_state(self, n_words: int, dtype: Any = np.uint32) -> np.ndarray:
        if n_words != len(self._words) or np.dtype(dtype) != self._words.dtype:
            raise ValueError(f"hashed for {len(self._words)} {self._words.dtype} words")
        return self._words


def _draw(
    seed: int | str,
    field: str,
    start: int,
    stop: int,
    sample: Callable[[np.random.Generator, int], np.ndarray],
    namespace: str = NAMESPACE,
    seeds: Seeds | None = None,
) -> np.ndarray:
    """Rows `start..stop-1` (`start` on a block boundary, `stop` a block boundary or the population's end) of
    a field: `sample(rng, n)` per block, each block with its own derived generator."""
    rows = range(start, stop, BLOCK)
    rngs = _generators(seed, namespace, [row // BLOCK for row in rows], field, seeds)
    parts = [sample(rng, min(BLOCK, stop - row)) for row, rng in zip(rows, rngs, strict=True)]
    return np.concatenate(parts) if parts else np.empty(0)


def _choice(
    seed: int | str,
    field: str,
    start: int,
    stop: int,
    p: np.ndarray,
    namespace: str = NAMESPACE,
    seeds: Seeds | None = None,
) -> np.ndarray:
    """`_draw(..., lambda rng, n: rng.choice(len(p), size=n, p=p))` with the cumulative weights built once, not
    once a block: Generator.choice draws `rng.random(n)` and looks each up in `cumsum(p) / cumsum(p)[-1]`."""
    lookup = _cdf_lookup(np.ascontiguousarray(p, dtype=np.float64).tobytes(), np.shape(p))
    uniforms = _draw(seed, field, start, stop, lambda rng, n: rng.random(n), namespace, seeds)
    return lookup(uniforms).astype(np.int64, copy=False)


@lru_cache(maxsize=64)
def _cdf_lookup(p_bytes: bytes, shape: tuple[int, ...]) -> CdfLookup:
    """The lookup of Generator.choice's cumulative weights for `p` (its float64 bytes), made once per `p`."""
    p = np.frombuffer(p_bytes, dtype=np.float64).reshape(shape)
    np.random.default_rng(0).choice(len(p), size=0, p=p)  # Generator.choice's checks of p, and its errors
    cdf = p.cumsum()
    cdf /= cdf[-1]
    return CdfLookup(cdf)


def _smallest_keys(keys: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's `k` smallest keys, in key order: `argpartition` then `argsort` of the `k`
    (== argsort(keys)[:, :k] when no keys tie). `keys` is left as it was.

    Rows whose `k + 1` smallest keys are distinct have one answer, found by a cheaper path: for a few columns
    one sort of each row's keys packed with their column (`_smallest_keys_packed`), for more `argmin` `k` times
    (masking each pick). The rare other rows (ties, NaN) take the argpartition path itself, so ties resolve
    exactly as before.
    """
    m = keys.shape[1]
    if k >= m:
        return _smallest_keys_sorted(keys, k)
    if m <= _PACKED_COLUMNS:
        return _smallest_keys_packed(keys, k)
    if k > _FEW_KEYS:
        return _smallest_keys_sorted(keys, k)
    return _smallest_keys_argmin(keys, k)


_PACKED_COLUMNS = 64
_FEW_KEYS = 4


def _smallest_keys_packed(keys: np.ndarray, k: int) -> np.ndarray:
    """`_smallest_keys` for k < m <= _PACKED_COLUMNS: each key's float64 bits with its column in the lowest bits,
    sorted as integers a row at a time. Non-negative doubles order as their bits, so a row's sorted bits are
    its keys in order but where keys agree above the column bits. A row whose `k + 1` smallest differ above
    them and whose keys are all non-negative and finite has exact picks; the others take
    `_smallest_keys_argmin`."""
    m = keys.shape[1]
    keys = np.ascontiguousarray(keys, dtype=np.float64)
    bits = (m - 1).bit_length()
    low = (1 << bits) - 1
    packed = keys.view(np.int64) & ~low
    packed |= np.arange(m, dtype=np.int64)
    packed.sort(axis=1)
    head = packed[:, : k + 1]
    picked = (head[:, :k] & low).astype(np.intp, copy=False)
    high = head >> bits
    clear = packed[:, -1] < _INFINITY_BITS  # no infinity, no NaN
    clear &= high[:, 0] >= 0  # no negative key (nor -0.0, nor a NaN with its sign bit set)
    for j in range(k):  # column by column: cheaper than a reduction along rows this short
        clear &= high[:, j] < high[:, j + 1]
    unclear = np.flatnonzero(~clear)
    if len(unclear):
        picked[unclear] = _smallest_keys_argmin(keys[unclear], k)
    return picked


_INFINITY_BITS = int(np.array(np.inf).view(np.int64))


def _smallest_keys_argmin(keys: np.ndarray, k: int) -> np.ndarray:
    """`_smallest_keys` by `argmin` `k` times (masking each pick), rows whose `k + 1` smallest keys are not
    distinct by the definition. `keys` is left as it was."""
    n = keys.shape[0]
    rows = np.arange(n)
    picked = np.empty((n, k), dtype=np.intp)
    values = np.empty((k + 1, n))
    for j in range(k + 1):
        at = keys.argmin(axis=1)
        values[j] = keys[rows, at]
        if j < k:
            picked[:, j] = at
            keys[rows, at] = np.inf
    for j in range(k):
        keys[rows, picked[:, j]] = values[j]
    unclear = np.flatnonzero(~(values[:-1] < values[1:]).all(axis=0))
    if len(unclear):
        picked[unclear] = _smallest_keys_sorted(keys[unclear], k)
    return picked


def _smallest_keys_sorted(keys: np.ndarray, k: int) -> np.ndarray:
    """`_smallest_keys` by argpartition and argsort (the definition)."""
    if k >= keys.shape[1]:
        return np.argsort(keys, axis=1)
    part = np.argpartition(keys, k - 1, axis=1)[:, :k]
    return np.take_along_axis(part, np.argsort(np.take_along_axis(keys, part, axis=1), axis=1), axis=1)


def _sort_rows(rows: np.ndarray) -> np.ndarray:
    """`np.sort(rows, axis=1)`, in place; up to 3 columns by compare-exchanges on whole columns (cheaper than
    a sort call a row)."""
    width = rows.shape[1]
    if width > 3:
        rows.sort(axis=1)
        return rows
    for i, j in _SORTING_NETWORKS[width]:
        low = np.minimum(rows[:, i], rows[:, j])
        np.maximum(rows[:, i], rows[:, j], out=rows[:, j])
        rows[:, i] = low
    return rows


_SORTING_NETWORKS: dict[int, tuple[tuple[int, int], ...]] = {0: (), 1: (), 2: ((0, 1),), 3: ((0, 1), (1, 2), (0, 1))}


class Memo:
    """Values by integer key (>= 0), each made once per population: the slots of a chunk's keys.

    `values` (a list the chunks share, only ever appended to, so a slot stays valid) holds each value at its
    slot. Keys below `dense_keys` find their slot in an array indexed by key; larger ones (huge pools) in a dict.
    """

    def __init__(self, dense_keys: int = 1 << 20) -> None:
        self.values: list[Any] = []
        self._dense_keys = dense_keys
        self._dense = np.empty(0, dtype=np.int64)  # slot by key, -1 until made
        self._sparse: dict[int, int] = {}

    def slots(self, keys: np.ndarray, make: Callable[[np.ndarray], Iterable[Any]]) -> np.ndarray:
        """The slot of each key; `make(new_keys)` gives the values of the keys not seen yet (distinct, sorted)."""
        top = int(keys.max()) + 1 if len(keys) else 0
        if top > self._dense_keys:
            distinct, at = np.unique(keys, return_inverse=True)
            new = np.array([key for key in distinct.tolist() if key not in self._sparse], dtype=np.int64)
            if len(new):
                self._sparse.update(zip(new.tolist(), self._add(new, make).tolist(), strict=True))
            return np.array([self._sparse[key] for key in distinct.tolist()], dtype=np.int64)[at.reshape(-1)]
        if top > len(self._dense):
            self._dense = np.concatenate([self._dense, np.full(top - len(self._dense), -1, dtype=np.int64)])
        slots = self._dense[keys]
        missing = slots < 0
        if missing.any():
            new = np.sort(keys[missing])  # np.unique without return_inverse imports numpy.ma (10 ms)
            new = new[np.concatenate([[True], new[1:] != new[:-1]])]
            self._dense[new] = self._add(new, make)
            slots = self._dense[keys]
        return slots

    def _add(self, new: np.ndarray, make: Callable[[np.ndarray], Iterable[Any]]) -> np.ndarray:
        made = list(make(new))
        if len(made) != len(new):
            raise ValueError(f"make() gave {len(made)} values for {len(new)} keys")
        slots = np.arange(len(self.values), len(self.values) + len(made))
        self.values.extend(made)
        return slots


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
    memo: Memo | None = None,
    *,
    namespace: str = NAMESPACE,
    weights: np.ndarray | None = None,
    seeds: Seeds | None = None,
) -> _Subsets:
    """For each row, a subset of `pool` of size lo..hi (clipped to the pool), in pool order.

    `weights` (rows x pool, positive) makes the draw weighted without replacement (exponential race: the
    smallest `-log(1 - u) / w` keys win); without it every member is equally likely, as in v1. `memo` keeps
    the subsets' values across the chunks of one population.
    """
    if list(pool) != sorted(pool):
        raise ValueError(f"{field}: the pool must be sorted so index order is name order")
    hi = min(hi, len(pool))
    lo = min(lo, hi)
    sizes = _draw(seed, f"{field}:size", start, stop, lambda rng, n: rng.integers(lo, hi + 1, size=n), namespace, seeds)
    chosen = _order(seed, f"{field}:order", start, stop, len(pool), hi, namespace, weights, seeds)
    # Sort each row's first `size` picks by index (= by name); unused slots sort last.
    rows = _sort_rows(np.where(np.arange(hi)[None, :] < sizes[:, None], chosen, len(pool)))
    radix = len(pool) + 1
    if hi * np.log2(radix) < 62:  # one integer per row: much faster to deduplicate than rows
        memo = Memo() if memo is None else memo
        codes = memo.slots(rows @ radix ** np.arange(hi, dtype=np.int64), lambda new: _decode(new, pool, hi))
        return _Subsets(rows=rows, sizes=sizes, column=col.Coded(codes, memo.values))
    unique_rows, codes = np.unique(rows, axis=0, return_inverse=True)
    values = [tuple(pool[i] for i in row if i < len(pool)) for row in unique_rows.tolist()]
    return _Subsets(rows=rows, sizes=sizes, column=col.Coded(codes.reshape(-1), values))


def _order(
    seed: int | str,
    field: str,
    start: int,
    stop: int,
    size: int,
    k: int,
    namespace: str,
    weights: np.ndarray | None,
    seeds: Seeds | None = None,
) -> np.ndarray:
    """Per row the `k` pool indices with the smallest keys, in key order: `rng.random((rows, size))` a block,
    the keys themselves or `-log1p(-u) / weights`. A block at a time, in place: its keys stay in cache."""
    chosen = np.empty((stop - start, k), dtype=np.intp)
    keys = np.empty((min(BLOCK, stop - start), size))
    rows = range(start, stop, BLOCK)
    rngs = _generators(seed, namespace, [row // BLOCK for row in rows], field, seeds)
    for row, rng in zip(rows, rngs, strict=True):
        at = slice(row - start, min(row + BLOCK, stop) - start)
        block = keys[: at.stop - at.start]
        rng.random(out=block)
        if weights is not None:
            np.negative(block, out=block)
            np.log1p(block, out=block)
            np.negative(block, out=block)
            np.divide(block, weights[at], out=block)
        chosen[at] = _smallest_keys(block, k)
    return chosen


def _decode(codes: np.ndarray, pool: Sequence[str], width: int) -> list[tuple[str, ...]]:
    """The subsets of `codes` (pool indices, ascending, padded with len(pool), as base-(len(pool) + 1) digits)."""
    radix = len(pool) + 1
    digits = codes[:, None] // radix ** np.arange(width, dtype=np.int64) % radix
    names = col.object_table([*pool, None])[digits].tolist()
    sizes = (digits < len(pool)).sum(axis=1).tolist()
    return [tuple(row[:size]) for row, size in zip(names, sizes, strict=True)]
