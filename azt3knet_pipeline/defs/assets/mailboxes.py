"""Stage 3: the population's Mailcow domain, DKIM key and mailboxes, reconciled (this is also recreate)."""

import pandas as pd
from dagster import AssetExecutionContext, Config, Failure, Output, asset
from pydantic import Field

from azt3knet_pipeline.defs.partitions import population_partitions
from azt3knet_pipeline.defs.resources import MailcowResource, SettingsResource
from azt3knet_pipeline.errors import ApiError, MailboxReconcileError
from azt3knet_pipeline.names import POPULATION_GROUP
from azt3knet_pipeline.services.dns import WRITE_AHEAD_GRACE, dns_configured, utcnow
from azt3knet_pipeline.services.mailboxes import reconcile_mailboxes


class MailboxesConfig(Config):
    """Run config of the mailboxes asset (`ops.mailboxes.config`)."""

    adopt_domain: bool = Field(
        default=False,
        description="Provision into an existing mail domain azt3knet did not create, tagging it as this population's",
    )


@asset(
    partitions_def=population_partitions,
    group_name=POPULATION_GROUP,
    pool="mailcow_api",
    kinds={"mailcow", "pandas"},
    description="One Mailcow mailbox per agent on <key>.<DESEC_DOMAIN>, tagged azt3knet-synthetic + key.",
)
def mailboxes(
    context: AssetExecutionContext,
    config: MailboxesConfig,
    agent_profiles: pd.DataFrame,
    settings: SettingsResource,
    mailcow: MailcowResource,
) -> Output[pd.DataFrame]:
    key = context.partition_key
    repo = settings.store()
    box = settings.secret_box()
    conf = settings.settings
    mail_domain = conf.mail_domain_for(key)
    with mailcow.client() as client:
        try:
            report = reconcile_mailboxes(
                client=client,
                store=repo,
                box=box,
                population_key=key,
                mail_domain=mail_domain,
                profiles=agent_profiles,
                quota_mib=conf.mailbox_quota_mib,
                concurrency=conf.mailcow_concurrency,
                dkim_selector=conf.dkim_selector,
                dkim_key_size=conf.dkim_key_size,
                adopt_domain=config.adopt_domain,
            )
        except MailboxReconcileError as exc:
            repo.audit("dagster", "mailboxes.reconcile", key, "failed", {"error": str(exc)})
            raise Failure(str(exc)) from None
        except ApiError as exc:  # domain/DKIM/list failures: audited too, then the run fails with the cause
            repo.audit("dagster", "mailboxes.reconcile", key, "failed", {"error": f"{type(exc).__name__}: {exc}"})
            raise
    if dns_configured(conf):
        # The mailboxes exist, their DNS does not yet: `dns_records` (next in the run) makes it `provisioned`;
        # if it never runs, the drift sensor writes the DNS after the write-ahead grace.
        repo.set_population_status(key, "dns_pending", dns_pending_until=utcnow() + WRITE_AHEAD_GRACE)
    else:
        repo.set_population_status(key, "provisioned")
    repo.audit("dagster", "mailboxes.reconcile", key, "ok", report.metadata())
    context.log.info(f"mailboxes of {key}: {report.metadata()}")
    rows = repo.list_mailboxes(key)
    frame = pd.DataFrame(
        [{"address": r.address, "agent_id": r.agent_id, "state": r.state} for r in rows],
        columns=["address", "agent_id", "state"],
    )
    return Output(frame, metadata=report.metadata())
