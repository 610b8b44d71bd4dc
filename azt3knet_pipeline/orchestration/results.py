"""Reading what runs did: the outcome of a run executed in process, a partition's last run, one run's detail, the
latest materialization of each asset of a partition, a run's whole log; and recording a reconcile made outside
a run as a materialization. Metadata read here is scalars, counts and hashes; never secrets (assets write none)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    RunsFilter,
)
from dagster._utils.error import SerializableErrorInfo

from azt3knet_pipeline.definitions import defs
from azt3knet_pipeline.names import DNS_RECORDS
from azt3knet_pipeline.orchestration.dead_runs import fail_dead_run

PARTITION_TAG = "dagster/partition"
EXECUTOR_TAG = "azt3knet/executor"
# Metadata entries too bulky (or too local) for a status answer.
HIDDEN_METADATA = frozenset({"path", "preview"})


@dataclass(frozen=True)
class StepFailure:
    """One failed step: its key, the cause in one line (exception class and message), the full trace."""

    step: str
    cause: str
    trace: str


@dataclass
class RunOutcome:
    """What one materialization of a partition did: run id, success, per-asset metadata (no secrets)."""

    key: str
    job: str
    run_id: str
    success: bool
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None
    failures: list[StepFailure] = field(default_factory=list)

    def audit_detail(self) -> tuple[str, dict[str, Any]]:
        """(outcome, detail) for the audit log entry of the use case that ran it."""
        return ("ok" if self.success else "failed"), {"run_id": self.run_id}


def _root_error(error: SerializableErrorInfo) -> SerializableErrorInfo:
    """Dagster's wrapper says only "error in op X"; its cause says what went wrong."""
    while error.cause is not None and error.cls_name == "DagsterExecutionStepExecutionError":
        error = error.cause
    return error


def _failure_of(entry: Any) -> StepFailure | None:
    """A StepFailure for a failed step, or for an error before any step (resources that could not start in an
    in-process run, a run failure); None for any other event."""
    event = entry.dagster_event
    if event is None:
        return None
    error: SerializableErrorInfo | None = None
    if event.is_step_failure and event.step_failure_data is not None:
        error = event.step_failure_data.error
    elif event.event_type == DagsterEventType.RESOURCE_INIT_FAILURE or event.is_engine_event:
        error = getattr(event.event_specific_data, "error", None)
    elif event.is_run_failure and event.job_failure_data is not None:
        error = event.job_failure_data.error
    if error is None:
        return None
    info = _root_error(error)
    while info.cause is not None and info.cls_name == "DagsterResourceFunctionError":
        info = info.cause  # "error while initializing resource": its cause names the missing setting
    message = info.message.strip()
    cause = message.split(f"{info.cls_name}: ", 1)[-1] if info.cls_name else message
    if info.cls_name and info.cls_name != "Failure":  # a Failure's message is the whole story
        cause = f"{info.cls_name}: {cause}"
    return StepFailure(str(entry.step_key or event.step_key or "run"), cause, error.to_string())


def outcome_of_run(instance: DagsterInstance, run_id: str, *, key: str, job_name: str) -> RunOutcome:
    """The RunOutcome of a finished run, read from the instance: metadata of each asset it materialized (also
    those an op logged, like teardown_job's), and its failures."""
    run = instance.get_run_by_id(run_id)
    success = run is not None and run.status == DagsterRunStatus.SUCCESS
    metadata: dict[str, dict[str, Any]] = {}
    failures: list[StepFailure] = []
    for entry in instance.all_logs(run_id):
        materialization = entry.asset_materialization
        if materialization is not None:
            metadata[materialization.asset_key.to_user_string()] = {
                name: value.value for name, value in materialization.metadata.items()
            }
        elif not success:
            failure = _failure_of(entry)
            if failure is not None and (failure.step != "run" or not failures):
                failures.append(failure)
    error = None
    if not success:
        step_failures = [f for f in failures if f.step != "run"] or failures
        failures = step_failures
        error = "; ".join(f"{f.step}: {f.cause}" for f in failures) or "run failed"
    return RunOutcome(
        key=key, job=job_name, run_id=run_id, success=success, metadata=metadata, error=error, failures=failures
    )


def stale_queued_runs(instance: DagsterInstance, timeout: float) -> list[str]:
    """Ids of runs QUEUED for longer than `timeout` seconds: nothing is dequeuing them."""
    records = instance.get_run_records(filters=RunsFilter(statuses=[DagsterRunStatus.QUEUED]), limit=50)
    now = datetime.now(UTC).timestamp()
    return [
        r.dagster_run.run_id
        for r in records
        if (created := _timestamp(r.create_timestamp)) is not None and now - created > timeout
    ]


def queued_reason(instance: DagsterInstance, record: Any, timeout: float) -> str | None:
    """Why a run has been QUEUED longer than `timeout` seconds (None while it is within the bound)."""
    created = _timestamp(record.create_timestamp)
    if record.dagster_run.status != DagsterRunStatus.QUEUED or created is None:
        return None
    waited = datetime.now(UTC).timestamp() - created
    if waited <= timeout:
        return None
    try:
        heartbeat = instance.get_daemon_heartbeats().get("QUEUED_RUN_COORDINATOR")
    except Exception:
        heartbeat = None
    seen = (
        f"its last heartbeat was {datetime.now(UTC).timestamp() - heartbeat.timestamp:.0f} s ago"
        if heartbeat is not None
        else "no daemon heartbeat was ever recorded"
    )
    return (
        f"queued for {waited:.0f} s, longer than AZT3KNET_QUEUED_RUN_TIMEOUT ({timeout:.0f} s): no dagster-daemon is "
        f"dequeuing runs ({seen}); start `dagster-daemon run -w workspace.yaml`, or cancel this run and submit "
        "it again (with no live daemon the API executes it itself)"
    )


def latest_materializations(instance: DagsterInstance, key: str) -> dict[str, Any]:
    """The latest materialization (run id, time, metadata) of each asset of the graph in partition `key`."""
    assets: dict[str, Any] = {}
    for asset_key in defs.resolve_asset_graph().get_all_asset_keys():
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(asset_key.path), asset_partitions=[key]), limit=1
        ).records
        if not records:
            continue
        entry = records[0].event_log_entry
        materialization = entry.asset_materialization
        assets[asset_key.to_user_string()] = {
            "run_id": entry.run_id,
            "timestamp": entry.timestamp,
            "metadata": {
                name: value.value
                for name, value in (materialization.metadata.items() if materialization else [])
                if name not in HIDDEN_METADATA
            },
        }
    return assets


def record_dns_reconciled(instance: DagsterInstance, metadata: dict[str, Any], *, keys: list[str]) -> None:
    """Record a reconcile done outside a run (CLI `dns reconcile`) as runless `dns_records` materializations, so
    the UI shows it and the drift sensor treats drift that comes back afterwards as new."""
    for key in keys:
        instance.report_runless_asset_event(
            AssetMaterialization(
                asset_key=DNS_RECORDS,
                partition=key,
                metadata={"source": "azt3knet dns reconcile", **metadata},
            )
        )


# -- runs as the API reports them --------------------------------------------------------------------------------


def _timestamp(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()  # storage keeps naive UTC
    return float(value)


def _run_info_fields(record: Any) -> dict[str, Any]:
    run = record.dagster_run
    return {
        "run_id": run.run_id,
        "job": run.job_name,
        "status": run.status.value,
        "partition": run.tags.get(PARTITION_TAG),
        "executor": run.tags.get(EXECUTOR_TAG),
        "created_at": _timestamp(record.create_timestamp),
        "started_at": _timestamp(record.start_time),
        "ended_at": _timestamp(record.end_time),
    }


def _records(instance: DagsterInstance, filters: RunsFilter) -> list[Any]:
    """The newest run matching `filters`; a run whose process is gone is failed first, never shown as running."""
    records = list(instance.get_run_records(filters=filters, limit=1))
    if records and fail_dead_run(instance, records[0].dagster_run) is not None:
        records = list(instance.get_run_records(filters=filters, limit=1))
    return records


def last_run(instance: DagsterInstance, key: str) -> dict[str, Any] | None:
    """The most recent run of the population's partition (any job, whoever launched it): the fields of the API's
    RunInfo."""
    records = _records(instance, RunsFilter(tags={PARTITION_TAG: key}))
    return _run_info_fields(records[0]) if records else None


def _scalar(value: Any) -> bool:
    return isinstance(value, bool | int | float | str) or value is None


def run_detail(instance: DagsterInstance, run_id: str, *, queued_timeout: float = 120.0) -> dict[str, Any] | None:
    """State of one run, the scalar metadata of each asset it materialized, its failure messages and, for a run
    QUEUED longer than `queued_timeout` seconds, why: the fields of the API's RunDetail."""
    records = _records(instance, RunsFilter(run_ids=[run_id]))
    if not records:
        return None
    fields = _run_info_fields(records[0])
    run = records[0].dagster_run
    assets: dict[str, dict[str, Any]] = {}
    errors: list[str] = []
    for entry in instance.all_logs(
        run_id,
        of_type={DagsterEventType.ASSET_MATERIALIZATION, DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE},
    ):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION and entry.asset_materialization:
            materialization = entry.asset_materialization
            assets[materialization.asset_key.to_user_string()] = {
                name: value.value
                for name, value in materialization.metadata.items()
                if name not in HIDDEN_METADATA and _scalar(value.value)
            }
        elif event.event_type == DagsterEventType.STEP_FAILURE:
            data = event.step_failure_data
            if data is not None and data.error is not None:
                errors.append(f"{event.step_key}: {_root_error(data.error).message.strip()}")
        elif event.event_type == DagsterEventType.RUN_FAILURE and not errors:
            errors.append((event.message or entry.message or "run failed").strip())
    return {
        **fields,
        "finished": run.is_finished,
        "success": run.status == DagsterRunStatus.SUCCESS,
        "assets": assets,
        "error": "; ".join(errors)[:2000] or None,
        "queued_reason": queued_reason(instance, records[0], queued_timeout),
    }


# -- a run in progress, and its log -------------------------------------------------------------------------------


def run_id_tagged(instance: DagsterInstance, tag: str, value: str) -> str | None:
    """The id of the newest run carrying tag `tag`=`value` (a run this process launched under a unique tag)."""
    runs = instance.get_runs(filters=RunsFilter(tags={tag: value}), limit=1)
    return runs[0].run_id if runs else None


def materialized_count(instance: DagsterInstance, run_id: str) -> int:
    """How many assets the run has materialized so far."""
    return len(instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records)


def run_log_lines(instance: DagsterInstance, run_id: str) -> list[str]:
    """The run's whole event log as lines: messages, and errors with their stack traces."""
    lines = []
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        kind = event.event_type_value if event is not None else "LOG"
        at = datetime.fromtimestamp(entry.timestamp, UTC).isoformat(timespec="milliseconds")
        lines.append(f"{at} {entry.step_key or '-'} {kind}: {entry.message or entry.user_message}")
        error = None
        if event is not None and event.is_step_failure and event.step_failure_data is not None:
            error = event.step_failure_data.error
        elif event is not None and event.is_run_failure and event.job_failure_data is not None:
            error = event.job_failure_data.error
        if error is not None:
            lines.append(error.to_string())
    return lines
