"""The project store on real SQLite and real PostgreSQL (database at 127.0.0.1:5432)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from azt3knet_pipeline.domain.models import PopulationSpec
from azt3knet_pipeline.errors import DecryptionError, KeyConfigError, PopulationConflict, PopulationNotFound
from azt3knet_pipeline.store.crypto import SecretBox
from azt3knet_pipeline.store.repository import Store

SPEC = PopulationSpec(count=10, seed=42, country="ES")


@pytest.fixture
def store(store_url: str):
    opened = Store.open(store_url)
    yield opened
    opened.dispose()


def test_register_same_spec_is_noop_and_different_spec_conflicts(store: Store) -> None:
    population, created = store.register_population("seed-42", SPEC)
    assert created and population.status == "registered" and population.spec == SPEC
    again, created_again = store.register_population("seed-42", PopulationSpec(count=10, seed="42", country="es"))
    assert not created_again and again.spec_hash == population.spec_hash
    with pytest.raises(PopulationConflict, match="different spec"):
        store.register_population("seed-42", SPEC.model_copy(update={"count": 11}))
    assert store.count_populations() == 1
    assert store.require_population("seed-42").spec.count == 10


def test_bad_key_writes_nothing(store: Store) -> None:
    with pytest.raises(ValueError, match="DNS label"):
        store.register_population("Not A Label", SPEC)
    assert store.list_populations() == []
    with pytest.raises(PopulationNotFound):
        store.require_population("nope")


def test_migrations_are_idempotent(store_url: str) -> None:
    first = Store.open(store_url)
    first.register_population("seed-42", SPEC)
    second = Store.open(store_url)  # migrates again: nothing lost
    assert second.require_population("seed-42").spec == SPEC
    first.dispose()
    second.dispose()


def test_derivation_secret_survives_key_rotation(store: Store) -> None:
    old_key = Fernet.generate_key().decode()
    box = SecretBox.from_setting(old_key)
    secret = store.derivation_secret(box)
    assert len(secret) == 32 and store.derivation_secret(box) == secret
    new_key = Fernet.generate_key().decode()
    rotated_box = SecretBox.from_setting(f"{new_key},{old_key}")
    rotation = store.rotate_encryption(rotated_box)
    assert rotation.applied and rotation.counts["kv_secret"] == 1 and rotation.under_older_keys == 1
    assert store.derivation_secret(SecretBox.from_setting(new_key)) == secret
    with pytest.raises(DecryptionError):
        store.derivation_secret(SecretBox.from_setting(old_key))


def test_llm_cache_first_writer_wins_and_audit_log(store: Store) -> None:
    store.llm_cache_put("k" * 64, "m", "bio", "first")
    store.llm_cache_put("k" * 64, "m", "bio", "second")
    assert store.llm_cache_get("k" * 64) == "first"
    assert store.llm_cache_get("x" * 64) is None
    store.audit("cli", "population.register", "seed-42", "ok", {"count": 10})
    entries = store.audit_entries(target="seed-42")
    assert [(e.actor, e.action, e.outcome) for e in entries] == [("cli", "population.register", "ok")]


@pytest.mark.parametrize("value", [None, "", "not-a-key", "abc,def"])
def test_missing_or_malformed_key_is_a_clear_error(value: str | None) -> None:
    with pytest.raises(KeyConfigError) as caught:
        SecretBox.from_setting(value)
    assert "SECRET_KEY_FOR_KV_ENC" in str(caught.value)
    if value:
        assert value not in str(caught.value)
