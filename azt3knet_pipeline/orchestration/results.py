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
    ExecuteInProcessResult,
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


def outcome_of(result: ExecuteInProcessResult, *, key: str, job_name: str) -> RunOutcome:
    """The RunOutcome of a run executed in this process: metadata of each asset it materialized, its failures."""
    metadata: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        metadata[materialization.asset_key.to_user_string()] = {
            name: value.value for name, value in materialization.metadata.items()
        }
    error = None
    failures: list[StepFailure] = []
    if not result.success:
        messages = []
        for event in result.all_events:
            data = event.step_failure_data if event.is_step_failure else None
            if data is not None and data.error is not None:
                info = _root_error(data.error)
                message = info.message.strip()
                messages.append(f"{event.step_key}: {message}")
                cause = message.split(f"{info.cls_name}: ", 1)[-1] if info.cls_name else message
                if info.cls_name and info.cls_name != "Failure":  # a Failure's message is the whole story
                    cause = f"{info.cls_name}: {cause}"
                failures.append(StepFailure(str(event.step_key), cause, data.error.to_string()))
        error = "; ".join(messages) or "run failed"
    return RunOutcome(
        key=key,
        job=job_name,
        run_id=result.run_id,
        success=result.success,
        metadata=metadata,
        error=error,
        failures=failures,
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


def run_detail(instance: DagsterInstance, run_id: str) -> dict[str, Any] | None:
    """State of one run, the scalar metadata of each asset it materialized, and its failure messages: the fields
    of the API's RunDetail."""
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
