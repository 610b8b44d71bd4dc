"""Concurrent run launching and concurrent first use, on the real backends.

- 30 `POST /api/populate` at once at an API on PostgreSQL (store and Dagster): no server error, and every
  population gets its own run, which completes.
- 20 processes opening the same fresh store at once (SQLite and PostgreSQL): all succeed, one schema.
- 20 processes opening the same fresh Dagster instance at once (SQLite and PostgreSQL storage): all succeed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from azt3knet_pipeline.api.server import serve_api_in_thread
from azt3knet_pipeline.settings import get_settings
from azt3knet_pipeline.store.repository import Store

# One worker runs these in turn: each starts 20-30 processes or requests at once, and two of them together would
# only share the same cores and crowd PostgreSQL's connection limit with the other workers' tests.
pytestmark = pytest.mark.xdist_group("concurrent-launch")

TOKEN = "concurrency-test-admin-token-0123456789"
REQUESTS = 30
FIRST_USES = 20
INSTANCE_FIRST_USES = 20


def test_thirty_concurrent_api_populates_on_postgres_all_get_their_run(
    monkeypatch: pytest.MonkeyPatch, pg_databases: Callable[..., Any]
) -> None:
    with pg_databases("azt3knet_api_store", "azt3knet_api_dagster") as (store_url, dagster_url):
        monkeypatch.setenv("AZT3KNET_DATABASE_URL", store_url)
        monkeypatch.setenv("AZT3KNET_DAGSTER_POSTGRES_URL", dagster_url)
        monkeypatch.setenv("AZT3KNET_ADMIN_TOKEN", TOKEN)
        monkeypatch.setenv("AZT3KNET_API_RUN_EXECUTOR", "embedded")
        get_settings.cache_clear()
        server = serve_api_in_thread()
        headers = {"Authorization": f"Bearer {TOKEN}"}
        try:
            with httpx.Client(base_url=server.url, headers=headers, timeout=120) as client:

                def populate(seed: int) -> httpx.Response:
                    return client.post("/api/populate", json={"count": 3, "seed": seed, "country": "PT"})

                with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
                    responses = list(pool.map(populate, range(1000, 1000 + REQUESTS)))
                statuses = [r.status_code for r in responses]
                assert statuses.count(500) == 0 and set(statuses) == {202}, [r.text for r in responses][:3]
                submitted = {r.json()["key"]: r.json()["run_id"] for r in responses}
                assert len(submitted) == REQUESTS and len(set(submitted.values())) == REQUESTS

                deadline = time.monotonic() + 600  # one worker runs them in turn on a loaded machine
                pending = dict(submitted)
                while pending:
                    for key, run_id in list(pending.items()):
                        run = client.get(f"/api/runs/{run_id}").json()
                        if run["finished"]:
                            assert run["status"] == "SUCCESS" and run["partition"] == key, run
                            pending.pop(key)
                    assert time.monotonic() < deadline, f"runs never finished: {sorted(pending)}"
                    time.sleep(0.5)
                for key, run_id in submitted.items():
                    status = client.get(f"/api/populations/{key}").json()
                    assert status["last_run"]["run_id"] == run_id and status["last_run"]["status"] == "SUCCESS"
        finally:
            server.stop(timeout=120)


OPEN_STORE = """
import sys
from azt3knet_pipeline.store.repository import Store
store = Store.open(sys.argv[1])
store.audit("test", "first.use", "store", "ok", None)
store.dispose()
"""

OPEN_INSTANCE = """
from azt3knet_pipeline.orchestration.instance import get_instance
from azt3knet_pipeline.settings import get_settings
instance = get_instance(get_settings())
instance.add_dynamic_partitions("population", ["first-use"])
assert instance.get_runs() == []
instance.dispose()
"""


def run_at_once(script: str, args: list[str], copies: int, env: dict[str, str]) -> list[subprocess.CompletedProcess]:
    """Start `copies` Python processes of `script` together; wait for all of them."""
    processes = [
        subprocess.Popen([sys.executable, "-c", script, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(copies)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return results


@contextmanager
def fresh_store_url(kind: str, tmp_path: Path, databases: Callable[..., Any]) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh' / 'store.db'}"
        return
    with databases("azt3knet_first_use") as (url,):
        yield url


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_twenty_concurrent_first_uses_of_a_fresh_store_all_succeed(
    kind: str, tmp_path: Path, pg_databases: Callable[..., Any]
) -> None:
    with fresh_store_url(kind, tmp_path, pg_databases) as url:
        results = run_at_once(OPEN_STORE, [url], FIRST_USES, dict(os.environ))
        failures = [r.stderr.decode()[-1500:] for r in results if r.returncode != 0]
        assert not failures, f"{len(failures)} of {FIRST_USES} failed; first: {failures[0]}"
        store = Store.open(url)
        try:
            assert len([e for e in store.audit_entries(limit=100) if e.action == "first.use"]) == FIRST_USES
        finally:
            store.dispose()
        if kind == "sqlite":
            lock = Path(url.split("///", 1)[1] + ".lock")
            assert lock.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_concurrent_first_uses_of_a_fresh_dagster_instance_all_succeed(
    kind: str, isolated_env: Path, pg_databases: Callable[..., Any]
) -> None:
    env = dict(os.environ)
    if kind == "sqlite":
        results = run_at_once(OPEN_INSTANCE, [], INSTANCE_FIRST_USES, env)
    else:
        with pg_databases("azt3knet_first_dagster") as (url,):
            env["AZT3KNET_DAGSTER_POSTGRES_URL"] = url
            results = run_at_once(OPEN_INSTANCE, [], INSTANCE_FIRST_USES, env)
    failures = [r.stderr.decode()[-1500:] for r in results if r.returncode != 0]
    assert not failures, f"{len(failures)} of {INSTANCE_FIRST_USES} failed; first: {failures[0]}"
