"""Queued runs never hang: the API routes a run to dagster-daemon only while a daemon is alive now, and a run left
QUEUED past AZT3KNET_QUEUED_RUN_TIMEOUT is reported by GET /api/runs/{id} with the reason.

The daemon's liveness is what it writes to the real instance: heartbeats (DaemonHeartbeat rows, as
`dagster-daemon` writes them every 30 s) and the queue (runs submitted to the QueuedRunCoordinator)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

from dagster import DagsterRunStatus
from dagster._daemon.types import DaemonHeartbeat
from test_api import Api, spec_body, start_api  # noqa: F401 - start_api is a fixture

from azt3knet_pipeline.orchestration.instance import get_instance
from azt3knet_pipeline.orchestration.launch import DAEMON_TYPE, RunExecutor
from azt3knet_pipeline.settings import get_settings


def beat(instance, age_seconds: float, errors: list | None = None) -> None:
    """A heartbeat of the daemon's run-queue loop, `age_seconds` old."""
    instance.add_daemon_heartbeat(
        DaemonHeartbeat(
            timestamp=time.time() - age_seconds, daemon_type=DAEMON_TYPE, daemon_id=uuid.uuid4().hex, errors=errors
        )
    )


def test_auto_routes_to_the_daemon_only_while_it_is_alive_now(isolated_env: Path) -> None:
    instance = get_instance(get_settings())
    executor = RunExecutor(lambda: instance, "auto", queued_timeout=120)
    try:
        assert executor.choose(instance) == "embedded"  # never a heartbeat
        beat(instance, age_seconds=60)  # died a minute ago: a run queued for it would wait forever
        assert executor.choose(instance) == "embedded"
        beat(instance, age_seconds=2)
        assert executor.choose(instance) == "daemon"

        # Alive by its heartbeat, but a run waits in the queue past the bound: the queue is not moving.
        submitted = RunExecutor(lambda: instance, "daemon", queued_timeout=120).submit("seed-q", "profiles_job")
        assert instance.get_run_by_id(submitted.run_id).status == DagsterRunStatus.QUEUED
        stuck = RunExecutor(lambda: instance, "auto", queued_timeout=0.5)
        time.sleep(1.0)
        beat(instance, age_seconds=0)
        assert stuck.choose(instance) == "embedded"
        assert executor.choose(instance) == "daemon"  # within its own (longer) bound the queue still counts as moving
    finally:
        executor.shutdown()


def test_a_run_queued_past_the_bound_is_reported_with_the_reason(start_api: Callable[..., Api]) -> None:  # noqa: F811
    api = start_api(AZT3KNET_API_RUN_EXECUTOR="daemon", AZT3KNET_QUEUED_RUN_TIMEOUT="1")  # no daemon runs
    response = api.client.post("/api/populate", json=spec_body())
    assert response.status_code == 202, response.text
    run_url = response.json()["run_url"]
    first = api.client.get(run_url).json()
    assert first["status"] == "QUEUED"
    time.sleep(1.5)
    run = api.client.get(run_url).json()
    assert run["status"] == "QUEUED" and not run["finished"]
    reason = run["queued_reason"]
    assert reason.startswith("queued for ") and "longer than AZT3KNET_QUEUED_RUN_TIMEOUT (1 s)" in reason
    assert "no daemon heartbeat was ever recorded" in reason and "dagster-daemon run" in reason
