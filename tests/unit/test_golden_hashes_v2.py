"""Generator versions: v2 goldens, and v1 populations staying v1 while the same specs registered anew get v2.

The v1 goldens live, unchanged, in test_golden_hashes.py. The v2 constants below were computed when v2 was
introduced (commit "Generator v2: ...") and are hard-coded on purpose: a registered v2 population must
regenerate byte for byte too. A change to v2's algorithm or data (domain/data) is a version 3.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from test_golden_hashes import GOLDEN  # tests/unit is on sys.path (rootdir-relative, no package)

from azt3knet_pipeline.domain.generation import generate_population
from azt3knet_pipeline.domain.models import LATEST_GENERATOR_VERSION, PopulationSpec, canonical_json, spec_to_register

GOLDEN_V2: dict[str, str] = {
    "es-default": "83e422e37b1d67ef05f493f11b1f3a23bc00e5d93ff7db6d62d90f5356dfc407",
    "us-ages-blocks": "4b16d03181dd4b1c76b74096e28e1e23c046e85fd694ce6d881e38648fbbfe15",
    "jp-string-seed": "ba73b222c7a5d5491b4b095c87e369566019c2332c80325008741d9a2eea32be",
    "de-female-interests": "2add0217d378e9682edcd0c3121c8a24ac6287294f0beafef43872924a8c16b7",
    "fr-det-check": "9d3bdf6468c3ecdc9bbccb82f520b3238d5890310d8c2b9d0870ebb65496ba8c",
    "in-nonbinary-wide": "4d05fff86d75c77de0120796c7d97d8b98905792d6cf480b27b902721ed59435",
    "br-city-key": "07cc525f248b665d8a0fbf69ffd73d095bc846e7fa0996bebb0ad188c840dd8d",
    "ru-single-interest": "04978e1a4ade491799301d5561c7d49d7970d52e3a514be5efd0da16dfe0c7a7",
    "gr-male-refyear": "b2a427ba8bf2a771e42d211ff98c2c6727b7242fbc1d352488eabbce0670528f",
    "cn-collisions": "4b3b0884a10429fa5acee5acbd2909de5f7c4c6d4e1d0a799ee62640c2ff6a36",
}
# Specs only v2 has goldens for: a female Japanese population, a Yoruba locale, a named city in the US.
EXTRA_V2: dict[str, tuple[dict[str, Any], str | None, str]] = {
    "ja-v2-female": (
        {"count": 700, "seed": "kyoto", "country": "JP", "gender": "female"},
        None,
        "677b95f1386650137749a77dc9b51eea06b9fc81e311d72bf5d28ad6d0cf6e6c",
    ),
    "ng-yoruba-v2": (
        {"count": 400, "seed": 8, "country": "NG", "locale": "yo_NG"},
        None,
        "8f54762e4d477d6443b29e45355749fcf9aafb8f730ad77515d2e532df56b403",
    ),
    "us-city-v2": (
        {"count": 1100, "seed": 4, "country": "US", "city": "Chicago", "age_range": "13-90"},
        "chi",
        "92f2975e72d6a372325e0203f716fd3682ce4585da2acd6959171ad375da498f",
    ),
}


@pytest.mark.parametrize("name", sorted(GOLDEN_V2))
def test_v2_content_hash_is_golden(name: str) -> None:
    fields, key, _ = GOLDEN[name]
    spec = PopulationSpec.model_validate({**fields, "generator_version": 2})
    assert generate_population(spec, key).content_hash == GOLDEN_V2[name]


@pytest.mark.parametrize("name", sorted(EXTRA_V2))
def test_v2_extra_specs_are_golden(name: str) -> None:
    fields, key, expected = EXTRA_V2[name]
    generated = generate_population(PopulationSpec.model_validate({**fields, "generator_version": 2}), key)
    assert generated.content_hash == expected
    assert hashlib.sha256(canonical_json(generated.records()).encode()).hexdigest() == expected


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_an_unversioned_spec_is_v1_and_registers_anew_as_v2(name: str) -> None:
    fields, key, v1_hash = GOLDEN[name]
    stored = PopulationSpec.model_validate(fields)  # a spec as registered before versions existed
    assert stored.version == 1 and "generator_version" not in stored.canonical()
    assert generate_population(stored, key).content_hash == v1_hash
    if name == "es-locale-override":  # ca_ES is no locale Faker ships for ES: v2 refuses it, v1 never will
        with pytest.raises(ValueError, match="not supported for country ES; choose one of: es_ES"):
            spec_to_register(stored, None)
        return
    new = spec_to_register(stored, None)
    assert new.version == LATEST_GENERATOR_VERSION == 2
    assert new.canonical()["generator_version"] == 2 and new.spec_hash() != stored.spec_hash()
    assert generate_population(new, key).content_hash == GOLDEN_V2[name]


def test_version_one_stated_or_absent_is_the_same_spec() -> None:
    absent = PopulationSpec(count=3, seed=1, country="ES")
    stated = PopulationSpec(count=3, seed=1, country="ES", generator_version=1)
    assert absent.spec_hash() == stated.spec_hash() and absent.version == stated.version == 1


def test_unknown_version_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"generator_version 9 is unknown \(choose one of 1, 2\)"):
        PopulationSpec(count=3, seed=1, country="ES", generator_version=9)
