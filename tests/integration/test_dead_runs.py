"""A run killed (SIGKILL) mid-mailboxes never blocks the next one.

The documented deployment: PostgreSQL for the store and for Dagster, the repository's infra/dagster.yaml (pool
`mailcow_api` limited to 1 run step at a time, run monitoring on), no daemon. `azt3knet populate` runs in a
subprocess against the Mailcow stand-in slowed down so the kill lands while the mailboxes step holds its slot.
The next `azt3knet recreate` must complete (bounded by a subprocess timeout: a blocked run would hang), and the
killed run is then FAILURE with a reason. The SQLite variant uses the instance YAML the CLI generates.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from dagster import DagsterEventType, DagsterRunStatus, RunsFilter
from helpers_ports import free_port
from helpers_sandbox import domain_mailboxes, mail_domain, mailcow, wait_healthy

from azt3knet_pipeline.api.server import serve_api_in_thread
from azt3knet_pipeline.orchestration.instance import get_instance
from azt3knet_pipeline.sandbox.mailcow import MailcowSandboxConfig
from azt3knet_pipeline.sandbox.run import SANDBOX_ZONE, Sandbox
from azt3knet_pipeline.settings import get_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
KEY = "killed"
COUNT = 40
CLI = [sys.executable, "-m", "azt3knet_pipeline.cli.app"]
RECREATE_BOUND_SECONDS = 180  # generous on a loaded 2-core machine; a blocked run waits forever


@contextmanager
def backend(kind: str, home: Path, monkeypatch: pytest.MonkeyPatch, databases: Callable[..., Any]) -> Iterator[None]:
    if kind == "sqlite":
        yield
        return
    with databases("azt3knet_kill_store", "azt3knet_kill_dagster") as (store_url, dagster_url):
        dagster_home = home / "dagster"
        dagster_home.mkdir(parents=True)
        # the shipped file, pools and all
        shutil.copy(REPO_ROOT / "infra" / "dagster.yaml", dagster_home / "dagster.yaml")
        monkeypatch.setenv("AZT3KNET_DATABASE_URL", store_url)
        monkeypatch.setenv("AZT3KNET_DAGSTER_POSTGRES_URL", dagster_url)
        yield


def open_instance() -> Any:
    get_settings.cache_clear()
    return get_instance(get_settings())


@pytest.mark.parametrize("kind", ["postgres", "sqlite"])
def test_sigkilled_run_is_failed_and_does_not_block_the_next_recreate(
    kind: str,
    isolated_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    sandbox_factory: Callable[..., Sandbox],
    pg_databases: Callable[..., Any],
) -> None:
    with backend(kind, isolated_env, monkeypatch, pg_databases):
        sandbox = sandbox_factory(
            mailcow_config=MailcowSandboxConfig(
                mailcow_hostname=f"mail.{SANDBOX_ZONE}", dkim_reuse_keys=True, latency_ms=150
            )
        )
        env = {**os.environ, "MAILCOW_CONCURRENCY": "2"}
        populate = [*CLI, "populate", "-n", str(COUNT), "--seed", "7", "--country", "ES", "--key", KEY]
        process = subprocess.Popen([*populate, "--create-mailboxes", "--quiet"], env=env, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 180
            while len(domain_mailboxes(sandbox, mail_domain(KEY))) < 4:
                assert process.poll() is None, process.communicate()[1].decode()[-2000:]
                assert time.monotonic() < deadline, "the populate never reached the mailboxes step"
                time.sleep(0.02)
            process.kill()  # SIGKILL: no finally blocks, no run-failure event, the pool slot stays claimed
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
        assert process.returncode == -9

        instance = open_instance()
        killed = instance.get_runs(filters=RunsFilter(tags={"dagster/partition": KEY}))
        assert len(killed) == 1 and killed[0].status == DagsterRunStatus.STARTED
        killed_id = killed[0].run_id
        storage = instance.event_log_storage
        assert instance.run_monitoring_enabled
        if kind == "postgres":  # the shipped dagster.yaml limits the pool: the dead run holds its only slot
            info = storage.get_concurrency_info("mailcow_api")
            assert info.slot_count == 1 and {s.run_id for s in info.claimed_slots} == {killed_id}

        mailcow(sandbox).set_faults(latency_ms=0)
        result = subprocess.run(
            [*CLI, "recreate", KEY, "--json"], env=os.environ, capture_output=True, timeout=RECREATE_BOUND_SECONDS
        )
        assert result.returncode == 0, result.stderr.decode()[-2000:]

        run = instance.get_run_by_id(killed_id)
        assert run is not None and run.status == DagsterRunStatus.FAILURE
        failures = instance.all_logs(killed_id, of_type=DagsterEventType.RUN_FAILURE)
        assert failures and "is gone" in (failures[-1].dagster_event.message or "")
        if kind == "postgres":
            assert not storage.get_concurrency_info("mailcow_api").claimed_slots
        assert len(domain_mailboxes(sandbox, mail_domain(KEY))) == COUNT
        instance.dispose()


API_TOKEN = "dead-runs-test-admin-token-0123456789"


def test_api_killed_mid_run_reports_it_failed_and_the_next_run_completes(
    isolated_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    sandbox_factory: Callable[..., Sandbox],
    pg_databases: Callable[..., Any],
) -> None:
    """The API process dies (SIGKILL) while its worker runs a populate: a new API never reports that run as
    running (it is FAILURE with the reason), and a recreate through the new API completes."""

    with backend("postgres", isolated_env, monkeypatch, pg_databases):
        sandbox = sandbox_factory(
            mailcow_config=MailcowSandboxConfig(
                mailcow_hostname=f"mail.{SANDBOX_ZONE}", dkim_reuse_keys=True, latency_ms=150
            )
        )
        monkeypatch.setenv("AZT3KNET_ADMIN_TOKEN", API_TOKEN)
        monkeypatch.setenv("MAILCOW_CONCURRENCY", "2")
        auth = {"Authorization": f"Bearer {API_TOKEN}"}
        port = free_port()
        serve = [*CLI, "api", "serve", "--host", "127.0.0.1", "--port", str(port), "--executor", "embedded"]
        api = subprocess.Popen(serve, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_healthy(api, f"http://127.0.0.1:{port}", timeout=120)
            body = {"count": COUNT, "seed": 8, "country": "ES", "key": KEY, "create_mailboxes": True}
            response = httpx.post(f"http://127.0.0.1:{port}/api/populate", json=body, headers=auth, timeout=60)
            assert response.status_code == 202, response.text
            run_id = response.json()["run_id"]
            deadline = time.monotonic() + 180
            while len(domain_mailboxes(sandbox, mail_domain(KEY))) < 4:
                assert api.poll() is None, api.communicate()[1].decode()[-2000:]
                assert time.monotonic() < deadline, "the run never reached the mailboxes step"
                time.sleep(0.02)
            api.kill()
        finally:
            if api.poll() is None:
                api.kill()
            api.wait(timeout=30)

        mailcow(sandbox).set_faults(latency_ms=0)
        get_settings.cache_clear()
        server = serve_api_in_thread()
        try:
            with httpx.Client(base_url=server.url, headers=auth, timeout=60) as client:
                run = client.get(f"/api/runs/{run_id}").json()
                assert run["status"] == "FAILURE" and run["finished"] and not run["success"], run
                assert "is gone" in (run["error"] or ""), run
                status = client.get(f"/api/populations/{KEY}").json()
                assert status["last_run"]["run_id"] == run_id and status["last_run"]["status"] == "FAILURE"

                again = client.post(f"/api/populations/{KEY}/recreate")
                assert again.status_code == 202, again.text
                deadline = time.monotonic() + RECREATE_BOUND_SECONDS
                while not (rerun := client.get(again.json()["run_url"]).json())["finished"]:
                    assert time.monotonic() < deadline, f"the recreate was blocked: {rerun}"
                    time.sleep(0.5)
                assert rerun["status"] == "SUCCESS", rerun
        finally:
            server.stop(timeout=120)
        assert len(domain_mailboxes(sandbox, mail_domain(KEY))) == COUNT
