"""`mailboxes_accept_login`: do a population's mailboxes still accept their stored credentials over IMAPS?

The check runs on its own (`verify_mailboxes_job`, `verify_mailboxes_schedule`) so a population that stops working
turns red in the UI; populate/recreate runs do not wait for it.
"""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetSelection,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    asset_check,
    define_asset_job,
    schedule,
)

from azt3knet_pipeline.defs import checks as _checks  # noqa: F401 - silences the partitioned-check preview warning
from azt3knet_pipeline.defs.assets.mailboxes import mailboxes
from azt3knet_pipeline.defs.partitions import population_partitions
from azt3knet_pipeline.defs.resources import StoreResource
from azt3knet_pipeline.errors import NothingToVerify
from azt3knet_pipeline.names import MAILBOXES_ACCEPT_LOGIN, VERIFY_MAILBOXES_JOB, VERIFY_MAILBOXES_SCHEDULE
from azt3knet_pipeline.services.verify import verify_population
from azt3knet_pipeline.settings import Settings

# Populations whose mailboxes are expected to work.
VERIFIABLE_STATUSES = frozenset({"provisioned", "dns_pending"})


@asset_check(
    name=MAILBOXES_ACCEPT_LOGIN,
    asset=mailboxes,
    partitions_def=population_partitions,
    description="A deterministic sample of the population's mailboxes logs in over IMAPS with the stored credentials.",
)
def mailboxes_accept_login(context: AssetCheckExecutionContext, store: StoreResource) -> AssetCheckResult:
    settings = store.settings.settings
    key = context.partition_key
    try:
        report = verify_population(
            store=store.open(), box=store.settings.secret_box(), settings=settings, population_key=key, actor="dagster"
        )
    except NothingToVerify as exc:
        return AssetCheckResult(passed=False, severity=AssetCheckSeverity.WARN, metadata={"reason": str(exc)})
    for failure in report.failures:
        context.log.warning(f"mailbox {failure.line()}")
    return AssetCheckResult(passed=report.ok, severity=AssetCheckSeverity.ERROR, metadata=report.metadata())


# A checks-only asset job loses its partitions definition when Dagster resolves it (1.13: it is inferred from
# executable assets, and there are none), so runs of it name their partition by tag, not by `partition_key=`.
def partition_tags(population_key: str) -> dict[str, str]:
    """Run tags that point a `verify_mailboxes_job` run at one population."""
    return {"dagster/partition": population_key}


verify_mailboxes_job = define_asset_job(
    VERIFY_MAILBOXES_JOB,
    selection=AssetSelection.checks(mailboxes_accept_login),
    partitions_def=population_partitions,
    description="Check that a population's mailboxes accept login (IMAPS), without materializing anything.",
)


@schedule(
    name=VERIFY_MAILBOXES_SCHEDULE,
    job=verify_mailboxes_job,
    cron_schedule=Settings().verify_cron,
    description="Run mailboxes_accept_login for every provisioned population (AZT3KNET_VERIFY_CRON, hourly).",
)
def verify_mailboxes_schedule(context: ScheduleEvaluationContext, store: StoreResource):
    keys = [p.key for p in store.open().list_populations() if p.status in VERIFIABLE_STATUSES]
    if not keys:
        return SkipReason("no provisioned population to verify")
    stamp = context.scheduled_execution_time.isoformat()
    return [RunRequest(run_key=f"{key}:{stamp}", tags=partition_tags(key)) for key in keys]
