"""The population report's own arithmetic, and what it says about v1 against v2."""

from __future__ import annotations

import numpy as np

from azt3knet_pipeline.domain.generation import stream_population
from azt3knet_pipeline.domain.models import PopulationSpec
from azt3knet_pipeline.domain.report import describe, is_placeholder, spearman


def test_spearman_matches_the_textbook_values() -> None:
    assert spearman(np.array([3.0, 1.0, 2.0]), np.array([30.0, 10.0, 20.0])) == 1.0
    assert spearman(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])) == -1.0
    # Ties take average ranks (scipy.stats.spearmanr gives 0.9486832980505138 here).
    assert abs(spearman(np.array([1.0, 2.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0, 4.0])) - 0.9486832980505138) < 1e-12
    assert np.isnan(spearman(np.array([1.0, 1.0, 1.0]), np.array([1.0, 2.0, 3.0])))


def test_placeholders_are_v1s_fallbacks_only() -> None:
    assert is_placeholder("agent.synth30") and is_placeholder("a.synth66") and is_placeholder("agent.k1990")
    assert not is_placeholder("sato.hiroshi") and not is_placeholder("agentha.k1990")


def test_the_report_shows_what_v2_fixed() -> None:
    """The issue's measurement: v1 Japanese addresses are placeholders and ages flat; v2 fixes both."""
    v1 = PopulationSpec(count=3000, seed="r", country="JP")
    v2 = v1.with_version(2)
    old = describe(v1, "r", stream_population(v1, "r").chunks())
    new = describe(v2, "r", stream_population(v2, "r").chunks())
    assert old.generator_version == 1 and new.generator_version == 2
    assert old.addresses_from_names < 0.05 and new.addresses_from_names == 1.0
    assert new.addresses_valid == 1.0 and new.addresses_unique
    assert new.age_tv_distance < old.age_tv_distance / 2
    assert "generator v2" in new.markdown() and "| Tokyo | Asia/Tokyo |" in new.markdown()
    assert new.bio_language == "ja" and not new.bio_language_fallback
