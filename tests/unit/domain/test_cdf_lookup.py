"""`CdfLookup` (a guide table of 2**14 slices) == `cdf.searchsorted(u, side="right")` (hypothesis), uniforms on
slice boundaries, equal and zero weights, NaN and values outside [0, 1) included."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from azt3knet_pipeline.domain.cdf_lookup import _SLICES, CdfLookup

WEIGHTS = st.lists(st.sampled_from((0.0, 1e-12, 1e-6, 0.01, 0.3, 1.0, 7.0)), min_size=1, max_size=3000)


@settings(max_examples=150, deadline=None)
@given(
    weights=WEIGHTS.filter(lambda w: sum(w) > 0),
    seed=st.integers(0, 2**32),
    count=st.integers(0, 3000),
    odd=st.lists(st.sampled_from((0.0, 1.0, -0.0, -1e-300, 2.0, np.nan, np.inf)), max_size=2),
)
def test_lookup_equals_searchsorted(weights: list[float], seed: int, count: int, odd: list[float]) -> None:
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(weights) / np.sum(weights)
    uniforms = rng.random(count)
    # Slice boundaries and the table's own values, just below and at them.
    edges = np.concatenate([rng.integers(0, _SLICES, size=20) / _SLICES, cdf[cdf < 1.0]])
    uniforms = np.concatenate([uniforms, edges, np.nextafter(edges, -1.0).clip(0.0)])
    lookup = CdfLookup(cdf)
    bounds = np.arange(_SLICES + 1) / _SLICES  # the guide: the answer at each slice's lower end
    np.testing.assert_array_equal(lookup._guide, cdf.searchsorted(bounds, side="right"))
    np.testing.assert_array_equal(lookup(uniforms), cdf.searchsorted(uniforms, side="right"))
    with_odd = np.concatenate([uniforms, odd])
    np.testing.assert_array_equal(lookup(with_odd), cdf.searchsorted(with_odd, side="right"))


def test_an_unsorted_table_is_searched_as_it_is() -> None:
    cdf = np.array([0.5, 0.2, 1.0])
    uniforms = np.random.default_rng(1).random(1000)
    np.testing.assert_array_equal(CdfLookup(cdf)(uniforms), cdf.searchsorted(uniforms, side="right"))
