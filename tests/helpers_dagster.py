"""The real Dagster processes as the UI tests start them: `dagster-webserver` and `dagster-daemon` for the project's
`workspace.yaml` with the test's environment (DAGSTER_HOME = its instance), and the webserver's GraphQL API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from helpers_ports import free_port

REPO = Path(__file__).resolve().parents[1]
WORKSPACE = REPO / "workspace.yaml"
STARTUP_TIMEOUT = 90.0

LOCATION_STATUS = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


def graphql(base_url: str, query: str, variables: dict | None = None) -> dict:
    """The `data` of a GraphQL request to the webserver; fails the test on any GraphQL error."""
    response = httpx.post(f"{base_url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


@contextmanager
def dagster_process(
    args: list[str], log_path: Path, *, stop: signal.Signals, stop_timeout: float
) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m <args>` in the repository with this process's environment, output to `log_path`, in its own
    process group so that stopping it (`stop`, then SIGKILL after `stop_timeout` s) also stops its children."""
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=REPO,
        env=dict(os.environ),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        try:
            os.killpg(proc.pid, stop)
            proc.wait(timeout=stop_timeout)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


def _wait_loaded(proc: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    """Until every code location of the webserver has loaded (fails the test if one is an error)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    status = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dagster-webserver exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base_url}/server_info", timeout=2).status_code == 200:
                entries = graphql(base_url, LOCATION_STATUS)["workspaceOrError"]["locationEntries"]
                status = [(e["loadStatus"], e["locationOrLoadError"]) for e in entries]
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    else:
        pytest.fail(
            f"webserver not ready within {STARTUP_TIMEOUT:.0f}s (locations: {status}):\n{log_path.read_text()[-3000:]}"
        )
    for _, location in status or []:
        assert location["__typename"] == "RepositoryLocation", location


@contextmanager
def running_webserver(log_path: Path) -> Iterator[str]:
    """`dagster-webserver -w workspace.yaml` on a free loopback port. Yields the base URL once the code location
    has loaded; stops the server and its code-server child on exit."""
    port = free_port()
    args = ["dagster_webserver", "-w", str(WORKSPACE), "-h", "127.0.0.1", "-p", str(port)]
    with dagster_process(args, log_path, stop=signal.SIGTERM, stop_timeout=20) as proc:
        base_url = f"http://127.0.0.1:{port}"
        _wait_loaded(proc, base_url, log_path)
        yield base_url


@contextmanager
def running_daemon(log_path: Path) -> Iterator[None]:
    """`dagster-daemon run -w workspace.yaml` (what `dg dev` starts beside the webserver): the instance queues UI
    launches (QueuedRunCoordinator) and the daemon launches them; stopped with SIGINT."""
    args = ["dagster._daemon", "run", "-w", str(WORKSPACE)]
    with dagster_process(args, log_path, stop=signal.SIGINT, stop_timeout=60):
        yield
