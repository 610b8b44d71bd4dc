"""Runs whose process is gone: found before a new run starts, marked failed with a reason, pool slots freed.

A run that the CLI or the API executes in its own process carries owner tags (host, PID namespace, PID, the
process's start time, so a reused PID is not mistaken for the owner), and the owner writes a heartbeat to the
instance while it lives. A `kill -9` leaves such a run STARTED forever and, when the instance limits pools
(`mailcow_api` limit 1 in the shipped dagster.yaml), holding its slot: every later run of any population would
wait for it. Before launching, the CLI and the API call `reap_dead_runs`: runs whose owner is gone (seen
directly on the same host and PID namespace, else by a stale heartbeat) are marked FAILURE with a reason, and
every slot still held by a finished run is freed. Runs without owner tags (launched by dagster-daemon in its
own worker processes) are left to Dagster's run monitoring in the daemon (enabled in every instance YAML we
write).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import psutil
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter

log = logging.getLogger(__name__)

HOST_TAG = "azt3knet/host"
PID_TAG = "azt3knet/pid"
PID_STARTED_TAG = "azt3knet/pid-started"
PID_NAMESPACE_TAG = "azt3knet/pid-namespace"
HEARTBEAT_PREFIX = "azt3knet/heartbeat/"
# A run in one of these states has a process working on it (or about to).
LIVE_STATUSES = [
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]
# Process start times are read from /proc with a clock-tick resolution; allow for rounding.
START_TIME_TOLERANCE = 1.0
HEARTBEAT_INTERVAL = 15.0
# A process seen from elsewhere (another host or PID namespace) is dead when its heartbeat is this old.
HEARTBEAT_STALE = 120.0


def _pid_namespace() -> str:
    """This process's PID namespace: two containers may share a host name, never a PID namespace."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def owner_tags() -> dict[str, str]:
    """Tags naming this process as the one executing a run."""
    pid = os.getpid()
    return {
        HOST_TAG: socket.gethostname(),
        PID_NAMESPACE_TAG: _pid_namespace(),
        PID_TAG: str(pid),
        PID_STARTED_TAG: f"{psutil.Process(pid).create_time():.3f}",
    }


def _heartbeat_key(tags: Mapping[str, str]) -> str:
    parts = (tags.get(HOST_TAG, ""), tags.get(PID_NAMESPACE_TAG, ""), tags.get(PID_TAG, ""))
    return HEARTBEAT_PREFIX + "/".join((*parts, tags.get(PID_STARTED_TAG, "")))


class _Heartbeat:
    """While this process owns runs of an instance, it writes a timestamp under its owner key in the
    instance's key-value store every HEARTBEAT_INTERVAL seconds, so processes that cannot see it (another host
    or container) can tell when it died. Only while held: a finished CLI command or a stopped API stops beating."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[int, DagsterInstance] = {}
        self._next = 0
        self._thread: threading.Thread | None = None

    @staticmethod
    def beat(instance: DagsterInstance) -> None:
        instance.run_storage.set_cursor_values({_heartbeat_key(owner_tags()): f"{time.time():.3f}"})

    def hold(self, instance: DagsterInstance) -> int:
        """Beat now (before a run is created), then every interval until `release(token)`."""
        self.beat(instance)
        with self._lock:
            self._next += 1
            self._held[self._next] = instance
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="azt3knet-heartbeat", daemon=True)
                self._thread.start()
            return self._next

    def release(self, token: int) -> None:
        with self._lock:
            self._held.pop(token, None)

    def _loop(self) -> None:
        while True:
            time.sleep(HEARTBEAT_INTERVAL)
            with self._lock:
                instances = list({id(i): i for i in self._held.values()}.values())
                if not instances:
                    self._thread = None
                    return
            for instance in instances:
                try:
                    self.beat(instance)
                except Exception:  # unreachable storage: the next beat tries again
                    log.debug("heartbeat not written", exc_info=True)


_heartbeat = _Heartbeat()


@contextmanager
def owning_runs(instance: DagsterInstance) -> Iterator[None]:
    """Keep this process's heartbeat going while the block creates and executes runs it owns."""
    token = _heartbeat.hold(instance)
    try:
        yield
    finally:
        _heartbeat.release(token)


def hold_heartbeat(instance: DagsterInstance) -> int:
    """For a long-lived owner (the API's run worker): beat until `release_heartbeat(token)`."""
    return _heartbeat.hold(instance)


def release_heartbeat(token: int) -> None:
    _heartbeat.release(token)


def owner_gone(instance: DagsterInstance, run: DagsterRun) -> str | None:
    """Why the run's owner process is known to be gone, or None (alive, or not knowable: no owner tags).

    Same host and PID namespace: the PID no longer exists, is a zombie, or belongs to a later process.
    Elsewhere: its heartbeat is older than HEARTBEAT_STALE seconds.
    """
    tags = run.tags
    if PID_TAG not in tags:
        return None
    if tags.get(HOST_TAG) == socket.gethostname() and tags.get(PID_NAMESPACE_TAG, "") == _pid_namespace():
        try:
            process = psutil.Process(int(tags[PID_TAG]))
            if process.status() == psutil.STATUS_ZOMBIE:
                return "the process has exited"
            started = tags.get(PID_STARTED_TAG)
            if started is not None and abs(process.create_time() - float(started)) > START_TIME_TOLERANCE:
                return "the process has exited (its PID now belongs to another process)"
            return None
        except psutil.NoSuchProcess:
            return "the process has exited"
        except (ValueError, psutil.Error):  # a malformed tag or an unreadable process: not provably dead
            return None
    key = _heartbeat_key(tags)
    try:
        last = float(instance.run_storage.get_cursor_values({key}).get(key, "nan"))
    except (ValueError, NotImplementedError):
        return None
    age = time.time() - last
    return f"no heartbeat for {age:.0f} s" if age > HEARTBEAT_STALE else None


@dataclass(frozen=True)
class ReapedRun:
    run_id: str
    job: str
    partition: str | None
    reason: str


def fail_dead_run(instance: DagsterInstance, run: DagsterRun) -> ReapedRun | None:
    """Mark `run` FAILURE with a reason and free its pool slots if its owner process is gone; else None."""
    if run.is_finished:
        return None
    why = owner_gone(instance, run)
    if why is None:
        return None
    current = instance.get_run_by_id(run.run_id)  # another process may have reaped it meanwhile
    if current is None or current.is_finished:
        return None
    reason = (
        f"the process that ran this run (pid {run.tags.get(PID_TAG)} on {run.tags.get(HOST_TAG)}) is gone "
        f"({why}): killed or crashed mid-run; marked failed by azt3knet, its pool slots freed. Recreate the "
        "population to converge."
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
