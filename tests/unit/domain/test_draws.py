"""The fast paths of draws.py equal their definitions on random inputs (hypothesis).

- block seeds hashed around the index == `derive_seed` (canonical JSON of the 5-element list); a block's generator
  (its seed hashed with the chunk's, `Seeds`, or alone) == `PCG64(derive_seed(...))`;
- `_smallest_keys` (packed keys sorted as integers, or argmin picks) == argpartition + argsort, ties, NaN,
  infinities, -0.0 and keys one ulp apart included;
- `_sort_rows` (compare-exchanges) == `np.sort(axis=1)`;
- `Memo` slots give every key its value, chunk after chunk;
- `_subsets` == the whole-chunk definition (one `rng.random((n, pool))` a block, keys, argpartition, np.unique).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from azt3knet_pipeline.domain import draws
from azt3knet_pipeline.domain.generation import BEHAVIORAL_BIASES, INTEREST_CATALOGUE

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TEXT = st.text(st.characters(codec="utf-8"), max_size=12)


@SETTINGS
@given(
    seed=st.one_of(st.integers(-(10**30), 10**30), TEXT),
    namespace=TEXT,
    field=TEXT,
    blocks=st.lists(st.integers(0, 10**12), max_size=5),
)
def test_block_seeds_equal_derive_seed(seed: int | str, namespace: str, field: str, blocks: list[int]) -> None:
    expected = [draws.derive_seed(seed, namespace, block, field) for block in blocks]
    assert draws._block_seeds(seed, namespace, blocks, field) == expected


@SETTINGS
@given(
    p=st.lists(st.sampled_from((0.0, 1e-9, 0.01, 0.3, 1.0, 7.0)), min_size=1, max_size=40).filter(lambda w: sum(w) > 0),
    seed=st.one_of(st.integers(0, 10**6), TEXT),
    first=st.integers(0, 3),
    count=st.integers(0, 2500),
)
def test_choice_equals_generator_choice_a_block(p: list[float], seed: int | str, first: int, count: int) -> None:
    weights = np.array(p) / sum(p)
    start = first * draws.BLOCK
    fast = draws._choice(seed, "f", start, start + count, weights, "ns")
    slow = draws._draw(seed, "f", start, start + count, lambda rng, n: rng.choice(len(p), size=n, p=weights), "ns")
    np.testing.assert_array_equal(fast, slow)
    assert count == 0 or fast.dtype == slow.dtype


@SETTINGS
@given(
    seed=st.one_of(st.integers(-(10**30), 10**30), TEXT),
    blocks=st.lists(st.integers(0, 10**6), max_size=9),
    fields=st.lists(TEXT, min_size=1, max_size=4, unique=True),
)
def test_generators_equal_pcg64_of_derive_seed_with_and_without_a_chunks_seeds(
    seed: int | str, blocks: list[int], fields: list[str]
) -> None:
    seeds = draws.Seeds(seed, "ns", blocks[0] * draws.BLOCK, (blocks[0] + 3) * draws.BLOCK, fields) if blocks else None
    chunk = list(range(blocks[0], blocks[0] + 3)) if blocks else []
    # The chunk's own blocks and fields from `seeds`, anything else hashed on its own.
    for asked_blocks, field in ((chunk, fields[0]), (blocks, fields[-1]), (chunk, "other field")):
        expected = [np.random.PCG64(draws.derive_seed(seed, "ns", b, field)).state for b in asked_blocks]
        for given_seeds in (None, seeds):
            rngs = draws._generators(seed, "ns", asked_blocks, field, given_seeds)
            assert [rng.bit_generator.state for rng in rngs] == expected


def test_seeds_of_one_chunk_are_not_taken_for_another() -> None:
    seeds = draws.Seeds(7, "ns", 0, 3 * draws.BLOCK, ["f"])
    assert seeds.words(7, "ns", [0, 1, 2], "f") is not None
    for other in (
        (7, "ns", [0, 1], "f"),
        ("7", "ns", [0, 1, 2], "f"),
        (7, "other", [0, 1, 2], "f"),
        (7, "ns", [0, 1, 2], "g"),
    ):
        assert seeds.words(*other) is None


def test_choice_rejects_what_generator_choice_rejects() -> None:
    for bad in (np.array([0.5, 0.6]), np.array([1.5, -0.5]), np.array([[1.0]])):
        with pytest.raises(ValueError):
            draws._choice(1, "f", 0, 10, bad)


def _smallest_keys_reference(keys: np.ndarray, k: int) -> np.ndarray:
    if k >= keys.shape[1]:
        return np.argsort(keys, axis=1)
    part = np.argpartition(keys, k - 1, axis=1)[:, :k]
    return np.take_along_axis(part, np.argsort(np.take_along_axis(keys, part, axis=1), axis=1), axis=1)


@SETTINGS
@given(
    n=st.integers(0, 60),
    m=st.integers(1, 80),  # both sides of _PACKED_COLUMNS
    k=st.integers(0, 6),
    distinct=st.sampled_from((2, 5, 1000, 0)),  # 0: continuous uniforms, else that many distinct values (ties)
    special=st.lists(st.sampled_from((np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0, -1.0)), max_size=3),
    near=st.booleans(),  # keys one ulp apart: equal above the packed column bits, distinct as floats
    seed=st.integers(0, 2**32),
)
def test_smallest_keys_equal_argpartition_then_argsort(
    n: int, m: int, k: int, distinct: int, special: list[float], near: bool, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    keys = rng.random((n, m)) if distinct == 0 else rng.integers(0, distinct, size=(n, m)) / 7
    if near and n:
        keys[:, rng.integers(0, m)] = np.nextafter(keys[:, rng.integers(0, m)], np.inf)
    for value in special if n else ():
        keys[rng.integers(0, n), rng.integers(0, m)] = value
    k = min(k, m)
    before = keys.copy()
    np.testing.assert_array_equal(draws._smallest_keys(keys, k), _smallest_keys_reference(keys, k))
    np.testing.assert_array_equal(keys, before)  # left as it was


@pytest.mark.parametrize("m", [2, 24, 42, draws._PACKED_COLUMNS])
def test_packed_smallest_keys_take_every_path(m: int) -> None:
    """Rows with distinct keys, with two of the smallest one ulp apart, with a tie, a NaN, an infinity, -0.0."""
    rng = np.random.default_rng(m)
    keys = rng.random((7, m)) + 1.0
    keys[1, :2] = [0.5, np.nextafter(0.5, 1.0)]
    keys[2, :2] = [0.25, 0.25]
    keys[3, m - 1] = np.nan
    keys[4, :2] = [np.inf, 0.1]
    keys[5, 0] = -0.0
    keys[6, m - 1] = 0.0
    expected = _smallest_keys_reference(keys, 1)
    np.testing.assert_array_equal(draws._smallest_keys_packed(keys, 1), expected)
    assert expected[1, 0] == 0 and expected[2, 0] == 0 and expected[6, 0] == m - 1


@SETTINGS
@given(rows=st.lists(st.lists(st.integers(-5, 5), min_size=4, max_size=4), max_size=30), width=st.integers(0, 4))
def test_sort_rows_equals_np_sort(rows: list[list[int]], width: int) -> None:
    array = np.array(rows, dtype=np.int64).reshape(len(rows), 4)[:, :width].copy()
    np.testing.assert_array_equal(draws._sort_rows(array.copy()), np.sort(array, axis=1))


@SETTINGS
@given(chunks=st.lists(st.lists(st.integers(0, 40), max_size=50), max_size=6), dense_keys=st.sampled_from((0, 20, 64)))
def test_memo_gives_each_key_its_value_once(chunks: list[list[int]], dense_keys: int) -> None:
    memo = draws.Memo(dense_keys)
    made: list[int] = []
    handed_out = []
    for chunk in chunks:
        keys = np.array(chunk, dtype=np.int64)
        slots = memo.slots(keys, lambda new: (made.extend(new.tolist()), [f"v{key}" for key in new.tolist()])[1])
        handed_out.append((keys, slots))
    if dense_keys in (0, 64):  # one lookup structure: each key made once
        assert len(made) == len(set(made))
    for keys, slots in handed_out:  # still valid after later chunks grew the values
        assert [memo.values[slot] for slot in slots.tolist()] == [f"v{key}" for key in keys.tolist()]


def _subsets_reference(
    seed: int | str, field: str, start: int, stop: int, pool: list[str], lo: int, hi: int, weights: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, list[tuple[str, ...]]]:
    """The definition: the chunk's uniforms at once, keys, argpartition + argsort, np.sort, tuples a row."""
    hi = min(hi, len(pool))
    lo = min(lo, hi)
    sizes = draws._draw(seed, f"{field}:size", start, stop, lambda rng, n: rng.integers(lo, hi + 1, size=n), "ns")
    uniforms = draws._draw(seed, f"{field}:order", start, stop, lambda rng, n: rng.random((n, len(pool))), "ns")
    keys = uniforms if weights is None else -np.log1p(-uniforms) / weights
    chosen = _smallest_keys_reference(keys, hi)
    rows = np.sort(np.where(np.arange(hi)[None, :] < sizes[:, None], chosen, len(pool)), axis=1)
    return rows, sizes, [tuple(pool[i] for i in row if i < len(pool)) for row in rows.tolist()]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.one_of(st.integers(0, 10**6), st.text(max_size=5)),
    first=st.integers(0, 3),
    count=st.integers(1, 2500),
    pool=st.one_of(
        st.just(list(INTEREST_CATALOGUE)),
        st.just(list(BEHAVIORAL_BIASES)),
        st.lists(st.sampled_from(INTEREST_CATALOGUE), min_size=1, max_size=6, unique=True).map(sorted),
    ),
    bounds=st.sampled_from(((1, 3), (1, 2), (0, 5), (2, 2))),
    weighted=st.booleans(),
)
def test_subsets_equal_the_whole_chunk_definition(
    seed: int | str, first: int, count: int, pool: list[str], bounds: tuple[int, int], weighted: bool
) -> None:
    start = first * draws.BLOCK
    stop = start + count
    weights = None
    if weighted:
        weights = np.random.default_rng(count).choice([0.1, 0.5, 1.0, 2.5], size=(count, len(pool)))
    memo = draws.Memo()
    fast = draws._subsets(seed, "f", start, stop, pool, *bounds, memo, namespace="ns", weights=weights)
    rows, sizes, values = _subsets_reference(seed, "f", start, stop, pool, *bounds, weights)
    np.testing.assert_array_equal(fast.rows, rows)
    np.testing.assert_array_equal(fast.sizes, sizes)
    assert [fast.column.values[code] for code in fast.column.codes.tolist()] == values
