"""The Dagster definitions load, every job resolves, and every public name in `names.py` exists in them.

Names are classified by their constant's suffix (`*_JOB`, `*_OP`, `*_SCHEDULE`, `*_SENSOR`), so a name added to
`names.py` is checked here without editing this file.
"""

from __future__ import annotations

import pytest
from dagster import AssetKey, DynamicPartitionsDefinition

from azt3knet_pipeline import names
from azt3knet_pipeline.definitions import defs

PUBLIC = {name: value for name, value in vars(names).items() if name.isupper() and isinstance(value, str)}
JOBS = sorted(value for name, value in PUBLIC.items() if name.endswith("_JOB"))
SCHEDULES = sorted(value for name, value in PUBLIC.items() if name.endswith("_SCHEDULE"))
SENSORS = sorted(value for name, value in PUBLIC.items() if name.endswith("_SENSOR"))
OPS = sorted(value for name, value in PUBLIC.items() if name.endswith("_OP"))


def op_names(repository) -> set[str]:
    """The ops (nodes) of every job, assets' ops included."""
    return {node.name for job in repository.get_all_jobs() for node in job.graph.node_defs}


@pytest.fixture(scope="module")
def repository():
    return defs.get_repository_def()


def test_definitions_load_and_validate() -> None:
    defs.validate_loadable(defs)


def test_every_job_of_the_definitions_resolves_and_is_named_in_names(repository) -> None:
    job_names = {job.name for job in repository.get_all_jobs() if not job.name.startswith("__")}
    assert job_names == set(JOBS)
    for name in job_names:
        assert defs.resolve_job_def(name).name == name


@pytest.mark.parametrize("job_name", JOBS)
def test_each_job_of_names_resolves(job_name: str) -> None:
    job = defs.resolve_job_def(job_name)
    assert job.name == job_name
    assert job.graph.node_defs, f"{job_name} runs nothing"


@pytest.mark.parametrize("op_name", OPS)
def test_each_op_of_names_is_a_node_of_a_job(repository, op_name: str) -> None:
    assert op_name in op_names(repository)


@pytest.mark.parametrize("schedule_name", SCHEDULES)
def test_each_schedule_of_names_exists_and_targets_a_named_job(repository, schedule_name: str) -> None:
    schedule = repository.get_schedule_def(schedule_name)
    assert schedule.job_name in JOBS


@pytest.mark.parametrize("sensor_name", SENSORS)
def test_each_sensor_of_names_exists(repository, sensor_name: str) -> None:
    assert repository.get_sensor_def(sensor_name).name == sensor_name


def test_asset_keys_and_checks_of_names_are_the_graph(repository) -> None:
    graph = repository.asset_graph
    asset_keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    check_names = {check.name for check in graph.asset_check_keys}
    named_assets = {names.POPULATION_SPEC, names.AGENT_PROFILES, names.MAILBOXES, names.DNS_RECORDS}
    named_assets.add(names.CREDENTIAL_EXPORT)
    assert asset_keys == named_assets
    assert check_names == {names.DNS_RECORDS_IN_SYNC, names.MAILBOXES_ACCEPT_LOGIN}
    # The population graph is one group, partitioned by the one dynamic partitions definition.
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name == names.POPULATION_GROUP
        partitions = node.partitions_def
        assert isinstance(partitions, DynamicPartitionsDefinition)
        assert partitions.name == names.POPULATION_PARTITIONS_NAME
    assert graph.get(AssetKey(names.CREDENTIAL_EXPORT)).parent_keys >= {AssetKey(names.MAILBOXES)}


def test_every_string_in_names_is_used_by_the_definitions(repository) -> None:
    """No stale name: each constant is a job, op, schedule, sensor, asset key, check, group or the partitions."""
    graph = repository.asset_graph
    known = set(JOBS) | set(SCHEDULES) | set(SENSORS) | (set(OPS) & op_names(repository))
    known |= {key.to_user_string() for key in graph.get_all_asset_keys()}
    known |= {check.name for check in graph.asset_check_keys}
    known |= {graph.get(key).group_name for key in graph.get_all_asset_keys()}
    known |= {names.POPULATION_PARTITIONS_NAME}
    assert set(PUBLIC.values()) <= known, sorted(set(PUBLIC.values()) - known)
