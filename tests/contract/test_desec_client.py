"""DesecClient against the deSEC stand-in over real HTTP on loopback (no mocks), plus the stand-in's quirks.

Throttle windows run on a fake clock that the client's injected `sleep` advances, so waiting out a
`Retry-After` costs no real time.
"""

from __future__ import annotations

import base64
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from azt3knet_pipeline.clients.desec import DesecClient, client_policy, throttle_wait
from azt3knet_pipeline.clients.http import RetryPolicy
from azt3knet_pipeline.domain.dns import (
    DkimRecord,
    RRset,
    desired_population_rrsets,
    diff_rrsets,
    population_scope,
)
from azt3knet_pipeline.errors import (
    ApiError,
    DesecAuthError,
    DesecError,
    DesecNotFound,
    DesecThrottled,
    DesecUnavailable,
    DesecValidationError,
    RetriesExhausted,
)
from azt3knet_pipeline.sandbox.desec import DEFAULT_TOKEN, DesecSandbox, DesecSandboxConfig, create_desec_app
from azt3knet_pipeline.serving import RunningServer, serve_in_thread

ZONE = "example.test"
HOST = f"mail.{ZONE}"


class FakeClock:
    """The stand-in's throttle clock; `sleep` (the client's injected sleep) records and advances it."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


class Recorder(httpx.HTTPTransport):
    """A real HTTP transport that also remembers (method, raw path, body) of what it sent."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, bytes]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, request.url.raw_path.decode(), request.read()))
        return super().handle_request(request)


@dataclass
class Env:
    server: RunningServer
    sandbox: DesecSandbox
    client: DesecClient
    clock: FakeClock
    recorder: Recorder

    @property
    def api(self) -> str:
        return f"{self.server.url}/api/v1"

    def raw(self, method: str, path: str, *, token: str | None = DEFAULT_TOKEN, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Token {token}"} if token else {}
        return httpx.request(method, f"{self.api}{path}", headers=headers, timeout=10, **kwargs)


@pytest.fixture
def desec() -> Iterator[Any]:
    envs: list[Env] = []

    def start(*, token: str = DEFAULT_TOKEN, max_attempts: int = 4, **config: Any) -> Env:
        config.setdefault("domains", [ZONE])
        config.setdefault("throttle_enabled", False)
        clock = FakeClock()
        app = create_desec_app(DesecSandboxConfig(**config), clock=clock)
        server = serve_in_thread(app)
        recorder = Recorder()
        # the client's default policy (Retry-After up to 120 s), with fast backoff and the fake clock's sleep
        policy = client_policy(max_attempts=max_attempts, base_delay=0.01, seed=7, sleep=clock.sleep)
        client = DesecClient(f"{server.url}/api/v1", token, timeout=5.0, policy=policy, transport=recorder)
        env = Env(server, app.state.sandbox, client, clock, recorder)
        envs.append(env)
        return env

    yield start
    for env in envs:
        env.client.close()
        env.server.stop()


def rr(subname: str, rtype: str, *records: str, ttl: int = 3600) -> RRset:
    return RRset(subname=subname, type=rtype, ttl=ttl, records=records)


def txt_rrsets(n: int) -> list[RRset]:
    return [rr(f"r{i}", "TXT", f'"value {i}"') for i in range(n)]


def seed_where(rolls: list[bool], rate: float) -> int:
    """A fault seed whose successive rolls hit (< rate) exactly as listed."""
    for seed in range(10_000):
        rng = random.Random(seed)
        if all((rng.random() < rate) == hit for hit in rolls):
            return seed
    raise AssertionError("no seed found")


# --- pagination ---------------------------------------------------------------------------------------------


def test_pagination_follows_400_first_link_then_next(desec):
    env = desec(page_size=3, default_ns=[])
    env.client.bulk_put(ZONE, txt_rrsets(10))
    env.sandbox.reset_counters()

    rrsets = env.client.list_rrsets(ZONE)

    assert sorted(r.subname for r in rrsets) == sorted(f"r{i}" for i in range(10))
    counters = env.sandbox.counters()
    assert counters["endpoints"] == {"GET rrsets": 5}  # 400 "Pagination required" + 4 pages of ≤3
    assert counters["status"] == {"400": 1, "200": 4}


def test_pagination_combines_with_filters_and_plain_array_below_page_size(desec):
    env = desec(page_size=3)  # with the default apex NS
    env.client.bulk_put(ZONE, [*txt_rrsets(7), rr("a", "A", "192.0.2.1"), rr("", "MX", f"10 {HOST}.")])
    assert len(env.client.list_rrsets(ZONE, type="TXT")) == 7
    apex = [r.key for r in env.client.list_rrsets(ZONE, subname="")]
    assert apex == [("", "MX"), ("", "NS")]
    assert [r.key for r in env.client.list_rrsets(ZONE, subname="@")] == apex
    env.sandbox.reset_counters()
    assert [r.key for r in env.client.list_rrsets(ZONE, type="A")] == [("a", "A")]
    assert env.sandbox.counters()["endpoints"] == {"GET rrsets": 1}  # a plain 200 array


def test_rrset_list_is_newest_first_with_prev_and_next_links(desec):
    env = desec(page_size=2, default_ns=[])
    for i in range(5):
        env.client.create_rrset(ZONE, rr(f"n{i}", "A", f"192.0.2.{i}"))
    first = env.raw("GET", f"/domains/{ZONE}/rrsets/")
    assert first.status_code == 400
    assert first.json()["detail"].startswith("Pagination required. You can query up to 2 items at a time (5 total).")
    page1 = httpx.get(first.links["first"]["url"], headers={"Authorization": f"Token {DEFAULT_TOKEN}"})
    assert [r["subname"] for r in page1.json()] == ["n4", "n3"]
    assert set(page1.links) == {"first", "next"}
    page2 = httpx.get(page1.links["next"]["url"], headers={"Authorization": f"Token {DEFAULT_TOKEN}"})
    assert [r["subname"] for r in page2.json()] == ["n2", "n1"]
    assert set(page2.links) == {"first", "prev", "next"}
    back = httpx.get(page2.links["prev"]["url"], headers={"Authorization": f"Token {DEFAULT_TOKEN}"})
    assert [r["subname"] for r in back.json()] == ["n4", "n3"]


def _odd_paginator(*, with_link: bool) -> Any:
    """A server whose pagination links point to another origin (or are missing): the client must stay home."""

    def a_record(subname: str, ip: str) -> dict[str, Any]:
        return {"subname": subname, "type": "A", "ttl": 3600, "records": [ip]}

    pages = {"": ([a_record("a", "192.0.2.1")], "p2"), "p2": ([a_record("b", "192.0.2.2")], None)}
    seen_auth: list[str] = []

    async def rrsets(request: Any) -> JSONResponse:
        seen_auth.append(request.headers.get("authorization", ""))
        base = "http://elsewhere.invalid/api/v1/domains/z/rrsets/"
        cursor = request.query_params.get("cursor")
        if cursor is None:
            headers = {"Link": f'<{base}?cursor=>; rel="first"'} if with_link else {}
            return JSONResponse({"detail": "Pagination required. Use the link."}, 400, headers=headers)
        items, nxt = pages[cursor]
        headers = {"Link": f'<{base}?cursor={nxt}>; rel="next"'} if nxt else {}
        return JSONResponse(items, headers=headers)

    app = Starlette(routes=[Route("/api/v1/domains/z/rrsets/", rrsets)])
    return app, seen_auth


@pytest.mark.parametrize("with_link", [True, False])
def test_pagination_links_are_followed_on_our_own_origin_only(with_link):
    app, seen_auth = _odd_paginator(with_link=with_link)
    recorder = Recorder()
    with serve_in_thread(app) as server:
        client = DesecClient(f"{server.url}/api/v1", "secret", transport=recorder)
        rrsets = client.list_rrsets("z")
        client.close()
    assert [r.subname for r in rrsets] == ["a", "b"]
    assert len(seen_auth) == 3 and set(seen_auth) == {"Token secret"}  # all three requests came home
    assert all(path.startswith("/api/v1/domains/z/rrsets/") for _, path, _ in recorder.sent)


# --- throttling ---------------------------------------------------------------------------------------------


def test_429_retry_after_is_honoured_then_the_request_succeeds(desec):
    env = desec(throttle_enabled=True, throttle_rates={"dns_api_per_domain_expensive": ["1/10s"]})
    env.client.bulk_patch(ZONE, [rr("a", "A", "192.0.2.1")])
    env.client.bulk_patch(ZONE, [rr("b", "A", "192.0.2.2")])  # 429 Retry-After: 10, then OK

    assert len(env.clock.sleeps) == 1 and env.clock.sleeps[0] >= 10
    assert env.client.write_count == 3
    assert env.sandbox.counters()["throttled"] == 1
    assert {r.subname for r in env.sandbox.rrsets(ZONE)} >= {"a", "b"}


def test_throttle_outlasting_the_policy_raises_desec_throttled(desec):
    env = desec(throttle_enabled=True, throttle_rates={"dns_api_per_domain_expensive": ["1/30s"]}, max_attempts=2)
    env.client.policy = RetryPolicy(max_attempts=2, base_delay=0.01, max_retry_after=120, sleep=lambda s: None)
    env.client.bulk_patch(ZONE, [rr("a", "A", "192.0.2.1")])
    with pytest.raises(DesecThrottled) as info:
        env.client.bulk_patch(ZONE, [rr("b", "A", "192.0.2.2")])
    assert info.value.retry_after == 30
    assert info.value.status == 429
    assert isinstance(info.value, RetriesExhausted) and isinstance(info.value, DesecError)


def test_retry_after_beyond_the_policy_is_not_waited(desec):
    env = desec(throttle_enabled=True, throttle_rates={"dns_api_per_domain_expensive": ["1/day"]})
    env.client.bulk_patch(ZONE, [rr("a", "A", "192.0.2.1")])
    with pytest.raises(DesecThrottled) as info:
        env.client.bulk_patch(ZONE, [rr("b", "A", "192.0.2.2")])
    assert info.value.retry_after == 86400
    assert env.clock.sleeps == []


def test_throttled_body_and_header_follow_drf(desec):
    env = desec(throttle_enabled=True, throttle_rates={"dns_api_cheap": ["1/1s"]})
    assert env.raw("GET", f"/domains/{ZONE}/").status_code == 200
    second = env.raw("GET", f"/domains/{ZONE}/")
    assert second.status_code == 429
    assert second.headers["Retry-After"] == "1"
    assert second.json() == {"detail": "Request was throttled. Expected available in 1 second."}
    env.sandbox.set_throttle(rates={"dns_api_cheap": ["1/min"]})
    env.raw("GET", f"/domains/{ZONE}/")
    third = env.raw("GET", f"/domains/{ZONE}/")
    assert third.headers["Retry-After"] == "60"
    assert third.json()["detail"] == "Request was throttled. Expected available in 60 seconds."


def test_every_rrset_write_counts_per_domain_even_without_change(desec):
    env = desec(throttle_enabled=True, throttle_rates={"dns_api_per_domain_expensive": ["2/min"]})
    env.client.bulk_patch(ZONE, [rr("a", "A", "192.0.2.1")])
    before = env.client.get_domain(ZONE).touched
    env.client.bulk_patch(ZONE, [rr("a", "A", "192.0.2.1")])  # zero-change write still counts and touches
    assert env.client.get_domain(ZONE).touched > before
    third = env.raw("PATCH", f"/domains/{ZONE}/rrsets/", json=[])
    assert third.status_code == 429


# --- errors -------------------------------------------------------------------------------------------------


def test_bulk_400_is_mapped_to_the_offending_rrset(desec):
    env = desec()
    items = [rr("a", "A", "192.0.2.1"), rr("b", "TXT", "v=spf1 -all"), rr("c", "MX", f"10 {HOST}.")]
    with pytest.raises(DesecValidationError) as info:
        env.client.bulk_patch(ZONE, items)
    err = info.value
    assert len(err.item_errors) == 1
    item, detail = err.item_errors[0]
    assert item == items[1] and (item.subname, item.type) == ("b", "TXT")
    assert detail == {"non_field_errors": ["Data for TXT records must be given using quotation marks."]}
    assert "item 1 (subname=b type=TXT)" in err.message
    assert isinstance(err.detail, list) and err.detail[0] == {} and err.detail[2] == {}
    assert {r.subname for r in env.sandbox.rrsets(ZONE)} == {""}  # atomic: nothing applied


def test_auth_401_is_not_retried_and_never_shows_the_token(desec):
    env = desec(token="wrong-secret-token-value")
    with pytest.raises(DesecAuthError) as info:
        env.client.list_rrsets(ZONE)
    assert info.value.status == 401
    assert "Invalid token." in info.value.message
    assert "wrong-secret-token-value" not in str(info.value)
    assert env.client.request_count == 1
    assert env.sandbox.counters()["requests"] == 1
    assert isinstance(info.value, ApiError)


def test_no_token_in_any_error_message(desec):
    env = desec()
    with pytest.raises(DesecValidationError) as info:
        env.client.create_rrset(ZONE, rr("x", "TXT", DEFAULT_TOKEN))  # the token even in the body
    assert DEFAULT_TOKEN not in str(info.value)
    assert DEFAULT_TOKEN not in repr(env.client)


def test_403_insufficient_token_permissions(desec):
    env = desec(token="read-only", read_only_tokens=["read-only"])
    assert env.client.get_domain(ZONE).name == ZONE  # reads are allowed
    with pytest.raises(DesecAuthError) as info:
        env.client.bulk_patch(ZONE, [rr("a", "A", "192.0.2.1")])
    assert info.value.status == 403 and "Insufficient token permissions." in info.value.message
    assert env.client.write_count == 1


def test_404_domain(desec):
    env = desec(domains=[ZONE, {"name": "foreign.test", "owner": "someone-else"}])
    with pytest.raises(DesecNotFound):
        env.client.get_domain("missing.test")
    with pytest.raises(DesecNotFound):
        env.client.list_rrsets("foreign.test")
    assert env.client.get_rrset(ZONE, "nothing", "A") is None
    domain = env.client.get_domain(ZONE)
    assert domain.minimum_ttl == 3600 and domain.keys and domain.created is not None


def test_ttl_bounds(desec):
    env = desec(domains=[{"name": ZONE, "minimum_ttl": 3600}])
    with pytest.raises(DesecValidationError) as low:
        env.client.create_rrset(ZONE, rr("a", "A", "192.0.2.1", ttl=60))
    assert low.value.item_errors[0][1] == {"ttl": ["Ensure this value is greater than or equal to 3600."]}
    with pytest.raises(DesecValidationError) as high:
        env.client.create_rrset(ZONE, rr("a", "A", "192.0.2.1", ttl=86401))
    assert high.value.item_errors[0][1] == {"ttl": ["Ensure this value is less than or equal to 86400."]}
    assert env.client.create_rrset(ZONE, rr("a", "A", "192.0.2.1", ttl=3600)).ttl == 3600
    assert env.client.create_rrset(ZONE, rr("b", "A", "192.0.2.1", ttl=86400)).ttl == 86400


def test_cname_rules(desec):
    env = desec(domains=[ZONE, "bare.test"], default_ns=[])
    with pytest.raises(DesecValidationError) as apex:
        env.client.create_rrset("bare.test", rr("", "CNAME", f"{HOST}."))
    assert apex.value.errors == ["CNAME RRset cannot have empty subname."]  # a top-level list of strings
    assert apex.value.item_errors[0][0].type == "CNAME"
    env.client.create_rrset(ZONE, rr("", "NS", "ns1.desec.io."))
    with pytest.raises(DesecValidationError, match=r"database \(NS\)"):  # exclusivity is checked first
        env.client.create_rrset(ZONE, rr("", "CNAME", f"{HOST}."))
    with pytest.raises(DesecValidationError) as multiple:
        env.client.create_rrset(ZONE, rr("www", "CNAME", "a.test.", "b.test."))
    assert "cannot have multiple records" in multiple.value.message
    env.client.create_rrset(ZONE, rr("www", "A", "192.0.2.1"))
    with pytest.raises(DesecValidationError) as alongside:
        env.client.create_rrset(ZONE, rr("www", "CNAME", f"{HOST}."))
    assert "database (A)" in alongside.value.message and "alongside CNAME" in alongside.value.message
    with pytest.raises(DesecValidationError) as bulk:
        env.client.bulk_patch(ZONE, [rr("x", "CNAME", f"{HOST}."), rr("x", "TXT", '"t"')])
    assert [item.type for item, _ in bulk.value.item_errors] == ["CNAME", "TXT"]
    with pytest.raises(DesecValidationError, match="fully qualified"):
        env.client.create_rrset(ZONE, rr("y", "CNAME", HOST))
    # replacing A by CNAME in one bulk request works: the delete is taken into account
    env.client.bulk_patch(ZONE, [rr("www", "A"), rr("www", "CNAME", f"{HOST}.")])
    assert env.client.get_rrset(ZONE, "www", "CNAME") is not None


def test_apex_is_at_sign_in_url_and_empty_subname_in_bodies(desec):
    env = desec()
    created = env.client.create_rrset(ZONE, rr("@", "MX", f"10 {HOST.upper()}."))
    assert created.subname == "" and created.records == (f"10 {HOST}.",)  # canonical: lowercased
    assert env.client.get_rrset(ZONE, "", "MX") == created
    assert env.client.patch_rrset(ZONE, "", "MX", ttl=7200).ttl == 7200
    env.client.bulk_patch(ZONE, [{"subname": "@", "type": "txt", "ttl": 3600, "records": ['"v=spf1 mx -all"']}])
    env.client.delete_rrset(ZONE, "", "MX")
    env.client.delete_rrset(ZONE, "", "MX")  # 204 also when absent
    paths = [(method, path) for method, path, _ in env.recorder.sent]
    assert ("GET", f"/api/v1/domains/{ZONE}/rrsets/@/MX/") in paths
    assert ("PATCH", f"/api/v1/domains/{ZONE}/rrsets/@/MX/") in paths
    assert ("DELETE", f"/api/v1/domains/{ZONE}/rrsets/@/MX/") in paths
    bodies = [body for method, _, body in env.recorder.sent if method in ("POST", "PATCH", "PUT")]
    assert all(b'"@"' not in body for body in bodies) and b'"subname":""' in bodies[0].replace(b" ", b"")
    assert env.client.get_rrset(ZONE, "", "MX") is None
    assert env.client.get_rrset(ZONE, "", "TXT") is not None


def test_patch_with_empty_records_deletes(desec):
    env = desec()
    env.client.create_rrset(ZONE, rr("a", "A", "192.0.2.1"))
    assert env.client.patch_rrset(ZONE, "a", "A", records=[]) is None
    assert env.client.get_rrset(ZONE, "a", "A") is None


def test_bulk_delete_via_empty_records(desec):
    env = desec()
    env.client.bulk_put(ZONE, [rr("a", "A", "192.0.2.1"), rr("b", "A", "192.0.2.2")])
    answer = env.client.bulk_patch(
        ZONE,
        [
            {"subname": "a", "type": "A", "records": []},
            {"subname": "gone", "type": "A", "records": []},  # absent: nothing happens
            rr("b", "A", "192.0.2.3"),
        ],
    )
    assert [r.key for r in answer] == [("b", "A")]  # deleted rrsets are not in the response
    keys = {r.key for r in env.sandbox.rrsets(ZONE)}
    assert ("a", "A") not in keys and ("b", "A") in keys
    assert env.client.bulk_patch(ZONE, []) == []  # no request at all
    assert env.client.bulk_put(ZONE, []) == []


# --- reconciliation -----------------------------------------------------------------------------------------


def test_diff_of_n_changes_is_exactly_one_write_and_empty_diff_is_none(desec):
    env = desec()
    dkim = DkimRecord(txt="v=DKIM1;k=rsa;t=s;s=email;p=" + "A" * 392)  # > 255 bytes: split by deSEC
    desired = desired_population_rrsets(
        population_key="seed-42", mail_hostname=HOST, dkim=dkim, ttl=300, minimum_ttl=3600
    )
    scope = population_scope("seed-42", dkim.selector)
    env.sandbox.put_rrset(ZONE, rr("stale._domainkey.seed-42", "TXT", '"old"'))
    scope.add(("stale._domainkey.seed-42", "TXT"))

    diff = diff_rrsets(desired, env.client.list_rrsets(ZONE), managed=scope)
    assert diff.changed == 7
    writes_before = env.sandbox.counters()["writes"]
    assert env.client.patch_rrsets(ZONE, diff) == 7
    assert env.sandbox.counters()["writes"] - writes_before == 1
    assert env.client.write_count == 1

    again = diff_rrsets(desired, env.client.list_rrsets(ZONE), managed=scope)
    assert again.is_empty and again.unchanged == 6  # deSEC's canonical answer is no drift
    requests = env.client.request_count
    assert env.client.patch_rrsets(ZONE, again) == 0
    assert env.client.request_count == requests

    env.sandbox.delete_rrset(ZONE, "_dmarc.seed-42", "TXT")  # drift out of band
    repair = diff_rrsets(desired, env.client.list_rrsets(ZONE), managed=scope)
    assert [r.key for r in repair.upserts] == [("_dmarc.seed-42", "TXT")]


def test_transient_503_is_retried(desec):
    env = desec(error_rate=0.5, fault_seed=seed_where([True, False], 0.5))
    assert env.client.get_domain(ZONE).name == ZONE
    assert env.client.request_count == 2
    assert len(env.clock.sleeps) == 1


def test_persistent_503_raises_unavailable(desec):
    env = desec(error_rate=1.0, max_attempts=3)
    with pytest.raises(DesecUnavailable) as info:
        env.client.get_domain(ZONE)
    assert env.client.request_count == 3 and info.value.status == 503
    assert isinstance(info.value, RetriesExhausted)


def test_create_retried_after_an_applied_write_succeeds(desec):
    # roll 1: the POST is applied but answered 503; roll 2: the retry gets 400 "exists"; roll 3: the GET
    env = desec(error_after_apply_rate=0.5, fault_seed=seed_where([True, False, False], 0.5))
    created = env.client.create_rrset(ZONE, rr("a", "A", "192.0.2.1"))
    assert created.key == ("a", "A")
    assert env.client.write_count == 2


def test_counters_are_thread_safe(desec):
    env = desec()

    def work() -> None:
        for _ in range(10):
            env.client.get_domain(ZONE)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert env.client.request_count == 60
    assert env.sandbox.counters()["reads"] == 60


# --- dynDNS -------------------------------------------------------------------------------------------------


def test_dyndns_good_badauth_nohost(desec):
    env = desec(domains=[ZONE])
    env.client.create_rrset(ZONE, rr("mail", "AAAA", "2001:db8::1"))
    assert env.client.dyndns_update(HOST, ipv4="192.0.2.7") == "good"
    assert env.client.get_rrset(ZONE, "mail", "A") == rr("mail", "A", "192.0.2.7", ttl=60)
    assert env.client.get_rrset(ZONE, "mail", "AAAA") is not None  # ipv6=None preserves it

    basic = base64.b64encode(f"{HOST}:not-the-token".encode()).decode()
    bad = httpx.get(
        f"{env.api}/dyndns/update",
        params={"myipv4": "192.0.2.8"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert (bad.status_code, bad.text) == (401, "badauth")
    assert bad.headers["content-type"].startswith("text/plain")

    good = httpx.get(
        f"{env.server.url}/update", params={"username": HOST, "password": DEFAULT_TOKEN, "myip": "192.0.2.9"}
    )
    assert (good.status_code, good.text) == (200, "good")
    assert env.client.get_rrset(ZONE, "mail", "A").records == ("192.0.2.9",)
    assert env.client.get_rrset(ZONE, "mail", "AAAA") is None  # no IPv6 given (client is v4): deleted

    with pytest.raises(DesecNotFound, match="nohost"):
        env.client.dyndns_update("mail.not-mine.test", ipv4="192.0.2.7")
    bad_token = httpx.get(f"{env.api}/dyndns/update", headers={"Authorization": "Token nope"})
    assert (bad_token.status_code, bad_token.text) == (401, "Invalid token.")


def test_dyndns_is_throttled_per_domain(desec):
    env = desec(throttle_enabled=True, throttle_rates={"dyndns": ["2/2min"]})
    env.client.dyndns_update(HOST, ipv4="192.0.2.1")
    env.client.dyndns_update(HOST, ipv4="192.0.2.2")
    assert env.client.dyndns_update(HOST, ipv4="192.0.2.3") == "good"  # after waiting Retry-After
    assert env.clock.sleeps and env.clock.sleeps[0] >= 120


# --- the stand-in's other quirks (raw HTTP) -----------------------------------------------------------------


def test_standin_bulk_and_collection_quirks(desec):
    env = desec()
    path = f"/domains/{ZONE}/rrsets/"
    not_list = env.raw("PATCH", path, json={"subname": "a", "type": "A", "ttl": 3600, "records": []})
    assert not_list.json() == {"non_field_errors": ["Expected a list of items but got dict."]}
    assert env.raw("PUT", path, json=[]).json() == []
    assert env.raw("DELETE", path).status_code == 405
    assert env.raw("PATCH", f"/domains/{ZONE}/", json={}).status_code == 405
    assert env.raw("GET", path, params={"type": "SOA"}).json() == {"detail": "You cannot tinker with the SOA RRset."}
    assert env.raw("GET", path, token=None).json() == {"detail": "Authentication credentials were not provided."}
    missing_subname = env.raw("PUT", path, json=[{"type": "A", "ttl": 3600, "records": ["192.0.2.1"]}])
    assert missing_subname.json() == [{"subname": ["This field is required."]}]
    single = {"subname": "a", "type": "A", "ttl": 3600, "records": ["192.0.2.1"]}
    assert env.raw("POST", path, json=single).status_code == 201
    exists = env.raw("POST", path, json=single)
    assert exists.json() == {
        "non_field_errors": [
            "Another RRset with the same subdomain and type exists for this domain. (Try modifying it.)"
        ]
    }
    assert env.raw("POST", path, json={**single, "subname": "b", "records": []}).json() == {
        "records": ["This field must not be empty when using POST."]
    }
    assert "subname" in env.raw("POST", path, json={**single, "subname": "@"}).json()
    soa = env.raw("PATCH", path, json=[{"subname": "", "type": "SOA", "ttl": 3600, "records": ["x"]}, single])
    assert soa.json() == [
        {"type": ["You cannot tinker with the SOA RR set. It is managed automatically."]},
        {},
    ]
    dup = env.raw("PATCH", path, json=[single, {"subname": "c", "type": "A"}, single])
    assert dup.json()[0] == {"non_field_errors": ["Same subname and type as in position(s) 2, but must be unique."]}
    assert env.raw("GET", f"{path}a.../A/").json()["subname"] == "a"
    assert env.raw("GET", f"{path}nothing/A/").status_code == 404
    assert env.raw("DELETE", f"/domains/{ZONE}/").status_code == 204
    assert env.raw("DELETE", f"/domains/{ZONE}/").status_code == 204  # idempotent


def test_standin_domain_creation_and_debug_routes(desec):
    env = desec(domains=[{"name": "taken.test", "owner": "other"}])
    created = env.client.create_domain("new.test")
    assert created.keys and created.minimum_ttl == 3600
    assert env.client.list_rrsets("new.test") == [rr("", "NS", "ns1.desec.io.", "ns2.desec.org.")]
    with pytest.raises(DesecValidationError, match="already exists"):
        env.client.create_domain("new.test")
    with pytest.raises(DesecValidationError, match="conflicts with an existing domain"):
        env.client.create_domain("sub.taken.test")
    env.client.delete_domain("new.test")
    assert [d.name for d in env.client.list_domains()] == []

    counters = httpx.get(f"{env.server.url}/_sandbox/counters").json()
    assert counters["writes_by_domain"]["new.test"] == 3  # create, rejected re-create, delete
    httpx.post(f"{env.server.url}/_sandbox/faults", json={"error_rate": 1.0})
    assert env.raw("GET", "/domains/").status_code == 503
    httpx.post(f"{env.server.url}/_sandbox/faults", json={"error_rate": 0.0})
    httpx.post(f"{env.server.url}/_sandbox/throttle", json={"enabled": True, "rates": {"dns_api_cheap": ["1/min"]}})
    assert env.raw("GET", "/domains/").status_code == 200
    assert env.raw("GET", "/domains/").status_code == 429
    httpx.post(f"{env.server.url}/_sandbox/reset")
    assert httpx.get(f"{env.server.url}/_sandbox/counters").json()["requests"] == 0
    assert [d["name"] for d in httpx.get(f"{env.server.url}/_sandbox/state").json()["domains"]] == ["taken.test"]


def test_standin_state_file_persists(tmp_path):
    state = tmp_path / "desec.json"
    app = create_desec_app(DesecSandboxConfig(domains=[ZONE], state_file=state, throttle_enabled=False))
    app.state.sandbox.put_rrset(ZONE, rr("kept", "A", "192.0.2.1"))
    again = create_desec_app(DesecSandboxConfig(domains=[], state_file=state))
    assert ("kept", "A") in {r.key for r in again.state.sandbox.rrsets(ZONE)}


# --- contract §8: what the real deSEC code does ---------------------------------------------------------------

PRODUCTION_RATES = {"dns_api_per_domain_expensive": ["2/s", "15/min", "100/h", "300/day"], "user": ["2000/day"]}


def spend(env: Env, scope: str, bucket: str, window: str) -> int:
    """Use up one window of a throttle bucket through the stand-in's control route (no auth, no sleeping)."""
    reply = httpx.post(
        f"{env.server.url}/_sandbox/throttle/spend", json={"scope": scope, "bucket": bucket, "window": window}
    )
    assert reply.status_code == 200, reply.text
    return int(reply.json()["recorded"])


def advance(env: Env, seconds: float) -> None:
    assert httpx.post(f"{env.server.url}/_sandbox/clock", json={"advance": seconds}).status_code == 200


def test_hour_bucket_answers_a_long_retry_after_and_the_client_defers_instead_of_waiting(desec):
    env = desec(throttle_enabled=True, throttle_rates=PRODUCTION_RATES)
    assert spend(env, "dns_api_per_domain_expensive", ZONE, "h") == 100
    raw = env.raw("PATCH", f"/domains/{ZONE}/rrsets/", json=[rr("x", "A", "192.0.2.9").to_payload()])
    assert raw.status_code == 429
    wait = int(raw.headers["Retry-After"])
    assert 3000 < wait <= 3600  # thousands of seconds: a client must defer, not wait
    assert raw.json() == {"detail": f"Request was throttled. Expected available in {wait} seconds."}

    with pytest.raises(DesecThrottled) as info:
        env.client.bulk_patch(ZONE, [rr("a", "A", "192.0.2.1")])
    assert env.clock.sleeps == []  # never slept, not even once
    assert info.value.retry_after == wait and info.value.status == 429
    assert env.client.write_count == 1  # one attempt: a wait above the policy's budget is not retried
    assert "DEFAULT" not in info.value.message and DEFAULT_TOKEN not in info.value.message

    advance(env, wait)  # the hour passes
    env.client.bulk_patch(ZONE, [rr("a", "A", "192.0.2.1")])
    assert env.client.get_rrset(ZONE, "a", "A") == rr("a", "A", "192.0.2.1")


def test_day_bucket_and_a_retry_after_the_budget_cannot_cover_are_deferred_too(desec):
    env = desec(throttle_enabled=True, throttle_rates=PRODUCTION_RATES)
    spend(env, "dns_api_per_domain_expensive", ZONE, "day")
    with pytest.raises(DesecThrottled) as info:
        env.client.bulk_patch(ZONE, [rr("a", "A", "192.0.2.1")])
    assert 80_000 < (info.value.retry_after or 0) <= 86_400
    assert env.clock.sleeps == []
    # a wait inside max_retry_after but beyond what is left of max_total is not slept either
    env.client.policy = client_policy(max_total=30.0, base_delay=0.01, sleep=env.clock.sleep)
    env.sandbox.set_throttle(rates={"dns_api_per_domain_expensive": ["1/min"]})
    env.client.bulk_patch(ZONE, [rr("b", "A", "192.0.2.2")])
    with pytest.raises(DesecThrottled) as short:
        env.client.bulk_patch(ZONE, [rr("c", "A", "192.0.2.3")])
    assert short.value.retry_after == 60 and env.clock.sleeps == []


def test_throttled_writes_spare_the_domain_bucket_but_count_against_the_users_daily_limit(desec):
    env = desec(throttle_enabled=True, throttle_rates={"dns_api_per_domain_expensive": ["2/h"], "user": ["4/day"]})
    env.client.policy = client_policy(max_attempts=1, sleep=env.clock.sleep)
    env.client.bulk_patch(ZONE, [rr("a", "A", "192.0.2.1")])  # user 1, zone 1 (t=0)
    advance(env, 1800)
    env.client.bulk_patch(ZONE, [rr("b", "A", "192.0.2.2")])  # user 2, zone 2 (t=1800)
    with pytest.raises(DesecThrottled) as zone_full:
        env.client.bulk_patch(ZONE, [rr("c", "A", "192.0.2.3")])  # user 3, zone bucket NOT consumed
    assert zone_full.value.retry_after == 1800
    advance(env, 1801)
    # Had the throttled write been recorded at t=1800, the zone bucket would still be full now.
    env.client.bulk_patch(ZONE, [rr("c", "A", "192.0.2.3")])  # user 4
    with pytest.raises(DesecThrottled) as user_full:
        env.client.bulk_patch(ZONE, [rr("d", "A", "192.0.2.4")])  # the user's daily limit: deferred the same way
    assert (user_full.value.retry_after or 0) > 80_000
    assert env.clock.sleeps == []


def test_throttle_wait_is_read_from_the_message_when_retry_after_is_missing():
    body = {"detail": "Request was throttled. Expected available in 1 second."}
    assert throttle_wait(httpx.Response(429, json=body)) == 1
    assert throttle_wait(httpx.Response(429, json=body, headers={"Retry-After": "7"})) == 7
    assert throttle_wait(httpx.Response(429, text="<html>429 Too Many Requests</html>")) is None


def test_standin_texts_of_contract_section_8(desec):
    env = desec(domains=[ZONE, {"name": "foreign.test", "owner": "someone-else"}], perm_create_domain=False)
    assert env.raw("GET", "/domains/missing.test/").json() == {"detail": "No Domain matches the given query."}
    assert env.raw("GET", "/domains/foreign.test/").json() == {"detail": "Not found."}
    assert env.raw("GET", f"/domains/{ZONE}/rrsets/nothing/A/").json() == {
        "detail": "No RRset matches the given query."
    }
    denied = env.raw("POST", "/domains/", json={"name": "new.test"})
    assert (denied.status_code, denied.json()) == (
        403,
        {"detail": "You do not have permission to perform this action."},
    )
    with pytest.raises(DesecAuthError):
        env.client.create_domain("new.test")
    patch = env.raw("PATCH", f"/domains/{ZONE}/", json={})
    assert (patch.status_code, patch.json()) == (405, {"detail": 'Method "PATCH" not allowed.'})
    empty = env.raw("PATCH", f"/domains/{ZONE}/rrsets/", content=b"")
    assert (empty.status_code, empty.json()) == (400, {"non_field_errors": ["No data provided"]})
    at = env.raw("PATCH", f"/domains/{ZONE}/rrsets/", json=[{"subname": "@", "type": "A", "ttl": 3600, "records": []}])
    assert at.status_code == 400 and "subname" in at.json()[0]
    low = env.raw("PATCH", f"/domains/{ZONE}/rrsets/", json=[rr("m", "A", "192.0.2.1", ttl=60).to_payload()])
    assert low.json() == [{"ttl": ["Ensure this value is greater than or equal to 3600."]}]
    # ... while the dynDNS endpoint writes TTL 60 for the host's A/AAAA (the zone's minimum stays 3600)
    assert env.client.dyndns_update(HOST, ipv4="192.0.2.7") == "good"
    assert env.client.get_rrset(ZONE, "mail", "A") == rr("mail", "A", "192.0.2.7", ttl=60)
