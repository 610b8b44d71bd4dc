"""`dns_pending_job`: write the stored rrsets of every population whose DNS deSEC deferred, in ONE bulk write.

Requested by `dns_drift_sensor` once deSEC's time has passed. Each population written becomes `provisioned` and
gets a `dns_records` materialization for its partition (so the UI and the sensor's drift tokens see it).
"""

from dagster import AssetMaterialization, Config, Failure, OpExecutionContext, job, op

from azt3knet_pipeline.defs.resources import DesecResource, StoreResource
from azt3knet_pipeline.names import DNS_PENDING_JOB, DNS_RECORDS
from azt3knet_pipeline.services.dns import reconcile_stored


class PendingDnsConfig(Config):
    keys: list[str]


@op(description="One bulk write of the stored rrsets of the given dns_pending populations.")
def write_pending_dns(
    context: OpExecutionContext, config: PendingDnsConfig, store: StoreResource, desec: DesecResource
) -> dict:
    settings = store.settings.settings
    repo = store.open()
    with desec.client() as client:
        report = reconcile_stored(desec=client, store=repo, settings=settings, keys=config.keys)
    if report.deferral is not None:
        repo.audit("dagster", "dns.pending", ",".join(config.keys), "deferred", report.metadata())
        # Still pending with deSEC's new time: the sensor requests a new run then (a new run key).
        raise Failure(report.deferral.line())
    repo.audit("dagster", "dns.pending", ",".join(config.keys), "ok", report.metadata())
    for key in config.keys:
        context.log_event(
            AssetMaterialization(
                asset_key=DNS_RECORDS, partition=key, metadata={"source": DNS_PENDING_JOB, **report.metadata()}
            )
        )
    context.log.info(f"{report.zone}: {report.changed} rrset(s) written for {', '.join(config.keys)}")
    return {**report.metadata(), "provisioned": report.provisioned}


@job(
    name=DNS_PENDING_JOB,
    description="Write the DNS of every dns_pending population whose deferral has passed (one bulk write).",
)
def dns_pending_job() -> None:
    write_pending_dns()
