"""Real materializations of the population partitions in a real (temporary) Dagster instance."""

from __future__ import annotations

import helpers_populations as populations
import pytest

from azt3knet_pipeline.domain.generation import generate_population
from azt3knet_pipeline.domain.models import PopulationSpec
from azt3knet_pipeline.orchestration.instance import get_instance
from azt3knet_pipeline.settings import get_settings

SPEC = PopulationSpec(count=40, seed=7, country="MX", interests=["jazz", "tea"])


def test_populate_job_twice_yields_the_same_content_hash() -> None:
    populations.register_population(SPEC, "seed-7")
    first = populations.materialize_population("seed-7", job_name="profiles_job")
    second = populations.materialize_population("seed-7", job_name="profiles_job")
    assert first.success and second.success, (first.error, second.error)
    assert first.run_id != second.run_id
    h1 = first.metadata["agent_profiles"]["content_hash"]
    assert h1 == second.metadata["agent_profiles"]["content_hash"]
    assert h1 == generate_population(SPEC.with_version(2), "seed-7").content_hash  # new ⇒ latest generator
    assert first.metadata["agent_profiles"]["row_count"] == 40
    instance = get_instance(get_settings())
    assert instance.get_run_by_id(second.run_id).tags["dagster/partition"] == "seed-7"
    assert "seed-7" in instance.get_dynamic_partitions("population")
    described = populations.describe_population("seed-7")
    assert described["assets"]["agent_profiles"]["run_id"] == second.run_id


def test_ui_launch_registers_from_run_config() -> None:
    instance = get_instance(get_settings())
    instance.add_dynamic_partitions("population", ["ui-pop"])
    config = {"ops": {"population_spec": {"config": {"count": 5, "seed": "9", "country": "PT"}}}}
    outcome = populations.materialize_population("ui-pop", job_name="profiles_job", run_config=config)
    assert outcome.success, outcome.error
    registered = populations.open_store().require_population("ui-pop")
    assert registered.spec == PopulationSpec(count=5, seed=9, country="PT", generator_version=2)
    # Same config again (or a subset of it) is fine.
    assert populations.materialize_population("ui-pop", job_name="profiles_job", run_config=config).success


def test_contradicting_run_config_fails_with_a_clear_message() -> None:
    populations.register_population(SPEC, "seed-7")
    config = {"ops": {"population_spec": {"config": {"count": 41}}}}
    outcome = populations.materialize_population("seed-7", job_name="profiles_job", run_config=config)
    assert not outcome.success
    assert "contradicts the spec registered" in outcome.error and "count" in outcome.error
    assert populations.open_store().require_population("seed-7").spec.count == 40


@pytest.mark.parametrize(
    ("config", "message"),
    [({}, "no spec is registered"), ({"count": 0, "seed": "1", "country": "ES"}, "count")],
)
def test_unregistered_partition_without_valid_config_fails(config: dict, message: str) -> None:
    instance = get_instance(get_settings())
    instance.add_dynamic_partitions("population", ["orphan"])
    run_config = {"ops": {"population_spec": {"config": config}}} if config else None
    outcome = populations.materialize_population("orphan", job_name="profiles_job", run_config=run_config)
    assert not outcome.success and message in outcome.error
    assert populations.open_store().get_population("orphan") is None
