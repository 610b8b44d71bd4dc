"""The REST API over real HTTP: uvicorn on a loopback port, the real store and Dagster instance, the Mailcow and
deSEC stand-ins where mailboxes and DNS are involved, `dagster-daemon` for the queued path."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helpers_populations as populations
import httpx
import pytest
from cryptography.fernet import Fernet
from dagster import DagsterInstance, DagsterRunStatus
from helpers_ports import free_port
from helpers_sandbox import wait_healthy

from azt3knet_pipeline.api.context import ApiContext
from azt3knet_pipeline.api.server import serve_api_in_thread
from azt3knet_pipeline.clients.factory import desec_client, secret_box
from azt3knet_pipeline.clients.mailcow import DomainSpec, MailcowClient
from azt3knet_pipeline.domain.dns import RRset
from azt3knet_pipeline.domain.generation import generate_population
from azt3knet_pipeline.domain.models import PopulationSpec
from azt3knet_pipeline.orchestration.instance import ensure_dagster_home
from azt3knet_pipeline.sandbox.run import SANDBOX_MAILCOW_KEY, Sandbox
from azt3knet_pipeline.services.credentials import decrypt_bundle
from azt3knet_pipeline.serving import RunningServer
from azt3knet_pipeline.settings import get_settings
from azt3knet_pipeline.store.repository import AuditEntry, Store

TOKEN = "api-test-admin-token-0123456789"
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Api:
    server: RunningServer
    client: httpx.Client  # authenticated
    anon: httpx.Client  # no Authorization header

    @property
    def url(self) -> str:
        return self.server.url


@pytest.fixture
def start_api(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Api]]:
    """Start the API (after any env the test sets) with the admin token; stop it at the end."""
    started: list[Api] = []

    def start(**env: str) -> Api:
        monkeypatch.setenv("AZT3KNET_ADMIN_TOKEN", TOKEN)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        server = serve_api_in_thread()
        api = Api(
            server=server,
            client=httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60),
            anon=httpx.Client(base_url=server.url, timeout=60),
        )
        started.append(api)
        return api

    yield start
    for api in started:
        api.client.close()
        api.anon.close()
        api.server.stop(timeout=120)


def wait_run(api: Api, run_url: str, timeout: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = api.client.get(run_url)
        assert response.status_code == 200, response.text
        run = response.json()
        if run["finished"]:
            return run
        assert time.monotonic() < deadline, f"run did not finish: {run}"
        time.sleep(0.2)


def wait_population(api: Api, key: str, done: Callable[[dict[str, Any]], bool], timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        response = api.client.get(f"/api/populations/{key}")
        assert response.status_code == 200, response.text
        body = response.json()
        if done(body):
            return body
        assert time.monotonic() < deadline, f"population {key} did not reach the state: {body}"
        time.sleep(0.2)


def run_finished(body: dict[str, Any]) -> bool:
    return body["last_run"] is not None and body["last_run"]["status"] in {"SUCCESS", "FAILURE", "CANCELED"}


def audit_rows() -> list[AuditEntry]:
    store = Store.open(get_settings().resolved_database_url)
    try:
        return store.audit_entries()
    finally:
        store.dispose()


def spec_body(**fields: Any) -> dict[str, Any]:
    return {"count": 4, "seed": 11, "country": "ES", **fields}


# -- authentication ---------------------------------------------------------------------------------------------

PROTECTED = [
    ("GET", "/openapi.json"),
    ("POST", "/api/populate"),
    ("GET", "/api/populations"),
    ("GET", "/api/populations/seed-1"),
    ("POST", "/api/populations/seed-1/recreate"),
    ("DELETE", "/api/populations/seed-1"),
    ("GET", "/api/populations/seed-1/credentials"),
    ("GET", "/api/runs/00000000-0000-0000-0000-000000000000"),
]


def test_every_route_but_healthz_needs_the_token_and_failures_are_audited_without_it(
    start_api: Callable[..., Api], caplog: pytest.LogCaptureFixture
) -> None:
    api = start_api()
    assert api.anon.get("/healthz").json() == {"status": "ok"}
    wrong_same_length = "X" * len(TOKEN)
    wrong_headers = [
        {},
        {"Authorization": f"Bearer {wrong_same_length}"},
        {"Authorization": "Bearer short-guess"},
        {"Authorization": f"Basic {TOKEN}"},  # the right secret in the wrong scheme
        {"Authorization": f"Bearer {TOKEN}x"},
    ]
    for method, path in PROTECTED:
        for headers in wrong_headers:
            response = api.anon.request(method, path, headers=headers, json=spec_body(preview=True))
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.json()["error"] == "unauthorized"
            assert response.headers["www-authenticate"] == "Bearer"
    # checked before routing and body parsing: malformed bodies and unknown paths reveal nothing either
    extra = [
        api.anon.post("/api/populate", content=b"{not json", headers={"Content-Type": "application/json"}),
        api.anon.get("/api/populations/Not_A_Key"),
        api.anon.get("/api/no-such-route"),
        api.anon.get("/docs"),
    ]
    assert [response.status_code for response in extra] == [401] * len(extra)
    failures = [row for row in audit_rows() if row.action == "auth.failed"]
    assert len(failures) == len(PROTECTED) * len(wrong_headers) + len(extra)
    assert {row.target for row in failures} == {path for _, path in PROTECTED} | {
        "/api/populate",
        "/api/populations/Not_A_Key",
        "/api/no-such-route",
        "/docs",
    }
    assert all(row.actor == "api" and row.outcome == "denied" for row in failures)
    assert all(json.loads(row.detail or "{}")["client"] == "127.0.0.1" for row in failures)
    stored = " ".join(f"{row.target} {row.detail}" for row in failures)
    assert TOKEN not in stored and wrong_same_length not in stored and "short-guess" not in stored
    assert TOKEN not in caplog.text and wrong_same_length not in caplog.text
    # nothing was registered by the rejected POSTs
    assert api.client.get("/api/populations").json()["total"] == 0


def test_the_server_refuses_to_start_without_a_token(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    get_settings.cache_clear()
    with pytest.raises(RuntimeError, match="did not start"):
        serve_api_in_thread()
    assert "AZT3KNET_ADMIN_TOKEN is not set: refusing to start" in caplog.text
    monkeypatch.setenv("AZT3KNET_ADMIN_TOKEN", "too-short")
    get_settings.cache_clear()
    with pytest.raises(RuntimeError, match="did not start"):
        serve_api_in_thread()
    assert "AZT3KNET_ADMIN_TOKEN is too short (9 characters" in caplog.text and "too-short" not in caplog.text
    monkeypatch.delenv("AZT3KNET_ADMIN_TOKEN")
    env = {k: v for k, v in os.environ.items() if k != "AZT3KNET_ADMIN_TOKEN"}
    port = free_port()
    cli = subprocess.run(
        [sys.executable, "-m", "azt3knet_pipeline.cli.app", "api", "serve", "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert cli.returncode == 2
    assert "AZT3KNET_ADMIN_TOKEN is not set" in cli.stderr and "refusing to start" in cli.stderr
    # Served directly by uvicorn (no CLI check in front): the app's own startup refuses.
    direct = subprocess.run(
        [sys.executable, "-m", "uvicorn", "azt3knet_pipeline.api.app:app", "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert direct.returncode != 0
    assert "AZT3KNET_ADMIN_TOKEN is not set" in direct.stderr and "startup failed" in direct.stderr
    assert not isolated_env.exists()


def test_azt3knet_api_serve_serves_the_api(isolated_env: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "azt3knet_pipeline.cli.app",
            "api",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--executor",
            "embedded",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "AZT3KNET_ADMIN_TOKEN": TOKEN},
    )
    try:
        wait_healthy(proc, f"http://127.0.0.1:{port}")
        auth = {"Authorization": f"Bearer {TOKEN}"}
        listed = httpx.get(f"http://127.0.0.1:{port}/api/populations", headers=auth, timeout=10)
        assert listed.status_code == 200 and listed.json()["total"] == 0
        schema = httpx.get(f"http://127.0.0.1:{port}/openapi.json", headers=auth, timeout=10).json()
        assert {"/api/populate", "/api/populations/{key}", "/api/populations/{key}/credentials"} <= set(schema["paths"])
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    assert "runs: embedded" in stderr and TOKEN not in stderr


def test_openapi_document_is_served_and_publishes_the_server_limits(start_api: Callable[..., Api]) -> None:
    api = start_api(AZT3KNET_MAX_POPULATION="250")
    schema = api.client.get("/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == {
        "/healthz",
        "/api/populate",
        "/api/populations",
        "/api/populations/{key}",
        "/api/populations/{key}/recreate",
        "/api/populations/{key}/credentials",
        "/api/runs/{run_id}",
    }
    assert schema["paths"]["/api/populations/{key}"].keys() == {"get", "delete"}
    request = schema["components"]["schemas"]["PopulateRequest"]
    assert request["properties"]["count"]["maximum"] == 250
    assert request["additionalProperties"] is False
    assert schema["components"]["securitySchemes"]["AdminToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "AZT3KNET_ADMIN_TOKEN",
    }
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            if path == "/healthz":
                assert "security" not in operation
            else:
                assert operation["security"] == [{"AdminToken": []}] and "401" in operation["responses"]


# -- populate -----------------------------------------------------------------------------------------------------


def test_preview_returns_capped_profiles_and_writes_nothing(start_api: Callable[..., Api], isolated_env: Path) -> None:
    api = start_api(AZT3KNET_PREVIEW_LIMIT="5")
    spec = PopulationSpec(count=12, seed="pv", country="FR", age_range="20-30", interests=("jazz", "hiking"))
    body = {**spec.canonical(), "key": "preview-pop", "preview": True, "create_mailboxes": True}
    response = api.client.post("/api/populate", json=body)
    assert response.status_code == 200, response.text
    preview = response.json()
    full = generate_population(spec, "preview-pop")
    assert (preview["key"], preview["count"], preview["returned"], preview["truncated"]) == ("preview-pop", 12, 5, True)
    assert preview["content_hash"] is None
    assert preview["profiles"] == full.records()[:5]  # the capped preview is exactly the population's first agents
    assert all(p["synthetic"] is True and 20 <= p["age"] <= 30 for p in preview["profiles"])
    small = api.client.post("/api/populate", json={"count": 3, "seed": "pv", "country": "FR", "preview": True}).json()
    assert small["truncated"] is False and small["returned"] == 3
    assert small["content_hash"] == generate_population(PopulationSpec(count=3, seed="pv", country="FR")).content_hash
    # no store, no Dagster instance, no export directory: AZT3KNET_HOME was never even created
    assert not isolated_env.exists()


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        (spec_body(count=0), "count", "greater than or equal to 1"),
        (spec_body(count=31), "count", "above the maximum 30"),
        (spec_body(age_range={"lo": 50, "hi": 20}), "age_range", "above upper bound"),
        (spec_body(age_range="10-20"), "age_range", "greater than or equal to 13"),
        (spec_body(country="XX"), "country", "ISO 3166-1"),
        (spec_body(interests=[]), "interests", "non-empty"),
        (spec_body(seed="bad seed!"), "seed", "seed string"),
        (spec_body(key="Not_A_Label"), "key", "DNS label"),
        (spec_body(shoe_size=44), "shoe_size", "Extra inputs"),
        ({"count": 4, "country": "ES"}, "seed", "Field required"),
    ],
)
def test_invalid_specs_are_422_naming_the_field(
    start_api: Callable[..., Api], isolated_env: Path, body: dict[str, Any], field: str, fragment: str
) -> None:
    api = start_api(AZT3KNET_MAX_POPULATION="30")
    for preview in (False, True):
        response = api.client.post("/api/populate", json={**body, "preview": preview})
        assert response.status_code == 422, response.text
        issues = response.json()["detail"]
        assert any(issue["loc"][:2] == ["body", field] and fragment in issue["msg"] for issue in issues), issues
    assert not isolated_env.exists()  # nothing registered, nothing created


def test_a_new_population_is_v2_whose_places_and_locales_are_checked(
    start_api: Callable[..., Api], isolated_env: Path
) -> None:
    api = start_api()
    for body, fragment in (
        (spec_body(city="Madird"), "did you mean: Madrid"),
        (spec_body(locale="ja_JP"), "choose one of: es_ES"),
    ):
        response = api.client.post("/api/populate", json=body)
        assert response.status_code == 422 and fragment in response.text, response.text
    assert api.client.get("/api/populations").json()["total"] == 0
    preview = api.client.post("/api/populate", json=spec_body(preview=True, generator_version=2, city="Málaga"))
    assert preview.status_code == 200, preview.text
    assert {p["city"] for p in preview.json()["profiles"]} == {"Málaga"}


def test_malformed_input_is_4xx_never_500(start_api: Callable[..., Api], isolated_env: Path) -> None:
    api = start_api()
    cases = [
        api.client.post("/api/populate", content=b"{not json", headers={"Content-Type": "application/json"}),
        api.client.post("/api/populate", content=b"\xdb\xf7\xbb\x99", headers={"Content-Type": "application/json"}),
        api.client.post("/api/populate", json=[1, 2, 3]),
        api.client.post("/api/populate", json=spec_body(count=10**40)),
        api.client.post("/api/populate", json=spec_body(seed=10**31)),
        api.client.get("/api/populations", params={"limit": 0}),
        api.client.get("/api/populations", params={"offset": -1}),
        api.client.get("/api/populations", params={"limit": "many"}),
        api.client.get("/api/populations/Bad_Key"),
        api.client.get("/api/populations/" + "a" * 64),
        api.client.get("/api/runs/not-a-run-id"),
        api.client.get("/api/populations/seed-1/credentials", params={"plaintext": "perhaps"}),
    ]
    for response in cases:
        assert response.status_code == 422, (response.request.url, response.text)
        assert isinstance(response.json()["detail"], list)
    assert not isolated_env.exists()


def test_populate_submits_a_run_the_status_endpoint_follows(start_api: Callable[..., Api]) -> None:
    api = start_api()
    response = api.client.post("/api/populate", json=spec_body())
    assert response.status_code == 202, response.text
    submitted = response.json()
    assert submitted["key"] == "seed-11" and submitted["job"] == "profiles_job"
    assert submitted["executor"] == "embedded" and submitted["registered"] is True
    assert submitted["status_url"] == "/api/populations/seed-11"
    run = wait_run(api, submitted["run_url"])
    assert run["status"] == "SUCCESS" and run["success"] and run["partition"] == "seed-11"
    expected = generate_population(PopulationSpec(**spec_body(), generator_version=2), "seed-11")
    assert run["assets"]["agent_profiles"]["content_hash"] == expected.content_hash
    assert run["assets"]["agent_profiles"]["row_count"] == 4
    status = api.client.get(submitted["status_url"]).json()
    assert status["status"] == "registered" and status["spec"]["count"] == 4
    assert status["last_run"]["run_id"] == submitted["run_id"] and status["last_run"]["status"] == "SUCCESS"
    assert status["counts"] == {"agents": 4, "mailboxes": 0, "mailboxes_by_state": {}, "dns_rrsets_desired": 0}
    assert status["dns"]["state"] == "not_provisioned" and status["mail_domain"].startswith("seed-11.")
    # the run is the instance's own record, partition-tagged, as the Dagster UI shows it

    instance = DagsterInstance.get()
    record = instance.get_run_by_id(submitted["run_id"])
    assert record is not None and record.tags["dagster/partition"] == "seed-11"
    assert record.tags["azt3knet/executor"] == "embedded" and record.job_name == "profiles_job"
    actions = [(row.actor, row.action, row.target) for row in audit_rows()]
    assert ("api", "population.register", "seed-11") in actions and ("api", "run.submit", "seed-11") in actions


def test_same_spec_resubmits_different_spec_is_409(start_api: Callable[..., Api]) -> None:
    api = start_api()
    first = api.client.post("/api/populate", json=spec_body(key="shared"))
    assert first.status_code == 202
    again = api.client.post("/api/populate", json=spec_body(key="shared"))
    assert again.status_code == 202 and again.json()["registered"] is False
    assert again.json()["run_id"] != first.json()["run_id"]
    conflict = api.client.post("/api/populate", json=spec_body(key="shared", count=5))
    assert conflict.status_code == 409
    assert conflict.json()["error"] == "conflict" and "different spec" in conflict.json()["detail"]
    for response in (first, again):
        assert wait_run(api, response.json()["run_url"])["status"] == "SUCCESS"
    assert api.client.get("/api/populations/shared").json()["spec"]["count"] == 4


def test_list_is_paginated(start_api: Callable[..., Api]) -> None:
    api = start_api()
    keys = ["pop-a", "pop-b", "pop-c"]
    runs = [
        api.client.post("/api/populate", json=spec_body(key=key, count=1, seed=i)).json() for i, key in enumerate(keys)
    ]
    page = api.client.get("/api/populations", params={"limit": 2}).json()
    assert [item["key"] for item in page["items"]] == keys[:2]
    assert (page["total"], page["offset"], page["limit"]) == (3, 0, 2)
    rest = api.client.get("/api/populations", params={"offset": 2, "limit": 2}).json()
    assert [item["key"] for item in rest["items"]] == ["pop-c"] and rest["total"] == 3
    assert rest["items"][0]["spec"]["seed"] == 2 and len(rest["items"][0]["spec_hash"]) == 64
    assert api.client.get("/api/populations", params={"offset": 10}).json()["items"] == []
    for run in runs:
        wait_run(api, run["run_url"])


def test_unknown_keys_and_runs_are_404(start_api: Callable[..., Api]) -> None:
    api = start_api()
    for method, path in [
        ("GET", "/api/populations/nope"),
        ("POST", "/api/populations/nope/recreate"),
        ("DELETE", "/api/populations/nope"),
        ("GET", "/api/populations/nope/credentials"),
        ("GET", "/api/populations/nope/credentials?plaintext=true"),
        ("GET", "/api/runs/00000000-0000-0000-0000-000000000000"),
    ]:
        response = api.client.request(method, path)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"] == "not_found"


def test_misconfiguration_is_503_and_submits_nothing(start_api: Callable[..., Api]) -> None:
    api = start_api()  # no MAILCOW_* / DESEC_* configured
    response = api.client.post("/api/populate", json=spec_body(create_mailboxes=True))
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "misconfigured" and "MAILCOW_API_KEY" in response.json()["detail"]
    assert api.client.get("/api/populations").json()["total"] == 0
    submitted = api.client.post("/api/populate", json=spec_body()).json()  # profiles only need no Mailcow
    wait_run(api, submitted["run_url"])
    for method, path in [("POST", "/api/populations/seed-11/recreate"), ("DELETE", "/api/populations/seed-11")]:
        response = api.client.request(method, path)
        assert response.status_code == 503 and "MAILCOW_API_KEY" in response.json()["detail"]
    assert api.client.get("/api/populations/seed-11").json()["status"] == "registered"


def test_credentials_without_an_encryption_key_are_503(
    start_api: Callable[..., Api], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SECRET_KEY_FOR_KV_ENC")
    api = start_api()
    wait_run(api, api.client.post("/api/populate", json=spec_body()).json()["run_url"])
    response = api.client.get("/api/populations/seed-11/credentials")
    assert response.status_code == 503 and "SECRET_KEY_FOR_KV_ENC" in response.json()["detail"]


def test_a_key_that_cannot_decrypt_the_store_is_503_before_any_run(
    start_api: Callable[..., Api], sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = start_api()
    submitted = first.client.post("/api/populate", json=spec_body(create_mailboxes=True)).json()
    assert wait_run(first, submitted["run_url"])["success"]
    first.server.stop()
    monkeypatch.setenv("SECRET_KEY_FOR_KV_ENC", Fernet.generate_key().decode())  # not the key the store uses
    api = start_api()
    for method, path in [
        ("POST", "/api/populations/seed-11/recreate"),
        ("GET", "/api/populations/seed-11/credentials"),
    ]:
        response = api.client.request(method, path)
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "misconfigured" and "SECRET_KEY_FOR_KV_ENC" in response.json()["detail"]
    assert api.client.get("/api/populations/seed-11").json()["last_run"]["run_id"] == submitted["run_id"]  # no new run


# -- the whole graph against the stand-ins -------------------------------------------------------------------------


def test_create_mailboxes_ends_in_a_succeeded_run_then_recreate_credentials_and_teardown(
    start_api: Callable[..., Api], sandbox: Sandbox
) -> None:
    api = start_api()
    mailcow = sandbox.mailcow_app.state.sandbox  # type: ignore[attr-defined]
    response = api.client.post("/api/populate", json=spec_body(count=5, seed=77, create_mailboxes=True))
    assert response.status_code == 202, response.text
    submitted = response.json()
    assert submitted["job"] == "populate_job"

    status = wait_population(api, "seed-77", run_finished)
    assert status["last_run"]["run_id"] == submitted["run_id"]
    assert status["last_run"]["status"] == "SUCCESS"
    assert status["status"] == "provisioned"
    assert status["counts"]["mailboxes"] == 5 and status["counts"]["mailboxes_by_state"] == {"active": 5}
    assert status["counts"]["dns_rrsets_desired"] > 0 and status["dns"]["state"] == "in_sync"
    domain = status["mail_domain"]
    boxes = [m for m in mailcow.state()["mailboxes"] if m["domain"] == domain]
    assert len(boxes) == 5
    run = api.client.get(submitted["run_url"]).json()
    assert run["assets"]["mailboxes"]["created"] == 5 and run["assets"]["credential_export"]["mailboxes"] == 5

    # credentials: encrypted by default, and the passwords in it open the stand-in's mailboxes
    encrypted = api.client.get("/api/populations/seed-77/credentials")
    assert encrypted.status_code == 200 and encrypted.headers["cache-control"] == "no-store"
    token = encrypted.json()["bundle"]
    bundle = decrypt_bundle(secret_box(get_settings()), token.encode("ascii"))
    assert {m["address"] for m in bundle["mailboxes"]} == {b["username"] for b in boxes}
    assert all(mailcow.check_password(m["address"], m["password"]) for m in bundle["mailboxes"])
    assert all(m["password"] not in token for m in bundle["mailboxes"])
    plain = api.client.get("/api/populations/seed-77/credentials", params={"plaintext": "true"}).json()
    assert plain["encrypted"] is False and plain["bundle"]["mailboxes"] == bundle["mailboxes"]
    exports = [r for r in audit_rows() if r.action == "credentials.export" and r.actor == "api"]
    assert sorted(json.loads(r.detail or "{}")["plaintext"] for r in exports) == [False, True]
    assert not any(m["password"] in (r.detail or "") for r in audit_rows() for m in bundle["mailboxes"])

    # DNS drift shows in the status; recreate converges it

    settings = get_settings()
    with desec_client(settings) as desec:
        dmarc = next(r for r in desec.list_rrsets(settings.desec_domain) if r.subname == "_dmarc.seed-77")
        desec.bulk_put(
            settings.desec_domain,
            [RRset(subname=dmarc.subname, type="TXT", ttl=dmarc.ttl, records=('"v=DMARC1; p=none"',))],
        )
    drifted = api.client.get("/api/populations/seed-77").json()["dns"]
    assert drifted["state"] == "drifted" and drifted["drift_hash"]
    recreate = api.client.post("/api/populations/seed-77/recreate")
    assert recreate.status_code == 202 and recreate.json()["job"] == "populate_job"
    rerun = wait_run(api, recreate.json()["run_url"])
    assert rerun["success"] and rerun["assets"]["mailboxes"]["created"] == 0
    assert rerun["assets"]["mailboxes"]["unchanged"] == 5 and rerun["assets"]["dns_records"]["changed"] >= 1
    assert api.client.get("/api/populations/seed-77").json()["dns"]["state"] == "in_sync"

    # teardown: 202, then tearing_down → torn_down, nothing left on the stand-ins
    teardown = api.client.delete("/api/populations/seed-77")
    assert teardown.status_code == 202 and teardown.json()["status"] == "tearing_down"
    assert api.client.delete("/api/populations/seed-77").status_code == 202  # idempotent while queued/running
    final = wait_population(api, "seed-77", lambda b: b["status"] != "tearing_down")
    assert final["status"] == "torn_down"
    assert final["last_teardown"]["outcome"] == "ok" and final["last_teardown"]["detail"]["mailboxes_removed"] == 5
    assert final["dns"]["state"] == "not_provisioned"
    assert not [m for m in mailcow.state()["mailboxes"] if m["domain"] == domain]
    with desec_client(settings) as desec:
        assert not [r for r in desec.list_rrsets(settings.desec_domain) if r.subname.endswith("seed-77")]


def test_a_failed_run_shows_failure_and_its_cause_without_secrets(
    start_api: Callable[..., Api], sandbox: Sandbox
) -> None:
    api = start_api(MAILCOW_API_KEY="WRONG-KEY-0123456789")  # configured, but Mailcow rejects it
    submitted = api.client.post("/api/populate", json=spec_body(create_mailboxes=True)).json()
    run = wait_run(api, submitted["run_url"])
    assert run["status"] == "FAILURE" and run["finished"] and not run["success"]
    assert run["error"] and "mailboxes" in run["error"] and "WRONG-KEY-0123456789" not in run["error"]
    assert "agent_profiles" in run["assets"] and "mailboxes" not in run["assets"]
    status = api.client.get(submitted["status_url"]).json()
    assert status["last_run"]["status"] == "FAILURE" and status["status"] == "registered"
    assert status["counts"]["mailboxes_by_state"].get("active", 0) == 0


# -- the queued path: a real dagster-daemon executes the run ---------------------------------------------------------


@pytest.mark.slow
def test_with_a_dagster_daemon_running_runs_are_queued_and_the_daemon_executes_them(
    start_api: Callable[..., Api], isolated_env: Path
) -> None:
    ensure_dagster_home(get_settings())
    daemon = subprocess.Popen(
        [sys.executable, "-m", "dagster._daemon", "run", "-w", str(REPO / "workspace.yaml")],
        cwd=REPO,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        instance = DagsterInstance.get()
        deadline = time.monotonic() + 90
        while "QUEUED_RUN_COORDINATOR" not in instance.get_daemon_heartbeats():
            assert daemon.poll() is None, daemon.communicate()[0][-3000:]
            assert time.monotonic() < deadline, "no daemon heartbeat"
            time.sleep(0.2)
        api = start_api()  # executor "auto": sees the daemon's heartbeat
        response = api.client.post("/api/populate", json=spec_body(count=3, seed=5))
        assert response.status_code == 202, response.text
        submitted = response.json()
        assert submitted["executor"] == "daemon"
        queued = instance.get_run_by_id(submitted["run_id"])
        assert queued is not None and queued.tags["dagster/partition"] == "seed-5"
        run = wait_run(api, submitted["run_url"], timeout=120)
        assert run["status"] == "SUCCESS" and run["executor"] == "daemon"
        expected = generate_population(PopulationSpec(**spec_body(count=3, seed=5), generator_version=2), "seed-5")
        expected = expected.content_hash
        assert run["assets"]["agent_profiles"]["content_hash"] == expected
    finally:
        daemon.send_signal(signal.SIGINT)
        try:
            daemon.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.communicate()


def test_runs_still_waiting_when_the_api_stops_are_marked_canceled(isolated_env: Path) -> None:
    populations.register_population(PopulationSpec(**spec_body()), "waiting")
    ctx = ApiContext(get_settings(), TOKEN, "embedded")
    gate, busy = threading.Event(), threading.Event()
    ctx.runs.submit_task(lambda: (busy.set(), gate.wait(30)))  # the worker is busy with another operation
    assert busy.wait(10)
    submitted = ctx.runs.submit("waiting", "profiles_job")
    instance = ctx.instance()
    waiting = instance.get_run_by_id(submitted.run_id)
    assert waiting is not None and waiting.status == DagsterRunStatus.NOT_STARTED
    threading.Timer(0.3, gate.set).start()
    ctx.close()  # finishes the operation in progress, cancels what never started

    canceled = DagsterInstance.get().get_run_by_id(submitted.run_id)
    assert canceled is not None and canceled.status == DagsterRunStatus.CANCELED


def test_a_foreign_mail_domain_fails_the_run_until_adopt_domain(
    start_api: Callable[..., Api], sandbox: Sandbox
) -> None:
    """A mail domain azt3knet did not create: the run fails naming it, with no Mailcow write; `adopt_domain: true`
    in the populate body tags it and converges."""

    api = start_api()
    mailcow = sandbox.mailcow_app.state.sandbox  # type: ignore[attr-defined]
    domain = get_settings().mail_domain_for("seed-79")
    with MailcowClient(sandbox.mailcow.url, SANDBOX_MAILCOW_KEY) as client:
        client.add_domain(DomainSpec(domain=domain, key_size=1024))
    mailcow.reset_counters()
    refused = api.client.post("/api/populate", json=spec_body(count=3, seed=79, create_mailboxes=True))
    assert refused.status_code == 202, refused.text
    run = wait_run(api, refused.json()["run_url"])
    assert not run["success"] and mailcow.writes_received() == []
    assert domain in json.dumps(run) and "adopt_domain" in json.dumps(run)
    adopted = api.client.post(
        "/api/populate", json=spec_body(count=3, seed=79, create_mailboxes=True, adopt_domain=True)
    )
    assert adopted.status_code == 202, adopted.text
    run = wait_run(api, adopted.json()["run_url"])
    assert run["success"] and run["assets"]["mailboxes"]["domain_adopted"] is True
    record = next(d for d in mailcow.state()["domains"] if d["domain_name"] == domain)
    assert {"azt3knet-synthetic", "seed-79"} <= set(record["tags"])
    assert len([m for m in mailcow.state()["mailboxes"] if m["domain"] == domain]) == 3
