"""Runs whose process is gone: found before a new run starts, marked failed with a reason, pool slots freed.

A run that the CLI or the API executes in its own process carries owner tags (host, PID, the process's start
time, so a reused PID is not mistaken for the owner). A `kill -9` leaves such a run STARTED forever and, when
the instance limits pools (`mailcow_api` limit 1 in the shipped dagster.yaml), holding its slot: every later
run of any population would wait for it. Before launching, the CLI and the API call `reap_dead_runs`: runs of
this host whose owner process no longer exists are marked FAILURE with a reason, and every slot still held by a
finished run is freed. Runs without owner tags (launched by dagster-daemon in their own worker process) and runs
of other hosts are left to Dagster's run monitoring in the daemon (enabled in every instance YAML we write).
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass

import psutil
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter

log = logging.getLogger(__name__)

HOST_TAG = "azt3knet/host"
PID_TAG = "azt3knet/pid"
PID_STARTED_TAG = "azt3knet/pid-started"
# A run in one of these states has a process working on it (or about to).
LIVE_STATUSES = [
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]
# Process start times are read from /proc with a clock-tick resolution; allow for rounding.
START_TIME_TOLERANCE = 1.0


def owner_tags() -> dict[str, str]:
    """Tags naming this process as the one executing a run."""
    pid = os.getpid()
    return {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(pid),
        PID_STARTED_TAG: f"{psutil.Process(pid).create_time():.3f}",
    }


def owner_gone(run: DagsterRun) -> bool:
    """Whether the run names an owner process on this host that no longer exists (or is a zombie, or whose
    PID now belongs to a later process). False when it cannot be known: no owner tags, another host."""
    tags = run.tags
    if tags.get(HOST_TAG) != socket.gethostname() or PID_TAG not in tags:
        return False
    try:
        process = psutil.Process(int(tags[PID_TAG]))
        if process.status() == psutil.STATUS_ZOMBIE:
            return True
        started = tags.get(PID_STARTED_TAG)
        return started is not None and abs(process.create_time() - float(started)) > START_TIME_TOLERANCE
    except psutil.NoSuchProcess:
        return True
    except (ValueError, psutil.Error):  # a malformed tag or an unreadable process: not provably dead
        return False


@dataclass(frozen=True)
class ReapedRun:
    run_id: str
    job: str
    partition: str | None
    reason: str


def fail_dead_run(instance: DagsterInstance, run: DagsterRun) -> ReapedRun | None:
    """Mark `run` FAILURE with a reason and free its pool slots if its owner process is gone; else None."""
    if run.is_finished or not owner_gone(run):
        return None
    current = instance.get_run_by_id(run.run_id)  # another process may have reaped it meanwhile
    if current is None or current.is_finished:
        return None
    reason = (
        f"the process that ran this run (pid {run.tags.get(PID_TAG)} on {run.tags.get(HOST_TAG)}) is gone: "
        "killed or crashed mid-run; marked failed by azt3knet, its pool slots freed. Recreate the population "
        "to converge."
    )
    instance.report_run_failed(current, message=reason)
    free_slots(instance, run.run_id)
    log.warning("run %s: %s", run.run_id, reason)
    return ReapedRun(run.run_id, run.job_name, run.tags.get("dagster/partition"), reason)


def free_slots(instance: DagsterInstance, run_id: str) -> None:
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        storage.free_concurrency_slots_for_run(run_id)


def free_slots_of_finished_runs(instance: DagsterInstance) -> list[str]:
    """Free pool slots (claimed or pending) still held by runs that are finished or no longer exist.
    Dagster does not free them when a run is marked failed from outside its process."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    holders = set(storage.get_concurrency_run_ids())  # runs with pending (or assigned) steps
    keys = sorted(storage.get_concurrency_keys())
    for info in storage.get_concurrency_infos(keys).values() if keys else []:
        holders |= {slot.run_id for slot in info.claimed_slots}
    if not holders:
        return []
    live = {
        record.dagster_run.run_id
        for record in instance.get_run_records(filters=RunsFilter(run_ids=sorted(holders), statuses=LIVE_STATUSES))
    }
    freed = sorted(holders - live)
    for run_id in freed:
        storage.free_concurrency_slots_for_run(run_id)
    return freed


def reap_dead_runs(instance: DagsterInstance) -> list[ReapedRun]:
    """Fail every live run of this host whose owner process is gone, then free the slots finished runs hold."""
    reaped = []
    for record in instance.get_run_records(filters=RunsFilter(statuses=LIVE_STATUSES)):
        done = fail_dead_run(instance, record.dagster_run)
        if done is not None:
            reaped.append(done)
    free_slots_of_finished_runs(instance)
    return reaped
