"""API hardening (issue 15.7): a token in the query string is rejected and never logged, uvicorn's access log
carries no query strings of API routes, and counts, seeds and flags are strictly typed (no coercion)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers_populations import open_store
from helpers_ports import free_port
from helpers_sandbox import wait_healthy

from azt3knet_pipeline.api.server import serve_api_in_thread

TOKEN = "hardening-admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def serve_cli(port: int) -> subprocess.Popen[str]:
    """`azt3knet api serve` as an operator starts it, access log on (uvicorn's default at --log-level info)."""
    return subprocess.Popen(
        [sys.executable, "-m", "azt3knet_pipeline.cli.app", "api", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "AZT3KNET_ADMIN_TOKEN": TOKEN, "AZT3KNET_API_RUN_EXECUTOR": "embedded"},
    )


def test_query_string_tokens_are_rejected_and_no_query_string_reaches_the_access_log(isolated_env: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = serve_cli(port)
    try:
        wait_healthy(proc, url)
        attempts = {
            "token param, valid header too": httpx.get(f"{url}/api/populations?token={TOKEN}", headers=AUTH),
            "access_token param, no header": httpx.get(f"{url}/api/populations?access_token={TOKEN}"),
            "token as another param's value": httpx.get(f"{url}/api/populations?offset=0&x={TOKEN}", headers=AUTH),
            "token-named param, other value": httpx.get(f"{url}/api/populations?api_key=whatever", headers=AUTH),
            "unknown route with token": httpx.post(f"{url}/api/nowhere?token={TOKEN}", headers=AUTH),
        }
        ordinary = httpx.get(f"{url}/api/populations?offset=0&limit=5", headers=AUTH)
    finally:
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)

    for name, response in attempts.items():
        assert response.status_code == 401, name
        assert response.json()["error"] == "unauthorized", name
        assert TOKEN not in response.text
    assert ordinary.status_code == 200 and ordinary.json()["limit"] == 5

    logged = stdout + stderr
    assert TOKEN not in logged and "whatever" not in logged
    access = [line for line in logged.splitlines() if '"GET /api/' in line or '"POST /api/' in line]
    assert len(access) == len(attempts) + 1, logged  # the access log is on, and has every request
    assert all("?" not in line for line in access), access
    assert sum(" 401" in line for line in access) == len(attempts)

    store = open_store()
    denied = [e for e in store.audit_entries() if e.action == "auth.failed"]
    reasons = [json.loads(e.detail or "{}")["reason"] for e in denied]
    assert reasons.count("token_in_query") == len(attempts)
    assert all(TOKEN not in (e.detail or "") and "?" not in e.target for e in denied)
    # The API process made the store: private from the start.
    database = isolated_env / "azt3knet.db"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert stat.S_IMODE(isolated_env.stat().st_mode) == 0o700


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[httpx.Client]:
    monkeypatch.setenv("AZT3KNET_ADMIN_TOKEN", TOKEN)
    server = serve_api_in_thread()
    try:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as client:
            yield client
    finally:
        server.stop(timeout=60)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("count", True),
        ("count", "5"),
        ("count", 5.0),
        ("count", "5.0"),
        ("seed", True),
        ("seed", 4.0),
        ("seed", 4.5),
        ("reference_year", "2026"),
        ("reference_year", 2026.0),
        ("preview", "true"),
        ("preview", 1),
        ("create_mailboxes", "yes"),
        ("create_mailboxes", 0),
    ],
)
def test_counts_seeds_and_flags_are_not_coerced(api: httpx.Client, field: str, value: object) -> None:
    body: dict[str, object] = {"count": 3, "seed": 42, "country": "ES", "preview": True, field: value}
    response = api.post("/api/populate", json=body)
    assert response.status_code == 422, response.text
    assert [issue["loc"][:2] for issue in response.json()["detail"]] == [["body", field]] * len(
        response.json()["detail"]
    )
    assert open_store().count_populations() == 0


def test_well_typed_requests_still_work(api: httpx.Client) -> None:
    numeric = api.post("/api/populate", json={"count": 3, "seed": 42, "country": "ES", "preview": True})
    string_seed = api.post("/api/populate", json={"count": 3, "seed": "42", "country": "ES", "preview": True})
    named_seed = api.post("/api/populate", json={"count": 2, "seed": "alpha", "country": "ES", "preview": True})
    assert numeric.status_code == string_seed.status_code == named_seed.status_code == 200
    # A seed string of digits names the same population as the integer (as on the CLI, where every seed is text).
    assert numeric.json()["content_hash"] == string_seed.json()["content_hash"]
    assert named_seed.json()["key"] == "seed-alpha"
