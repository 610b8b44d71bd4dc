"""The Python API behind the CLI and the REST API: register, preview, materialize, inspect populations."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from azt3knet_pipeline.domain.generation import GeneratedPopulation, generate_population
from azt3knet_pipeline.domain.models import Population, PopulationSpec, spec_to_register, validate_population_key
from azt3knet_pipeline.settings import Settings, get_settings
from azt3knet_pipeline.store.repository import Store

if TYPE_CHECKING:
    from dagster import DagsterInstance

# Dagster (about 1.3 s to import) is imported inside the functions that run or read it, so commands that
# never touch Dagster (`populations list`, `plan`, previews) do not pay for it.

QUIET_RUN_CONFIG: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def adopt_domain_run_config(adopt_domain: bool) -> dict[str, Any] | None:
    """Run config that lets the mailboxes asset adopt (tag) an existing mail domain azt3knet did not create."""
    return {"ops": {"mailboxes": {"config": {"adopt_domain": True}}}} if adopt_domain else None


@dataclass(frozen=True)
class StepFailure:
    """One failed step: its key, the cause in one line (exception class and message), the full trace."""

    step: str
    cause: str
    trace: str


@dataclass
class RunOutcome:
    """What one materialization of a partition did: run id, success, per-asset metadata (no secrets)."""

    key: str
    job: str
    run_id: str
    success: bool
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None
    failures: list[StepFailure] = field(default_factory=list)


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
    population, created = store.register_population(key, spec_to_register(spec, store.get_population(key)))
    ensure_partition(key, instance=instance)
    if created:
        store.audit(actor, "population.register", key, "ok", {"spec_hash": population.spec_hash, "count": spec.count})
    return population, created


def ensure_partition(key: str, *, instance: DagsterInstance | None = None) -> None:
    """The population's Dagster partition exists (re-added for a registered population whose Dagster storage
    was lost or reset: the store is the record of which populations exist)."""
    from azt3knet_pipeline.dagster_home import get_instance
    from azt3knet_pipeline.defs.partitions import POPULATION_PARTITIONS_NAME

    instance = instance or get_instance(get_settings())
    if not instance.has_dynamic_partition(POPULATION_PARTITIONS_NAME, key):
        instance.add_dynamic_partitions(POPULATION_PARTITIONS_NAME, [key])


def materialize_population(
    key: str,
    *,
    job_name: str = "populate_job",
    instance: DagsterInstance | None = None,
    run_config: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
) -> RunOutcome:
    """Run `job_name` for partition `key` in the persistent instance (the run shows in the Dagster UI).

    Runs of this instance whose process died (kill -9, crash) are marked failed and their pool slots freed
    first, so they never block this one; this run is tagged with this process as its owner for the same reason.
    """
    from azt3knet_pipeline.dagster_home import get_instance
    from azt3knet_pipeline.definitions import defs
    from azt3knet_pipeline.services.dead_runs import owner_tags, owning_runs, reap_dead_runs

    instance = instance or get_instance(get_settings())
    reap_dead_runs(instance)
    job = defs.resolve_job_def(job_name)
    config = {**QUIET_RUN_CONFIG, **(run_config or {})}
    with owning_runs(instance):
        result = job.execute_in_process(
            instance=instance,
            partition_key=key,
            run_config=config,
            raise_on_error=False,
            tags={**owner_tags(), **(tags or {})},
        )
    metadata: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        metadata[materialization.asset_key.to_user_string()] = {
            name: value.value for name, value in materialization.metadata.items()
        }
    error = None
    failures: list[StepFailure] = []
    if not result.success:
        messages = []
        for event in result.all_events:
            data = event.step_failure_data if event.is_step_failure else None
            if data is not None and data.error is not None:
                info = data.error
                while info.cause is not None and info.cls_name == "DagsterExecutionStepExecutionError":
                    info = info.cause  # Dagster's wrapper says only "error in op X"; the cause says what
                message = info.message.strip()
                messages.append(f"{event.step_key}: {message}")
                cause = message.split(f"{info.cls_name}: ", 1)[-1] if info.cls_name else message
                if info.cls_name and info.cls_name != "Failure":  # a Failure's message is the whole story
                    cause = f"{info.cls_name}: {cause}"
                failures.append(StepFailure(str(event.step_key), cause, data.error.to_string()))
        error = "; ".join(messages) or "run failed"
    return RunOutcome(
        key=key,
        job=job_name,
        run_id=result.run_id,
        success=result.success,
        metadata=metadata,
        error=error,
        failures=failures,
    )


def describe_population(
    key: str, *, store: Store | None = None, instance: DagsterInstance | None = None
) -> dict[str, Any]:
    """Spec, status and the latest materialization (run id, metadata) of each asset of one population."""
    from dagster import AssetKey, AssetRecordsFilter

    from azt3knet_pipeline.dagster_home import get_instance
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
        "dns_pending_until": (
            population.dns_pending_until.isoformat().replace("+00:00", "Z") if population.dns_pending_until else None
        ),
        "spec_hash": population.spec_hash,
        "generator_version": population.spec.version,
        "spec": population.spec.canonical(),
        "assets": assets,
    }


def require_encryption_key(*, store: Store | None = None) -> None:
    """Fail fast, before a run starts, when SECRET_KEY_FOR_KV_ENC is missing, malformed or cannot decrypt the
    stored secrets: a one-line KeyConfigError/DecryptionError instead of a failed run full of stack traces."""
    from azt3knet_pipeline.clients.factory import secret_box

    settings = get_settings()
    box = secret_box(settings)
    (store or open_store(settings)).derivation_secret(box)


def populate(
    spec: PopulationSpec,
    key: str | None = None,
    *,
    create_mailboxes: bool = False,
    actor: str = "cli",
    adopt_domain: bool = False,
) -> RunOutcome:
    """Register and materialize: profiles only, or the whole graph with `create_mailboxes` (`adopt_domain`: see
    `adopt_domain_run_config`)."""
    if create_mailboxes:
        require_encryption_key()
    population, _ = register_population(spec, key, actor=actor)
    if not create_mailboxes:
        return materialize_population(population.key, job_name="profiles_job")
    return materialize_population(
        population.key, job_name="populate_job", run_config=adopt_domain_run_config(adopt_domain)
    )


def recreate(
    key: str, *, actor: str = "cli", runner: Callable[..., RunOutcome] | None = None, adopt_domain: bool = False
) -> RunOutcome:
    """Re-materialize the whole graph of a registered population: converges mailboxes, DKIM and DNS.

    `runner(key, job_name=..., run_config=...)` runs the job (default `materialize_population`; the CLI passes one
    with progress).
    """
    store = open_store()
    store.require_population(key)
    require_encryption_key(store=store)
    ensure_partition(key)
    outcome = (runner or materialize_population)(
        key, job_name="populate_job", run_config=adopt_domain_run_config(adopt_domain)
    )
    store.audit(actor, "population.recreate", key, "ok" if outcome.success else "failed", {"run_id": outcome.run_id})
    return outcome


def recreate_from_seed(
    spec: PopulationSpec, seed: int | str, key: str | None = None, *, actor: str = "api"
) -> RunOutcome:
    """Recreate the population that `spec` with `seed` names (registering it if new): same seed ⇒ same agents,
    same addresses, same passwords."""
    seeded = PopulationSpec.model_validate({**spec.canonical(), "seed": seed})
    return populate(seeded, key, create_mailboxes=True, actor=actor)


@dataclass
class TeardownOutcome:
    key: str
    mailboxes_removed: int
    foreign_mailboxes_left: int
    domain_removed: bool
    rrsets_removed: int
    plan: dict[str, Any] = field(default_factory=dict)


@contextmanager
def _api_clients(settings: Settings) -> Iterator[tuple[Any, Any]]:
    """(Mailcow client, deSEC client or None when DESEC_TOKEN is not set), closed on exit."""
    from azt3knet_pipeline.clients.factory import desec_client, mailcow_client
    from azt3knet_pipeline.services.dns import dns_configured

    with ExitStack() as stack:
        mailcow = stack.enter_context(mailcow_client(settings))
        desec = stack.enter_context(desec_client(settings)) if dns_configured(settings) else None
        yield mailcow, desec


def teardown_plan(key: str) -> Any:  # -> services.teardown.TeardownPlan
    """Read Mailcow and deSEC and return what `teardown` would do; writes nothing (a failed read raises)."""
    from azt3knet_pipeline.services.teardown import read_teardown_plan

    settings = get_settings()
    store = open_store(settings)
    store.require_population(key)
    with _api_clients(settings) as (mailcow, desec):
        return read_teardown_plan(mailcow=mailcow, desec=desec, store=store, settings=settings, population_key=key)


def teardown(key: str, *, actor: str = "cli") -> TeardownOutcome:
    """Plan (read both APIs; a failed read raises before any write), then apply: the agents' mailboxes, then the
    DKIM key and the domain (only when azt3knet owns it and no foreign mailbox remains), then the DNS records.

    The population stays registered (keys are append-only): `recreate` brings it back identically.
    """
    from azt3knet_pipeline.services.teardown import apply_teardown, read_teardown_plan

    settings = get_settings()
    store = open_store(settings)
    store.require_population(key)
    try:
        with _api_clients(settings) as (mailcow, desec):
            plan = read_teardown_plan(mailcow=mailcow, desec=desec, store=store, settings=settings, population_key=key)
            report = apply_teardown(plan, mailcow=mailcow, desec=desec, store=store)
    except Exception as exc:
        store.audit(actor, "population.teardown", key, "failed", {"error": type(exc).__name__})
        raise
    store.set_population_status(key, "torn_down")
    store.audit(
        actor,
        "population.teardown",
        key,
        "ok",
        {
            "mailboxes_removed": report.mailboxes_removed,
            "foreign_left": report.foreign_left,
            "dkim_removed": report.dkim_removed,
            "domain_removed": report.domain_removed,
            "rrsets_removed": report.rrsets_removed,
        },
    )
    return TeardownOutcome(
        key,
        report.mailboxes_removed,
        report.foreign_left,
        report.domain_removed,
        report.rrsets_removed,
        plan.to_dict(),
    )


def export_credentials(
    key: str, out: str, *, plaintext: bool = False, force: bool = False, actor: str = "cli"
) -> dict[str, Any]:
    """Write the population's credentials to `out` (see services.credentials.export_credentials)."""
    from azt3knet_pipeline.clients.factory import secret_box
    from azt3knet_pipeline.services import credentials

    settings = get_settings()
    store = open_store(settings)
    store.require_population(key)
    return credentials.export_credentials(
        store, secret_box(settings), settings, key, out, plaintext=plaintext, force=force, actor=actor
    )


def plan(key: str, *, adopt_domain: bool = False) -> dict[str, Any]:
    """Every write a recreate (with `adopt_domain` as given) would make, by the same planning code the assets
    use; reads only."""
    from azt3knet_pipeline.services.plan import plan_recreate

    settings = get_settings()
    store = open_store(settings)
    store.require_population(key)
    with _api_clients(settings) as (mailcow, desec):
        return plan_recreate(
            mailcow=mailcow, desec=desec, store=store, settings=settings, population_key=key, adopt_domain=adopt_domain
        )


def rotate_keys(*, dry_run: bool = False, actor: str = "cli") -> dict[str, Any]:
    """Re-encrypt every stored secret and export bundle under the first SECRET_KEY_FOR_KV_ENC key, all or
    nothing (see services.keys); `dry_run` only reports what would be re-encrypted."""
    from azt3knet_pipeline.clients.factory import secret_box
    from azt3knet_pipeline.services.keys import rotate_keys as rotate

    settings = get_settings()
    report = rotate(open_store(settings), secret_box(settings), settings.exports_dir, dry_run=dry_run, actor=actor)
    return report.as_dict()


def record_dns_reconciled(report: Any, *, keys: list[str], instance: DagsterInstance | None = None) -> None:
    """Record a reconcile done outside a run (CLI `dns reconcile`) as runless `dns_records` materializations, so
    the UI shows it and the drift sensor treats drift that comes back afterwards as new."""
    from dagster import AssetMaterialization

    from azt3knet_pipeline.dagster_home import get_instance

    instance = instance or get_instance(get_settings())
    for key in keys:
        instance.report_runless_asset_event(
            AssetMaterialization(
                asset_key="dns_records",
                partition=key,
                metadata={"source": "azt3knet dns reconcile", **report.metadata()},
            )
        )
