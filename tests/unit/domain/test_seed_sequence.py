"""`pcg64_seed_words` is numpy's `SeedSequence(entropy).generate_state(4, np.uint64)`, seed for seed (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azt3knet_pipeline.domain.seed_sequence import pcg64_seed_words

ENTROPY = st.one_of(
    st.integers(0, 2**128 - 1),
    st.sampled_from((0, 1, 2**32 - 1, 2**32, 2**64 - 1, 2**64, 2**96, 2**127, 2**128 - 1)),
    st.integers(0, 2**40),  # short entropies: fewer words than the pool
)


@settings(max_examples=200, deadline=None)
@given(entropies=st.lists(ENTROPY, max_size=40))
def test_seed_words_equal_numpy_seed_sequence(entropies: list[int]) -> None:
    words = pcg64_seed_words(entropies)
    assert words.shape == (len(entropies), 4) and words.dtype == np.uint64
    for row, entropy in zip(words, entropies, strict=True):
        np.testing.assert_array_equal(row, np.random.SeedSequence(entropy).generate_state(4, np.uint64))
        assert row.flags.c_contiguous


def test_seed_words_refuse_entropy_outside_128_bits() -> None:
    for bad in (-1, 2**128):
        with pytest.raises(ValueError):
            pcg64_seed_words([bad])
