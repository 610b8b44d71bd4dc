"""The population use cases, called by the CLI, the API and the assets alike: register, preview, populate, recreate,
describe, plan, teardown, export, rotate.

Every dependency comes in as an argument (settings, store, Dagster instance, how to launch a run), so this
module imports no Dagster and reads no environment: the CLI runs a run in process with progress bars, the API
submits it to its run executor, and both go through the same flow here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from azt3knet_pipeline.clients.factory import desec_client, mailcow_client, secret_box
from azt3knet_pipeline.domain.generation import GeneratedPopulation, generate_population
from azt3knet_pipeline.domain.models import Population, PopulationSpec, spec_to_register, validate_population_key
from azt3knet_pipeline.errors import TeardownFailed
from azt3knet_pipeline.names import DNS_RECORDS, MAILBOXES, POPULATE_JOB, PROFILES_JOB, TEARDOWN_JOB, TEARDOWN_OP
from azt3knet_pipeline.orchestration.partitions import ensure_partition
from azt3knet_pipeline.services import credentials
from azt3knet_pipeline.services.dns import dns_configured
from azt3knet_pipeline.services.keys import rotate_keys as rotate
from azt3knet_pipeline.services.plan import plan_recreate
from azt3knet_pipeline.services.teardown import TeardownPlan, read_teardown_plan
from azt3knet_pipeline.settings import Settings
from azt3knet_pipeline.store.repository import Store

if TYPE_CHECKING:
    from dagster import DagsterInstance

    from azt3knet_pipeline.orchestration.results import RunOutcome


class LaunchedRun(Protocol):
    """What launching a run returns: a finished run (CLI) or a submitted one (API)."""

    run_id: str

    def audit_detail(self) -> tuple[str, dict[str, Any]]: ...


R = TypeVar("R", bound=LaunchedRun)
R_co = TypeVar("R_co", bound=LaunchedRun, covariant=True)


class Launch(Protocol[R_co]):
    """Runs (or submits) job `job_name` for partition `key` with extra `run_config`."""

    def __call__(self, key: str, *, job_name: str, run_config: dict[str, Any] | None = None) -> R_co: ...


@dataclass(frozen=True)
class PopulateOutcome(Generic[R]):
    """What `populate` did: the population, whether this call registered it, the job it launched, the run."""

    population: Population
    registered: bool
    job: str
    run: R


@dataclass
class TeardownOutcome:
    """What `teardown` removed, and the plan it applied (as a dict)."""

    key: str
    mailboxes_removed: int
    foreign_mailboxes_left: int
    domain_removed: bool
    rrsets_removed: int
    plan: dict[str, Any] = field(default_factory=dict)


def open_store(settings: Settings) -> Store:
    return Store.open(settings.resolved_database_url)


def populate_job_name(create_mailboxes: bool) -> str:
    """The job a populate runs: the whole graph with mailboxes, else the profiles only."""
    return POPULATE_JOB if create_mailboxes else PROFILES_JOB


def adopt_domain_run_config(adopt_domain: bool) -> dict[str, Any] | None:
    """Run config that lets the mailboxes asset adopt (tag) an existing mail domain azt3knet did not create."""
    return {"ops": {MAILBOXES: {"config": {"adopt_domain": True}}}} if adopt_domain else None


def preview_population(spec: PopulationSpec, key: str | None = None) -> GeneratedPopulation:
    """Generate profiles in memory only: no store, no Dagster, no network."""
    return generate_population(spec, key or spec.default_key())


def require_encryption_key(*, store: Store, settings: Settings) -> None:
    """Fail fast, before a run starts, when SECRET_KEY_FOR_KV_ENC is missing, malformed or cannot decrypt the
    stored secrets: a one-line KeyConfigError/DecryptionError instead of a failed run full of stack traces."""
    store.derivation_secret(secret_box(settings))


def register_population(
    spec: PopulationSpec, key: str | None = None, *, store: Store, instance: DagsterInstance, actor: str = "cli"
) -> tuple[Population, bool]:
    """Register (spec, key) in the store and as a Dagster dynamic partition. Same spec again is a no-op; a new
    population gets the latest generator version (pydantic ValidationError if its data rejects the spec)."""
    key = validate_population_key(key or spec.default_key())
    population, created = store.register_population(key, spec_to_register(spec, store.get_population(key)))
    ensure_partition(instance, key)
    if created:
        store.audit(actor, "population.register", key, "ok", {"spec_hash": population.spec_hash, "count": spec.count})
    return population, created


def populate(
    spec: PopulationSpec,
    key: str | None = None,
    *,
    store: Store,
    settings: Settings,
    instance: DagsterInstance,
    launch: Launch[R],
    create_mailboxes: bool = False,
    adopt_domain: bool = False,
    actor: str = "cli",
) -> PopulateOutcome[R]:
    """Register and launch: the profiles only, or the whole graph with `create_mailboxes` (`adopt_domain`: see
    `adopt_domain_run_config`; it applies to the whole graph only)."""
    if create_mailboxes:
        require_encryption_key(store=store, settings=settings)
    population, created = register_population(spec, key, store=store, instance=instance, actor=actor)
    job = populate_job_name(create_mailboxes)
    run = launch(population.key, job_name=job, run_config=adopt_domain_run_config(adopt_domain and create_mailboxes))
    return PopulateOutcome(population, created, job, run)


def recreate(
    key: str,
    *,
    store: Store,
    settings: Settings,
    instance: DagsterInstance,
    launch: Launch[R],
    adopt_domain: bool = False,
    actor: str = "cli",
) -> R:
    """Re-materialize the whole graph of a registered population: converges mailboxes, DKIM and DNS."""
    store.require_population(key)
    require_encryption_key(store=store, settings=settings)
    ensure_partition(instance, key)
    run = launch(key, job_name=POPULATE_JOB, run_config=adopt_domain_run_config(adopt_domain))
    outcome, detail = run.audit_detail()
    store.audit(actor, "population.recreate", key, outcome, detail)
    return run


def describe_population(
    key: str, *, store: Store, read_assets: Callable[[str], dict[str, Any]] | None = None
) -> dict[str, Any]:
    """What the store knows of a population: spec, status, mailboxes by state, credentials and desired rrsets of
    record; with `read_assets` (which reads the Dagster instance), also `assets`: the latest materialization (run
    id, time, metadata) of each asset."""
    population = store.require_population(key)
    mailboxes = store.mailbox_states(key)
    desired = store.desired_rrsets_of(key)
    info: dict[str, Any] = {
        "key": population.key,
        "status": population.status,
        "dns_pending_until": _iso(population.dns_pending_until),
        "spec_hash": population.spec_hash,
        "generator_version": population.spec.version,
        "spec": population.spec.canonical(),
        "mailboxes": mailboxes,
        # The credentials an export bundles: the encrypted passwords of the active mailboxes.
        "credentials": mailboxes.get("active", 0),
        "desired_rrsets": None
        if desired is None
        else {
            "zone": desired["zone"],
            "count": len(desired["rrsets"]),
            "hash": desired["hash"],
            "updated_at": _iso(desired["updated_at"]),
        },
    }
    if read_assets is not None:
        info["assets"] = read_assets(key)
    return info


def _iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a `Z` (SQLite hands back the stored UTC times without their zone)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat().replace("+00:00", "Z")


@contextmanager
def api_clients(settings: Settings) -> Iterator[tuple[Any, Any]]:
    """(Mailcow client, deSEC client or None when DESEC_TOKEN is not set), closed on exit."""
    with ExitStack() as stack:
        mailcow = stack.enter_context(mailcow_client(settings))
        desec = stack.enter_context(desec_client(settings)) if dns_configured(settings) else None
        yield mailcow, desec


def plan(key: str, *, store: Store, settings: Settings, adopt_domain: bool = False) -> dict[str, Any]:
    """Every write a recreate (with `adopt_domain` as given) would make, by the same planning code the assets
    use; reads only."""
    store.require_population(key)
    with api_clients(settings) as (mailcow, desec):
        return plan_recreate(
            mailcow=mailcow, desec=desec, store=store, settings=settings, population_key=key, adopt_domain=adopt_domain
        )


def teardown_plan(key: str, *, store: Store, settings: Settings) -> TeardownPlan:
    """Read Mailcow and deSEC and return what `teardown` would do; writes nothing (a failed read raises)."""
    store.require_population(key)
    with api_clients(settings) as (mailcow, desec):
        return read_teardown_plan(mailcow=mailcow, desec=desec, store=store, settings=settings, population_key=key)


def teardown_run_config(actor: str) -> dict[str, Any]:
    """Run config of `teardown_job`: who asked (the audit log's actor)."""
    return {"ops": {TEARDOWN_OP: {"config": {"actor": actor}}}}


def teardown(
    key: str, *, store: Store, instance: DagsterInstance, launch: Callable[..., RunOutcome], actor: str = "cli"
) -> TeardownOutcome:
    """Run `teardown_job` for the population's partition and wait for it (`launch` runs it to completion).

    The job plans (reads both APIs; a failed read raises before any write), then applies: the agents'
    mailboxes, then the DKIM key and the domain (only when azt3knet owns it and no foreign mailbox remains),
    then the DNS records; it records the teardown on each asset of the partition. The population stays
    registered (keys are append-only): `recreate` brings it back identically.
    """
    store.require_population(key)
    ensure_partition(instance, key)
    run = launch(key, job_name=TEARDOWN_JOB, run_config=teardown_run_config(actor))
    if not run.success:
        cause = run.failures[0].cause if run.failures else (run.error or "run failed")
        raise TeardownFailed(f"{cause} (teardown run {run.run_id})")
    removed = run.metadata.get(MAILBOXES, {})
    return TeardownOutcome(
        key,
        int(removed.get("mailboxes_removed", 0)),
        int(removed.get("foreign_mailboxes_left", 0)),
        bool(removed.get("domain_removed", False)),
        int(run.metadata.get(DNS_RECORDS, {}).get("rrsets_removed", 0)),
        dict(removed.get("plan") or {}),
    )


def export_credentials(
    key: str,
    out: str,
    *,
    store: Store,
    settings: Settings,
    plaintext: bool = False,
    force: bool = False,
    actor: str = "cli",
) -> dict[str, Any]:
    """Write the population's credentials to `out` (see services.credentials.export_credentials)."""
    store.require_population(key)
    return credentials.export_credentials(
        store, secret_box(settings), settings, key, out, plaintext=plaintext, force=force, actor=actor
    )


def rotate_keys(*, store: Store, settings: Settings, dry_run: bool = False, actor: str = "cli") -> dict[str, Any]:
    """Re-encrypt every stored secret and export bundle under the first SECRET_KEY_FOR_KV_ENC key, all or
    nothing (see services.keys); `dry_run` only reports what would be re-encrypted."""
    return rotate(store, secret_box(settings), settings.exports_dir, dry_run=dry_run, actor=actor).as_dict()
