"""The assets take their settings from resources: given explicitly to `materialize`, they win over the
environment; a run missing a setting one of its steps needs fails before anything is registered."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize

from azt3knet_pipeline.defs.assets.mailboxes import mailboxes
from azt3knet_pipeline.defs.assets.population import agent_profiles, population_spec
from azt3knet_pipeline.defs.resources import SettingsResource, pipeline_resources
from azt3knet_pipeline.names import POPULATION_PARTITIONS_NAME, POPULATION_SPEC
from azt3knet_pipeline.orchestration.results import outcome_of_run
from azt3knet_pipeline.store.repository import Store

SPEC_CONFIG = {"ops": {POPULATION_SPEC: {"config": {"count": 3, "seed": "5", "country": "ES"}}}}


def _instance(key: str) -> DagsterInstance:
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(POPULATION_PARTITIONS_NAME, [key])
    return instance


def test_resources_given_to_materialize_win_over_the_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'given.db'}"
    settings = SettingsResource(database_url=url, home=str(tmp_path / "home"))
    result = materialize(
        [population_spec, agent_profiles],
        resources=pipeline_resources(settings),
        partition_key="given",
        run_config=SPEC_CONFIG,
        instance=_instance("given"),
    )
    assert result.success
    assert Store.open(url).require_population("given").spec.count == 3
    (profiles,) = result.asset_materializations_for_node("agent_profiles")
    png = Path(str(profiles.metadata["report_png"].value))
    assert png.is_relative_to(tmp_path / "home") and png.exists()  # the data directory given, not $AZT3KNET_HOME


def test_a_run_whose_steps_need_a_missing_key_registers_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SECRET_KEY_FOR_KV_ENC")
    url = f"sqlite:///{tmp_path / 'given.db'}"
    settings = SettingsResource(database_url=url, home=str(tmp_path / "home"), mailcow_api_key="set")
    instance = _instance("no-key")
    result = materialize(
        [population_spec, agent_profiles, mailboxes],
        resources=pipeline_resources(settings),
        partition_key="no-key",
        run_config=SPEC_CONFIG,
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    # In process, resources start before the first step; the outcome the CLI prints names the variable.
    outcome = outcome_of_run(instance, result.run_id, key="no-key", job_name="__ephemeral_asset_job__")
    assert outcome.failures, outcome
    assert outcome.failures[0].cause == (
        "ConfigurationError: SECRET_KEY_FOR_KV_ENC is not set (a Fernet key: see .env.example); "
        "this run needs it for mailboxes"
    )
    assert not result.get_asset_materialization_events()
    assert Store.open(url).get_population("no-key") is None
