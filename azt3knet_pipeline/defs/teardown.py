"""`teardown_job`: remove one population's mailboxes, DKIM key, mail domain and DNS records, and say so in Dagster.

The use case (`services.teardown.teardown_population`: plan from one read of each API, then apply) is the logic;
this job runs it for its partition and records on every asset of the partition that the population is torn
down: a materialization with zero counts and `status: torn_down` on mailboxes, dns_records and
credential_export, an observation on population_spec and agent_profiles (the spec stays registered and the
profiles stay reproducible: `recreate` brings the population back identically). The asset pages, the partition
status and the run list then show the teardown.
"""

from contextlib import ExitStack

from dagster import AssetMaterialization, AssetObservation, Config, MetadataValue, OpExecutionContext, job, op
from pydantic import Field

from azt3knet_pipeline.defs.partitions import population_partitions
from azt3knet_pipeline.defs.resources import DesecResource, MailcowResource, SettingsResource
from azt3knet_pipeline.names import (
    AGENT_PROFILES,
    CREDENTIAL_EXPORT,
    DNS_RECORDS,
    MAILBOXES,
    POPULATION_SPEC,
    TEARDOWN_JOB,
    TEARDOWN_OP,
)
from azt3knet_pipeline.services.dns import dns_configured
from azt3knet_pipeline.services.teardown import teardown_population as run_teardown

TORN_DOWN = "torn_down"
# Assets whose partition no longer exists anywhere after a teardown (materialized with zero counts) and those
# that stay as they were (observed).
REMOVED_ASSETS = (MAILBOXES, DNS_RECORDS, CREDENTIAL_EXPORT)
KEPT_ASSETS = (POPULATION_SPEC, AGENT_PROFILES)


class TeardownConfig(Config):
    """Run config of the teardown op (`ops.teardown_population.config`)."""

    actor: str = Field(default="dagster", description="Who asked for the teardown (recorded in the audit log)")


@op(
    name=TEARDOWN_OP,
    description="Plan (read Mailcow and deSEC), then apply the teardown of this partition's population.",
)
def teardown_population(
    context: OpExecutionContext,
    config: TeardownConfig,
    settings: SettingsResource,
    mailcow: MailcowResource,
    desec: DesecResource,
) -> dict:
    key = context.partition_key
    conf = settings.settings
    with ExitStack() as stack:
        mailcow_client = stack.enter_context(mailcow.client())
        desec_client = stack.enter_context(desec.client()) if dns_configured(conf) else None
        plan, report = run_teardown(
            mailcow=mailcow_client,
            desec=desec_client,
            store=settings.store(),
            settings=conf,
            population_key=key,
            actor=config.actor,
        )
    status = {"status": TORN_DOWN, "source": "teardown_job"}
    removed = {
        MAILBOXES: {
            **status,
            "mailboxes": 0,
            "mailboxes_removed": report.mailboxes_removed,
            "foreign_mailboxes_left": report.foreign_left,
            "dkim_removed": report.dkim_removed,
            "domain_removed": report.domain_removed,
            "plan": MetadataValue.json(plan.to_dict()),
        },
        DNS_RECORDS: {**status, "desired": 0, "rrsets_removed": report.rrsets_removed},
        CREDENTIAL_EXPORT: {**status, "mailboxes": 0},
    }
    for asset_key in REMOVED_ASSETS:
        context.log_event(AssetMaterialization(asset_key=asset_key, partition=key, metadata=removed[asset_key]))
    for asset_key in KEPT_ASSETS:
        context.log_event(
            AssetObservation(
                asset_key=asset_key, partition=key, metadata={**status, "note": "still registered; recreatable"}
            )
        )
    context.log.info(
        f"tore down {key}: {report.mailboxes_removed} mailboxes removed, domain "
        f"{'removed' if report.domain_removed else 'kept'}, {report.rrsets_removed} rrsets removed"
    )
    return {"mailboxes_removed": report.mailboxes_removed, "rrsets_removed": report.rrsets_removed}


@job(
    name=TEARDOWN_JOB,
    partitions_def=population_partitions,
    description="Tear down one population (mailboxes, DKIM, domain, DNS) and record it on each of its assets.",
)
def teardown_job() -> None:
    teardown_population()
