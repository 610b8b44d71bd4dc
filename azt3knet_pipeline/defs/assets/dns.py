"""Stage 4: the population's DNS records on deSEC (one read, at most one bulk write)."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from azt3knet_pipeline.defs.partitions import population_partitions
from azt3knet_pipeline.defs.resources import DesecResource, MailcowResource, StoreResource
from azt3knet_pipeline.services.dns import reconcile_dns
from azt3knet_pipeline.settings import get_settings


@asset(
    partitions_def=population_partitions,
    group_name="population",
    pool="desec_api",
    deps=["mailboxes"],
    description="MX, SPF, DKIM, DMARC and autoconfig/autodiscover rrsets of <key>.<DESEC_DOMAIN> on deSEC.",
)
def dns_records(
    context: AssetExecutionContext, store: StoreResource, mailcow: MailcowResource, desec: DesecResource
) -> MaterializeResult:
    settings = get_settings()
    key = context.partition_key
    repo = store.open()
    with mailcow.client() as mailcow_client, desec.client() as desec_client:
        report = reconcile_dns(
            desec=desec_client, mailcow=mailcow_client, store=repo, settings=settings, population_key=key
        )
    repo.audit("dagster", "dns.reconcile", key, "ok", report.metadata())
    for line in report.changes:
        context.log.info(f"{key}: {line}")
    return MaterializeResult(metadata=report.metadata())
