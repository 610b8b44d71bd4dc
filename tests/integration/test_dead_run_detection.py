"""Which runs count as dead, on a real Dagster instance (the CLI's SQLite default): owner process exited or
its PID reused (same host), a stale heartbeat (another host or container), never a live owner or a run
without owner tags (the daemon's own run workers)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus
from dagster._core.events import DagsterEvent

from azt3knet_pipeline.definitions import defs
from azt3knet_pipeline.orchestration import dead_runs
from azt3knet_pipeline.orchestration.instance import get_instance
from azt3knet_pipeline.settings import get_settings


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    opened = get_instance(get_settings())
    yield opened
    opened.dispose()


def started_run(instance: DagsterInstance, tags: dict[str, str]) -> str:
    run = instance.create_run_for_job(
        job_def=defs.resolve_job_def("profiles_job"), tags=tags, status=DagsterRunStatus.NOT_STARTED
    )
    # what the executing process reports when it starts
    instance.handle_run_event(
        run.run_id, DagsterEvent(event_type_value=DagsterEventType.RUN_START.value, job_name=run.job_name)
    )
    assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED
    return run.run_id


def exited_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def elsewhere(pid: str = "4242") -> dict[str, str]:
    return {**dead_runs.owner_tags(), dead_runs.HOST_TAG: "another-host", dead_runs.PID_TAG: pid}


def test_dead_owners_are_failed_live_and_untagged_runs_are_left(instance: DagsterInstance) -> None:
    mine = started_run(instance, dead_runs.owner_tags())
    untagged = started_run(instance, {})
    exited = started_run(instance, {**dead_runs.owner_tags(), dead_runs.PID_TAG: str(exited_pid())})
    reused = started_run(instance, {**dead_runs.owner_tags(), dead_runs.PID_STARTED_TAG: "1000.000"})
    remote_fresh = started_run(instance, elsewhere("4242"))
    remote_stale = started_run(instance, elsewhere("4343"))
    remote_silent = started_run(instance, elsewhere("4444"))  # no heartbeat ever: not provably dead
    now = time.time()
    instance.run_storage.set_cursor_values(
        {
            dead_runs._heartbeat_key(elsewhere("4242")): f"{now - 5:.3f}",
            dead_runs._heartbeat_key(elsewhere("4343")): f"{now - dead_runs.HEARTBEAT_STALE - 60:.3f}",
        }
    )

    reaped = {r.run_id: r.reason for r in dead_runs.reap_dead_runs(instance)}

    assert set(reaped) == {exited, reused, remote_stale}
    assert "has exited" in reaped[exited] and "another process" in reaped[reused]
    assert "no heartbeat" in reaped[remote_stale]
    for run_id in reaped:
        run = instance.get_run_by_id(run_id)
        assert run.status == DagsterRunStatus.FAILURE
        failure = instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)[-1]
        assert "is gone" in failure.dagster_event.message
    for run_id in (mine, untagged, remote_fresh, remote_silent):
        assert instance.get_run_by_id(run_id).status == DagsterRunStatus.STARTED
    assert dead_runs.reap_dead_runs(instance) == []  # nothing twice


def test_the_generated_instance_yaml_enables_run_monitoring(instance: DagsterInstance) -> None:
    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 30


def test_the_heartbeat_is_written_while_runs_are_owned(instance: DagsterInstance) -> None:
    key = dead_runs._heartbeat_key(dead_runs.owner_tags())
    before = time.time()
    with dead_runs.owning_runs(instance):
        written = float(instance.run_storage.get_cursor_values({key})[key])
    assert written >= before - 1
    assert os.getpid() == int(dead_runs.owner_tags()[dead_runs.PID_TAG])
