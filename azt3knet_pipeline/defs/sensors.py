"""`dns_drift_sensor`: one paginated zone read per tick; a run for each drifted population, once per drift."""

import json

from dagster import RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor

from azt3knet_pipeline.defs.jobs import dns_reconcile_job
from azt3knet_pipeline.defs.resources import DesecResource, StoreResource
from azt3knet_pipeline.domain.dns_plan import RRset, drift_for_populations
from azt3knet_pipeline.services.dns import dns_configured
from azt3knet_pipeline.settings import get_settings


@sensor(job=dns_reconcile_job, minimum_interval_seconds=300, description=__doc__)
def dns_drift_sensor(context: SensorEvaluationContext, store: StoreResource, desec: DesecResource):
    settings = get_settings()
    if not dns_configured(settings):
        return SkipReason("DESEC_TOKEN is not set")
    stored = store.open().desired_dns(settings.desec_domain)
    if not stored:
        return SkipReason("no provisioned population has DNS records yet")
    with desec.client() as client:
        actual = client.list_rrsets(settings.desec_domain)  # the tick's one (paginated) read
    desired = {key: [RRset.model_validate(r) for r in rrsets] for key, rrsets in stored.items()}
    drift = drift_for_populations(desired, actual)
    previous: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    requests = [
        RunRequest(run_key=f"{key}:{digest}", partition_key=key, tags={"azt3knet/drift": digest[:16]})
        for key, digest in sorted(drift.items())
        if previous.get(key) != digest
    ]
    # The cursor holds the drift currently known; a healed population drops out, so new drift re-triggers.
    return SensorResult(run_requests=requests, cursor=json.dumps(drift, sort_keys=True))
