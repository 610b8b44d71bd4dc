"""Generation: deterministic, prefix-stable, unique addresses, constraints of the spec respected."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azt3knet_pipeline.domain.generation import AGENT_ID_NAMESPACE, derive_seed, generate_population
from azt3knet_pipeline.domain.models import AgentProfile, PopulationSpec, canonical_json
from azt3knet_pipeline.domain.text import offline_bio, offline_bios

LOCAL_PART_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
FORBIDDEN_FIELDS = {"ssn", "passport", "national_id", "iban", "credit_card", "tax_id", "bank_account"}


def spec(**overrides: object) -> PopulationSpec:
    return PopulationSpec.model_validate({"count": 200, "seed": 42, "country": "ES", **overrides})


def test_same_spec_same_bytes() -> None:
    first = generate_population(spec())
    second = generate_population(spec())
    assert first.canonical_json == second.canonical_json
    assert first.content_hash == second.content_hash


def test_different_seed_or_key_changes_population() -> None:
    base = generate_population(spec())
    assert generate_population(spec(seed=43)).content_hash != base.content_hash
    assert generate_population(spec(), "other-key").content_hash != base.content_hash


def test_derive_seed_separates_namespaces_fields_and_types() -> None:
    values = {
        derive_seed(42, "ns", 0, "age"),
        derive_seed("42", "ns", 0, "age"),
        derive_seed(42, "ns", 1, "age"),
        derive_seed(42, "ns", 0, "city"),
        derive_seed(42, "other", 0, "age"),
    }
    assert len(values) == 5


@settings(max_examples=15, deadline=None)
@given(small=st.integers(min_value=1, max_value=60), extra=st.integers(min_value=1, max_value=2500))
def test_growing_a_population_keeps_existing_agents(small: int, extra: int) -> None:
    a = generate_population(spec(count=small), "k").records()
    b = generate_population(spec(count=small + extra), "k").records()[:small]
    assert a == b


def test_addresses_unique_and_valid_even_with_many_collisions() -> None:
    # A single city and a small name table force collisions; they must resolve deterministically.
    population = generate_population(spec(count=5000, country="IS", gender="female"))
    frame = population.frame
    assert frame["username"].is_unique
    assert frame["email_local_part"].is_unique
    assert all(LOCAL_PART_RE.fullmatch(value) for value in frame["email_local_part"])
    assert all(len(value) <= 30 for value in frame["username"])


def test_constraints_of_the_spec_hold() -> None:
    population = generate_population(
        spec(
            count=300,
            gender="non_binary",
            city="Sevilla",
            age_range="20-30",
            interests=["jazz", "hiking", "chess"],
        )
    )
    profiles = population.profiles()
    assert {p.gender for p in profiles} == {"non_binary"}
    assert {p.city for p in profiles} == {"Sevilla"}
    assert all(20 <= p.age <= 30 and p.birth_year == 2026 - p.age for p in profiles)
    assert all(p.interests and set(p.interests) <= {"jazz", "hiking", "chess"} for p in profiles)
    assert all(p.synthetic is True and "(synthetic persona)" in p.bio for p in profiles)
    assert {p.locale for p in profiles} == {"es_ES"} and {p.timezone for p in profiles} == {"Europe/Madrid"}
    canary = generate_population(spec(count=5, city="Las Palmas")).profiles()
    assert {p.timezone for p in canary} == {"Atlantic/Canary"}


def test_mixed_population_has_every_gender_and_plausible_names() -> None:
    profiles = generate_population(spec(count=2000)).profiles()
    genders = {p.gender for p in profiles}
    assert genders == {"female", "male", "non_binary"}
    assert len({p.given_name for p in profiles}) > 200
    assert all(p.display_name == f"{p.given_name} {p.family_name}" for p in profiles)


def test_profile_model_has_no_identifier_fields() -> None:
    assert not FORBIDDEN_FIELDS & set(AgentProfile.model_fields)
    assert AgentProfile.model_fields["synthetic"].default is True


def test_non_latin_locale_still_gets_ascii_addresses() -> None:
    frame = generate_population(spec(count=100, country="JP")).frame
    assert frame["email_local_part"].map(lambda s: s.isascii()).all()
    assert frame["email_local_part"].is_unique


def test_vectorised_bios_and_ids_match_their_single_row_definitions() -> None:
    frame = generate_population(spec(count=500, interests=["jazz", "tea", "film"]), "k").frame
    bio_seeds = [derive_seed(1, "t", i, "bio") % 2**62 for i in range(500)]

    vector = offline_bios(
        list(frame.given_name),
        list(frame.age),
        list(frame.city),
        list(frame.interests),
        list(frame.tone),
        bio_seeds,
    )
    single = [
        offline_bio(r.given_name, r.age, r.city, r.interests, r.tone, s)
        for r, s in zip(frame.itertuples(), bio_seeds, strict=True)
    ]
    assert vector == single
    assert list(frame.id[:50]) == [str(uuid.uuid5(AGENT_ID_NAMESPACE, f"k:{i}")) for i in range(50)]


@pytest.mark.parametrize(
    "overrides",
    [{}, {"country": "JP"}, {"city": 'Quote "City" \\ back', "interests": ["jazz"]}, {"country": "GR", "count": 50}],
)
def test_fast_canonical_json_equals_the_stdlib_definition(overrides: dict) -> None:
    population = generate_population(spec(count=300, **{k: v for k, v in overrides.items() if k != "count"}))
    assert population.canonical_json == canonical_json(population.records())
