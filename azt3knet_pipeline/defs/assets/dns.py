"""Stage 4: the population's DNS records on deSEC (one read, at most one bulk write)."""

from dagster import AssetExecutionContext, MaterializeResult, asset

from azt3knet_pipeline.defs.partitions import population_partitions
from azt3knet_pipeline.defs.resources import DesecResource, MailcowResource, SettingsResource
from azt3knet_pipeline.names import MAILBOXES, POPULATION_GROUP
from azt3knet_pipeline.services.dns import reconcile_dns


@asset(
    partitions_def=population_partitions,
    group_name=POPULATION_GROUP,
    pool="desec_api",
    kinds={"desec"},
    deps=[MAILBOXES],
    description="MX, SPF, DKIM, DMARC and autoconfig/autodiscover rrsets of <key>.<DESEC_DOMAIN> on deSEC.",
)
def dns_records(
    context: AssetExecutionContext, settings: SettingsResource, mailcow: MailcowResource, desec: DesecResource
) -> MaterializeResult:
    """A write deSEC defers (hour/day throttle) ends the step successfully with the population `dns_pending`:
    the desired rrsets are stored and the drift sensor writes them when deSEC allows, so failing the run would
    only invite retries into the same throttle and hold back the credential export of mailboxes that exist."""
    key = context.partition_key
    repo = settings.store()
    with mailcow.client() as mailcow_client, desec.client() as desec_client:
        report = reconcile_dns(
            desec=desec_client, mailcow=mailcow_client, store=repo, settings=settings.settings, population_key=key
        )
    if report.deferral is not None:
        repo.audit("dagster", "dns.reconcile", key, "deferred", report.metadata())
        context.log.info(report.deferral.line())  # info: the CLI/API print the line themselves, once
    else:
        repo.audit("dagster", "dns.reconcile", key, "ok", report.metadata())
    for line in report.changes:
        context.log.info(f"{key}: {line}")
    return MaterializeResult(metadata=report.metadata())
