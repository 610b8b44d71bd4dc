"""The Python API behind the CLI and the REST API: register, preview, materialize, inspect populations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dagster import DagsterInstance

from azt3knet_pipeline.dagster_home import get_instance
from azt3knet_pipeline.defs.partitions import POPULATION_PARTITIONS_NAME
from azt3knet_pipeline.domain.generation import GeneratedPopulation, generate_population
from azt3knet_pipeline.domain.models import Population, PopulationSpec, validate_population_key
from azt3knet_pipeline.settings import Settings, get_settings
from azt3knet_pipeline.store.repository import Store

QUIET_RUN_CONFIG: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class RunOutcome:
    """What one materialization of a partition did: run id, success, per-asset metadata (no secrets)."""

    key: str
    job: str
    run_id: str
    success: bool
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None


def open_store(settings: Settings | None = None) -> Store:
    settings = settings or get_settings()
    return Store.open(settings.resolved_database_url)


def preview_population(spec: PopulationSpec, key: str | None = None) -> GeneratedPopulation:
    """Generate profiles in memory only: no store, no Dagster, no network."""
    return generate_population(spec, key or spec.default_key())


def register_population(
    spec: PopulationSpec,
    key: str | None = None,
    *,
    store: Store | None = None,
    instance: DagsterInstance | None = None,
    actor: str = "cli",
) -> tuple[Population, bool]:
    """Register (spec, key) in the store and as a Dagster dynamic partition. Same spec again is a no-op."""
    settings = get_settings()
    key = validate_population_key(key or spec.default_key())
    store = store or open_store(settings)
    population, created = store.register_population(key, spec)
    instance = instance or get_instance(settings)
    if not instance.has_dynamic_partition(POPULATION_PARTITIONS_NAME, key):
        instance.add_dynamic_partitions(POPULATION_PARTITIONS_NAME, [key])
    if created:
        store.audit(actor, "population.register", key, "ok", {"spec_hash": population.spec_hash, "count": spec.count})
    return population, created


def materialize_population(
    key: str,
    *,
    job_name: str = "populate_job",
    instance: DagsterInstance | None = None,
    run_config: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
) -> RunOutcome:
    """Run `job_name` for partition `key` in the persistent instance (the run shows in the Dagster UI)."""
    from azt3knet_pipeline.definitions import defs

    instance = instance or get_instance(get_settings())
    job = defs.resolve_job_def(job_name)
    config = {**QUIET_RUN_CONFIG, **(run_config or {})}
    result = job.execute_in_process(
        instance=instance, partition_key=key, run_config=config, raise_on_error=False, tags=tags
    )
    metadata: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        metadata[materialization.asset_key.to_user_string()] = {
            name: value.value for name, value in materialization.metadata.items()
        }
    error = None
    if not result.success:
        failures = [event for event in result.all_events if event.is_step_failure]
        messages = []
        for event in failures:
            data = event.step_failure_data
            if data is not None and data.error is not None:
                messages.append(f"{event.step_key}: {data.error.message.strip()}")
        error = "; ".join(messages) or "run failed"
    return RunOutcome(key=key, job=job_name, run_id=result.run_id, success=result.success, metadata=metadata, error=error)


def describe_population(key: str, *, store: Store | None = None, instance: DagsterInstance | None = None) -> dict[str, Any]:
    """Spec, status and the latest materialization (run id, metadata) of each asset of one population."""
    from dagster import AssetKey, AssetRecordsFilter

    from azt3knet_pipeline.definitions import defs

    store = store or open_store()
    population = store.require_population(key)
    instance = instance or get_instance(get_settings())
    assets: dict[str, Any] = {}
    for asset_key in defs.resolve_asset_graph().get_all_asset_keys():
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(asset_key.path), asset_partitions=[key]), limit=1
        ).records
        if not records:
            continue
        entry = records[0].event_log_entry
        materialization = entry.asset_materialization
        assets[asset_key.to_user_string()] = {
            "run_id": entry.run_id,
            "timestamp": entry.timestamp,
            "metadata": {
                name: value.value
                for name, value in (materialization.metadata.items() if materialization else [])
                if name not in {"preview", "path"}
            },
        }
    return {
        "key": population.key,
        "status": population.status,
        "spec_hash": population.spec_hash,
        "spec": population.spec.canonical(),
        "assets": assets,
    }
