"""`dyndns_job` and `dyndns_schedule`: keep the mail host's A/AAAA on the current public IP."""

from dagster import OpExecutionContext, ScheduleDefinition, job, op

from azt3knet_pipeline.defs.resources import DesecResource, StoreResource
from azt3knet_pipeline.names import DYNDNS_JOB, DYNDNS_SCHEDULE
from azt3knet_pipeline.services.dns import detect_public_ips, update_mail_host
from azt3knet_pipeline.settings import Settings


@op(description="Detect the public IPv4/IPv6 and update the mail host's A/AAAA only when they changed.")
def update_mail_host_ips(context: OpExecutionContext, desec: DesecResource, store: StoreResource) -> dict:
    settings = store.settings.settings
    ipv4, ipv6 = detect_public_ips(settings)
    with desec.client() as client:
        result = update_mail_host(desec=client, settings=settings, ipv4=ipv4, ipv6=ipv6)
    if result.changed:
        store.open().audit(
            "dagster",
            "dyndns.update",
            settings.mail_hostname,
            "ok",
            {"ipv4": ipv4, "ipv6": ipv6, "changed": result.changed},
        )
    context.log.info(f"{settings.mail_hostname}: A={ipv4} AAAA={ipv6}, {result.changed} rrset(s) changed")
    return {"ipv4": ipv4, "ipv6": ipv6, "changed": result.changed, "writes": result.writes}


@job(name=DYNDNS_JOB, description="Point the mail host's A/AAAA at the current public IP (writes only on change).")
def dyndns_job() -> None:
    update_mail_host_ips()


dyndns_schedule = ScheduleDefinition(
    name=DYNDNS_SCHEDULE,
    job=dyndns_job,
    cron_schedule=Settings().dyndns_cron,
    description="Run dyndns_job (default every 5 minutes; DYNDNS_CRON).",
)
