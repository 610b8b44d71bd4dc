"""`dns_drift_sensor`: one paginated zone read per tick; a run for each drifted population, once per drift; and
one `dns_pending_job` run for all populations whose deferred DNS write deSEC now allows."""

import json
import warnings

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInvariantViolationError,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._utils.warnings import BetaWarning

from azt3knet_pipeline.defs.dns_pending import dns_pending_job
from azt3knet_pipeline.defs.jobs import dns_reconcile_job
from azt3knet_pipeline.defs.resources import DesecResource, StoreResource
from azt3knet_pipeline.domain.dns import RRset, drift_for_populations
from azt3knet_pipeline.domain.models import sha256_hex
from azt3knet_pipeline.names import DNS_DRIFT_SENSOR, DNS_RECORDS
from azt3knet_pipeline.services import dns as dns_service
from azt3knet_pipeline.services.dns import dns_configured

# A sensor with several jobs is rebuilt by Dagster with an internal `owners=` argument, which warns as "beta" on
# every CLI call although we set no owners.
warnings.filterwarnings("ignore", message="Parameter `owners` of initializer", category=BetaWarning)


def _drift_token(context: SensorEvaluationContext, key: str, digest: str) -> str:
    """The drift hash bound to the partition's latest `dns_records` materialization: the same drift seen again
    after a reconcile is a new drift episode, so it gets a new run key (the daemon never re-launches a run key
    it has launched before) and is requested even if no tick saw the healed state in between."""
    try:
        instance = context.instance
    except DagsterInvariantViolationError:  # a context built by hand without an instance: no history to bind
        return sha256_hex(f"{digest}:0")
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey(DNS_RECORDS), asset_partitions=[key]), limit=1
    ).records
    return sha256_hex(f"{digest}:{records[0].storage_id if records else 0}")


def pending_request(due: dict) -> RunRequest | None:
    """ONE run for every due `dns_pending` population; the run key names the keys and deSEC's times, so a
    population deferred again (a new time) is requested again, the same deferral only once."""
    if not due:
        return None
    keys = sorted(due)
    stamp = ",".join(f"{key}@{due[key].isoformat() if due[key] else '-'}" for key in keys)
    return RunRequest(
        run_key=f"dns-pending:{sha256_hex(stamp)[:32]}",
        job_name=dns_pending_job.name,
        run_config={"ops": {"write_pending_dns": {"config": {"keys": keys}}}},
        tags={"azt3knet/dns_pending": str(len(keys))},
    )


@sensor(
    name=DNS_DRIFT_SENSOR, jobs=[dns_reconcile_job, dns_pending_job], minimum_interval_seconds=300, description=__doc__
)
def dns_drift_sensor(context: SensorEvaluationContext, store: StoreResource, desec: DesecResource):
    settings = store.settings.settings
    if not dns_configured(settings):
        return SkipReason("DESEC_TOKEN is not set")
    repo = store.open()
    stored = repo.desired_rrsets(settings.desec_domain)
    # Pending populations are written by dns_pending_job once deSEC allows, never by per-partition drift runs
    # (before their time those would only meet the same throttle).
    pending = repo.dns_pending()
    due_all = dns_service.due_pending(repo)
    due = {key: until for key, until in due_all.items() if key in stored}
    # Deferred before its rrsets could even be computed (deSEC refused the reads): the partition's own run
    # computes them (it needs Mailcow's DKIM key), one run per deferral.
    uncomputed = [
        RunRequest(
            run_key=f"{key}:pending:{until.isoformat() if until else '-'}",
            job_name=dns_reconcile_job.name,
            partition_key=key,
            tags={"azt3knet/dns_pending": "uncomputed"},
        )
        for key, until in due_all.items()
        if key not in stored
    ]
    if not stored:
        if uncomputed:
            return SensorResult(run_requests=uncomputed, cursor=context.cursor)
        return SkipReason("no provisioned population has DNS records yet")
    with desec.client() as client:
        actual = client.list_rrsets(settings.desec_domain)  # the tick's one (paginated) read
    desired = {key: [RRset.model_validate(r) for r in rrsets] for key, rrsets in stored.items() if key not in pending}
    drift = drift_for_populations(desired, actual)
    tokens = {key: _drift_token(context, key, digest) for key, digest in sorted(drift.items())}
    previous: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    requests = [
        RunRequest(
            run_key=f"{key}:{token}",
            job_name=dns_reconcile_job.name,
            partition_key=key,
            tags={"azt3knet/drift": drift[key][:16]},
        )
        for key, token in tokens.items()
        if previous.get(key) != token
    ]
    pending_run = pending_request(due)
    if pending_run is not None:
        requests.append(pending_run)
    requests += uncomputed
    # The cursor holds the drift currently known (per reconcile); a healed population drops out, and a
    # reconcile changes the token, so drift that comes back re-triggers.
    return SensorResult(run_requests=requests, cursor=json.dumps(tokens, sort_keys=True))
