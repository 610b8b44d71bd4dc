"""Both stand-ins expose the same control API, in Python (`app.state.sandbox`) and over HTTP (`/_sandbox/`):
counters, state, faults, reset. Tests and the demo rely on these names on either stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from azt3knet_pipeline.sandbox.desec import DEFAULT_TOKEN, DesecSandboxConfig, SandboxDomain, create_desec_app
from azt3knet_pipeline.sandbox.mailcow import MailcowSandboxConfig, create_mailcow_app
from azt3knet_pipeline.serving import RunningServer, serve_in_thread

ZONE = "control.test"
# One authenticated read per stand-in: (path, headers).
READS = {
    "mailcow": ("/api/v1/get/domain/all", {"X-API-Key": "SANDBOX-RW-KEY"}),
    "desec": ("/api/v1/domains/", {"Authorization": f"Token {DEFAULT_TOKEN}"}),
}


def _app(kind: str) -> Any:
    if kind == "mailcow":
        return create_mailcow_app(MailcowSandboxConfig(fault_seed=1))
    return create_desec_app(DesecSandboxConfig(domains=[SandboxDomain(name=ZONE)], fault_seed=1))


@pytest.fixture(params=["mailcow", "desec"])
def stand_in(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any, RunningServer]]:
    app = _app(request.param)
    with serve_in_thread(app) as server:
        yield request.param, app, server


def test_counters_count_real_requests_and_reset(stand_in: tuple[str, Any, RunningServer]) -> None:
    kind, app, server = stand_in
    sb = app.state.sandbox
    path, headers = READS[kind]
    assert httpx.get(f"{server.url}{path}", headers=headers).status_code == 200
    assert sb.counters()["reads"] == 1 and sb.counters()["writes"] == 0
    assert httpx.get(f"{server.url}/_sandbox/counters").json() == sb.counters()
    sb.counters()["reads"] = 99  # a copy: the stand-in's own count is untouched
    assert sb.counters()["reads"] == 1
    assert httpx.post(f"{server.url}/_sandbox/counters/reset").json() == {"ok": True}
    assert sb.counters()["reads"] == 0


def test_faults_are_read_and_set_the_same_way(stand_in: tuple[str, Any, RunningServer]) -> None:
    kind, app, server = stand_in
    sb = app.state.sandbox
    assert sb.faults()["error_rate"] == 0.0
    assert sb.set_faults(error_rate=1.0)["error_rate"] == 1.0
    path, headers = READS[kind]
    assert httpx.get(f"{server.url}{path}", headers=headers).status_code in (502, 503)
    changed = httpx.post(f"{server.url}/_sandbox/faults", json={"error_rate": 0.0})
    assert changed.status_code == 200 and changed.json()["error_rate"] == 0.0
    assert httpx.get(f"{server.url}/_sandbox/faults").json()["error_rate"] == 0.0 == sb.faults()["error_rate"]
    assert httpx.get(f"{server.url}{path}", headers=headers).status_code == 200
    assert httpx.post(f"{server.url}/_sandbox/faults", json={"error_rate": 2}).status_code == 400
    assert sb.faults()["error_rate"] == 0.0


def test_state_and_reset(stand_in: tuple[str, Any, RunningServer]) -> None:
    kind, app, server = stand_in
    sb = app.state.sandbox
    assert httpx.get(f"{server.url}/_sandbox/state").json() == sb.state()
    if kind == "mailcow":
        added = httpx.post(
            f"{server.url}/api/v1/add/domain", json={"domain": ZONE}, headers={"X-API-Key": "SANDBOX-RW-KEY"}
        )
        assert added.json()[-1]["msg"] == ["domain_added", ZONE]
        assert [d["domain_name"] for d in sb.state()["domains"]] == [ZONE]
    else:
        sb.add_domain("extra.test")
        assert {d["name"] for d in sb.state()["domains"]} == {ZONE, "extra.test"}
    assert httpx.post(f"{server.url}/_sandbox/reset").json() == {"ok": True}
    expected = [] if kind == "mailcow" else [ZONE]  # deSEC goes back to its configured domains
    names = [d.get("domain_name", d.get("name")) for d in sb.state()["domains"]]
    assert names == expected
