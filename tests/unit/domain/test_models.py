"""PopulationSpec and key validation: every invalid input gets a clear message naming the field and rule."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from azt3knet_pipeline.domain.models import PopulationSpec, validate_population_key
from azt3knet_pipeline.errors import describe_validation_error

BASE = {"count": 10, "seed": 42, "country": "ES"}


@pytest.mark.parametrize(
    ("override", "field", "fragment"),
    [
        ({"count": 0}, "count", "greater than or equal to 1"),
        ({"count": 100_001}, "count", "above the maximum 100000"),
        ({"age_range": "10-5"}, "age_range", "greater than or equal to 13"),
        ({"age_range": "40-20"}, "age_range", "lower bound 40 is above upper bound 20"),
        ({"age_range": "18-95"}, "age_range", "less than or equal to 90"),
        ({"country": "XX"}, "country", "not an ISO 3166-1 alpha-2 code"),
        ({"country": "Spain"}, "country", "not an ISO 3166-1 alpha-2 code"),
        ({"interests": []}, "interests", "non-empty list"),
        ({"interests": ["Rock Music"]}, "interests", "short slug"),
        ({"gender": "robot"}, "gender", "female"),
        ({"seed": True}, "seed", "not a boolean"),
        ({"seed": "has space"}, "seed", "1-64 chars"),
    ],
)
def test_invalid_specs_name_field_and_rule(override: dict, field: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        PopulationSpec.model_validate({**BASE, **override})
    line = describe_validation_error(caught.value)
    assert field in line
    assert fragment in line
    assert "\n" not in line


def test_max_population_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZT3KNET_MAX_POPULATION", "50")
    with pytest.raises(ValidationError, match="above the maximum 50"):
        PopulationSpec.model_validate({**BASE, "count": 51})
    assert PopulationSpec.model_validate({**BASE, "count": 50}).count == 50


@pytest.mark.parametrize("key", ["Bad_Key", "-lead", "trail-", "", "a" * 64, "with.dot", "ünï"])
def test_bad_keys_are_rejected(key: str) -> None:
    with pytest.raises(ValueError, match="not a DNS label"):
        validate_population_key(key)


@pytest.mark.parametrize("key", ["seed-42", "a", "x" * 63, "pop-2026-eu"])
def test_good_keys_pass(key: str) -> None:
    assert validate_population_key(key) == key


def test_equal_specs_hash_equal_whatever_the_input_form() -> None:
    a = PopulationSpec.model_validate({**BASE, "interests": "jazz,hiking", "country": "es", "age_range": "18-65"})
    b = PopulationSpec.model_validate({**BASE, "interests": ["hiking", "jazz", "jazz"], "seed": "42"})
    assert a.spec_hash() == b.spec_hash()
    assert a.canonical()["interests"] == ["hiking", "jazz"]
    assert PopulationSpec.model_validate({**BASE, "count": 11}).spec_hash() != a.spec_hash()


def test_default_key_is_derived_from_seed() -> None:
    assert PopulationSpec.model_validate(BASE).default_key() == "seed-42"
    assert PopulationSpec.model_validate({**BASE, "seed": "My_Run.2"}).default_key() == "seed-my-run-2"
    assert PopulationSpec.model_validate({**BASE, "seed": -7}).default_key() == "seed-7"


def test_specs_are_frozen() -> None:
    spec = PopulationSpec.model_validate(BASE)
    with pytest.raises(ValidationError):
        spec.count = 3  # type: ignore[misc]


@pytest.mark.parametrize("key", ["autoconfig", "autodiscover", "mail"])
def test_keys_the_zone_uses_are_reserved(key: str) -> None:
    with pytest.raises(ValueError, match="reserved"):
        validate_population_key(key)
