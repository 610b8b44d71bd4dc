"""`cdf.searchsorted(uniforms, side="right")` for many uniforms at once, through a guide table.

Weighted draws look each uniform up in a table of cumulative weights (names, places, age-sex cells): a binary
search a row, ~50 ns. A guide table holds, for each of 2**14 equal slices of [0, 1), the answer at both of its
ends; where the two agree (all but a few slices), that is the answer for every uniform in the slice, found
without a search. tests/unit/domain/test_cdf_lookup.py checks it against searchsorted. Pure: no I/O here.
"""

from __future__ import annotations

import numpy as np

_SLICES = 1 << 14


class CdfLookup:
    """`cdf.searchsorted(uniforms, side="right")` of one non-decreasing table, for uniforms in [0, 1) (any other
    values are searched as they are)."""

    def __init__(self, cdf: np.ndarray) -> None:
        self.cdf = np.ascontiguousarray(cdf, dtype=np.float64)
        self._sorted = bool(np.all(self.cdf[1:] >= self.cdf[:-1]))  # the guide assumes it (NaN fails it)
        if self._sorted:
            # guide[j] = #{c <= j / 2**14}: c counts from slice ceil(c * 2**14) on (exact: a power of two).
            first = np.clip(np.ceil(self.cdf * _SLICES), 0, _SLICES + 1).astype(np.intp)
            self._guide = np.cumsum(np.bincount(first, minlength=_SLICES + 2)[: _SLICES + 1])

    def __call__(self, uniforms: np.ndarray) -> np.ndarray:
        uniforms = np.asarray(uniforms, dtype=np.float64)
        # The slice of u is the floor of u * 2**14 (exact: a power of two); NaN fails both bounds.
        if not (
            self._sorted and uniforms.ndim == 1 and len(uniforms) and uniforms.min() >= 0.0 and uniforms.max() < 1.0
        ):
            return self.cdf.searchsorted(uniforms, side="right")
        at = (uniforms * _SLICES).astype(np.intp)
        found = self._guide[at]
        unsure = np.flatnonzero(found != self._guide[at + 1])
        if len(unsure):
            found[unsure] = self.cdf.searchsorted(uniforms[unsure], side="right")
        return found
