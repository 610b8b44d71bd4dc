"""Contract tests: `MailcowClient` against the Mailcow stand-in over real HTTP on loopback.

Every client call and every quirk of docs/contracts/mailcow.md: danger-in-200, `{}` for empty, single
objects, auth (one attempt, never retried), ro keys, DKIM side effects, non-idempotent deletes, quotas in
MiB out / bytes back, tag filters, retries (503/429/timeouts/drops) and convergence after a lost response,
and passwords never leaking into exceptions or responses. Raw httpx calls pin the wire format the client
relies on, so a stand-in drifting from the contract fails here too.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from azt3knet_pipeline.clients.http import RetryPolicy
from azt3knet_pipeline.clients.mailcow import (
    DkimKey,
    DomainSpec,
    MailboxSpec,
    MailcowClient,
    MailcowDomain,
    MailcowMailbox,
    normalise_envelope,
)
from azt3knet_pipeline.errors import (
    ApiError,
    MailcowAuthError,
    MailcowConflict,
    MailcowDkimExists,
    MailcowDomainMissing,
    MailcowError,
    MailcowNotFound,
    MailcowRequestError,
    MailcowUnavailable,
    RetriesExhausted,
)
from azt3knet_pipeline.sandbox.mailcow import MailcowSandbox, MailcowSandboxConfig, create_mailcow_app
from azt3knet_pipeline.serving import RunningServer, serve_in_thread

RW = "SANDBOX-RW-KEY"
RO = "SANDBOX-RO-KEY"
MIB = 1024 * 1024
DOMAIN = "pop.example.org"
PASSWORD = "Sup3r-Secret-Passw0rd!"
HOSTNAME = "mail.example.org"


def fast_policy(**kw: Any) -> RetryPolicy:
    kw.setdefault("max_attempts", 4)
    return RetryPolicy(base_delay=0.001, max_delay=0.005, seed=1, **kw)


class SleepRecorder:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


# --------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[RunningServer, MailcowSandbox]]:
    app = create_mailcow_app(MailcowSandboxConfig(mailcow_hostname=HOSTNAME, timeout_seconds=3.0))
    with serve_in_thread(app) as running:
        yield running, app.state.sandbox


@pytest.fixture
def sandbox(server: tuple[RunningServer, MailcowSandbox]) -> MailcowSandbox:
    sb = server[1]
    sb.reset()
    sb.reset_counters()
    sb.set_faults(
        fault_queue=[],
        error_rate=0.0,
        error_after_apply_rate=0.0,
        timeout_rate=0.0,
        drop_rate=0.0,
        rate_429=0.0,
    )
    return sb


@pytest.fixture
def url(server: tuple[RunningServer, MailcowSandbox], sandbox: MailcowSandbox) -> str:
    return server[0].url


@pytest.fixture
def client(url: str) -> Iterator[MailcowClient]:
    with MailcowClient(url, RW, policy=fast_policy(), timeout=5.0) as c:
        yield c


@pytest.fixture
def raw(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{url}/api/v1/", headers={"X-API-Key": RW}, timeout=5.0) as http:
        yield http


def small_domain(name: str = DOMAIN, **kw: Any) -> DomainSpec:
    for field, value in {
        "key_size": 1024,
        "defquota": 100,
        "maxquota": 500,
        "quota": 2000,
        "mailboxes": 10,
    }.items():
        kw.setdefault(field, value)
    return DomainSpec(domain=name, **kw)


def box(local: str, domain: str = DOMAIN, **kw: Any) -> MailboxSpec:
    kw.setdefault("password", PASSWORD)
    kw.setdefault("quota", 100)
    return MailboxSpec(local_part=local, domain=domain, **kw)


# --------------------------------------------------------------------------------------------- envelope


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (None, []),
        ("", []),
        ({}, []),
        ([], []),
        ({"type": "success", "msg": "Task completed"}, [{"type": "success", "msg": "Task completed"}]),
        ([{"a": 1}, "junk", {"b": 2}], [{"a": 1}, {"b": 2}]),
    ],
)
def test_envelope_normalisation(body: Any, expected: list[dict[str, Any]]) -> None:
    assert normalise_envelope(body) == expected


def test_models_parse_legacy_and_string_values() -> None:
    mailbox = MailcowMailbox.from_api(
        {
            "username": "a@b.example",
            "active": "&#10004;",
            "quota": "1073741824",
            "tags": None,
            "quota_used": "12",
        }
    )
    assert (mailbox.address, mailbox.local_part, mailbox.domain) == ("a@b.example", "a", "b.example")
    assert mailbox.active is True and mailbox.quota_mib == 1024 and mailbox.tags == []
    assert MailcowMailbox.from_api({"username": "x@y.z", "active": "1", "active_int": 0, "quota": 0}).active is False
    assert MailcowMailbox.from_api({"username": "x@y.z", "quota": "0"}).quota_mib == 0  # unlimited
    domain = MailcowDomain.from_api({"domain_name": "d.example", "active": "0", "max_quota_for_domain": "2097152"})
    assert domain.active is False and domain.quota_mib == 2


def test_mailbox_spec_hides_password_and_limits_tags() -> None:
    spec = box("alice")
    assert PASSWORD not in repr(spec) and PASSWORD not in str(spec)
    assert spec.to_body()["password"] == PASSWORD == spec.to_body()["password2"]
    with pytest.raises(ValueError):
        box("alice", tags=[f"t{i}" for i in range(26)])


# --------------------------------------------------------------------------------------------- domains


def test_empty_lists_come_back_as_empty_object(client: MailcowClient, raw: httpx.Client) -> None:
    for path in ("get/domain/all", "get/mailbox/all", f"get/domain/{DOMAIN}", f"get/dkim/{DOMAIN}"):
        response = raw.get(path)
        assert response.status_code == 200 and response.json() == {}, path
    assert client.list_domains() == []
    assert client.get_domain(DOMAIN) is None
    assert client.get_dkim(DOMAIN) is None
    assert client.get_mailbox(f"nobody@{DOMAIN}") is None


def test_add_domain_creates_dkim_and_quotas_round_trip_mib_bytes(
    client: MailcowClient, raw: httpx.Client, sandbox: MailcowSandbox
) -> None:
    spec = DomainSpec(
        domain=DOMAIN,
        description="synthetic",
        defquota=1024,
        maxquota=2048,
        quota=4096,
        mailboxes=5,
        aliases=7,
        tags=["azt3knet-synthetic", "seed-42"],
    )
    result = client.add_domain(spec)
    assert result.has("domain_added") and result.has("dkim_added")  # one response, two entries
    assert result.attempts == 1

    wire = raw.get(f"get/domain/{DOMAIN}").json()
    assert isinstance(wire, dict)
    assert wire["def_quota_for_mbox"] == 1024 * MIB
    assert wire["max_quota_for_mbox"] == 2048 * MIB
    assert wire["max_quota_for_domain"] == 4096 * MIB

    domain = client.get_domain(DOMAIN)
    assert domain is not None
    assert (domain.name, domain.description, domain.active) == (DOMAIN, "synthetic", True)
    assert (domain.defquota_mib, domain.maxquota_mib, domain.quota_mib) == (1024, 2048, 4096)
    assert (domain.max_mailboxes, domain.mailboxes_in_domain, domain.max_aliases) == (5, 0, 7)
    assert domain.tags == ["azt3knet-synthetic", "seed-42"]
    assert [d.name for d in client.list_domains()] == [DOMAIN]

    key = client.get_dkim(DOMAIN)
    assert isinstance(key, DkimKey)
    assert key.selector == "dkim" and key.record_name == "dkim._domainkey" and key.length == "2048"
    assert key.txt == f"v=DKIM1;k=rsa;t=s;s=email;p={key.pubkey}" == key.txt_value
    public = load_der_public_key(base64.b64decode(key.pubkey))  # a real SPKI DER RSA key
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048


def test_add_domain_twice_is_a_conflict(client: MailcowClient) -> None:
    client.add_domain(small_domain())
    with pytest.raises(MailcowConflict) as info:
        client.add_domain(small_domain())
    assert info.value.key == "domain_exists" and info.value.status == 200 and info.value.retried is False


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        (
            DomainSpec(domain=DOMAIN, defquota=600, maxquota=500, quota=1000),
            "mailbox_defquota_exceeds_mailbox_maxquota",
        ),
        (
            DomainSpec(domain=DOMAIN, defquota=100, maxquota=5000, quota=1000),
            "mailbox_quota_exceeds_domain_quota",
        ),
        (DomainSpec(domain=DOMAIN, defquota=0, maxquota=500, quota=1000), "defquota_empty"),
        (DomainSpec(domain="bad_domain!.org"), "domain_invalid"),
        (DomainSpec(domain=HOSTNAME), "domain_cannot_match_hostname"),
    ],
)
def test_add_domain_business_errors_are_danger_in_200(client: MailcowClient, spec: DomainSpec, key: str) -> None:
    with pytest.raises(MailcowRequestError) as info:
        client.add_domain(spec)
    assert info.value.key == key and info.value.status == 200
    assert client.list_domains() == []


def test_danger_entry_in_http_200_on_the_wire(raw: httpx.Client) -> None:
    response = raw.post("add/domain", json={"domain": "bad_domain!.org"})
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, list) and body[0]["type"] == "danger" and body[0]["msg"] == "domain_invalid"
    assert body[0]["log"][:3] == ["mailbox", "add", "domain"]


def test_edit_domain_raises_limits(client: MailcowClient) -> None:
    client.add_domain(DomainSpec(domain=DOMAIN, defquota=100, maxquota=100, quota=100, mailboxes=1, key_size=1024))
    client.add_mailbox(box("a"))
    with pytest.raises(MailcowRequestError) as info:
        client.add_mailbox(box("b"))
    assert info.value.key == "max_mailbox_exceeded"
    result = client.edit_domain(DOMAIN, {"mailboxes": 3, "quota": 300, "maxquota": 200, "active": True})
    assert result.has("domain_modified")
    domain = client.get_domain(DOMAIN)
    assert domain is not None and (domain.max_mailboxes, domain.quota_mib, domain.maxquota_mib) == (
        3,
        300,
        200,
    )
    client.add_mailbox(box("b"))
    assert client.get_domain(DOMAIN).mailboxes_in_domain == 2  # type: ignore[union-attr]
    with pytest.raises(MailcowRequestError) as info:
        client.edit_domain(DOMAIN, {"mailboxes": 1})
    assert info.value.key == "mailboxes_in_use"
    with pytest.raises(MailcowDomainMissing):
        client.edit_domain("missing.example.org", {"mailboxes": 3})


def test_delete_domain_refuses_while_it_has_mailboxes(client: MailcowClient) -> None:
    client.add_domain(small_domain())
    client.add_mailbox(box("alice"))
    with pytest.raises(MailcowRequestError) as info:
        client.delete_domain(DOMAIN)
    assert info.value.key == "domain_not_empty"
    assert client.get_domain(DOMAIN) is not None
    assert client.delete_mailboxes([f"alice@{DOMAIN}"]) == {f"alice@{DOMAIN}": "removed"}
    assert client.delete_domain(DOMAIN) == "removed"
    assert client.get_domain(DOMAIN) is None
    assert client.get_dkim(DOMAIN) is not None  # §7: the real code leaves the domain's key in Redis


# --------------------------------------------------------------------------------------------- DKIM


def test_add_dkim_after_add_domain_is_an_existing_key(client: MailcowClient, raw: httpx.Client) -> None:
    client.add_domain(small_domain())
    wire = raw.post("add/dkim", json={"domains": DOMAIN, "dkim_selector": "dkim", "key_size": 1024}).json()
    assert wire[0]["type"] == "danger" and wire[0]["msg"] == ["dkim_domain_or_sel_invalid", DOMAIN]
    with pytest.raises(MailcowConflict) as info:
        client.add_dkim(DOMAIN, key_size=1024)
    assert info.value.key == "dkim_domain_or_sel_invalid"
    # Also a MailcowRequestError, for callers that check the key themselves.
    assert isinstance(info.value, MailcowDkimExists) and isinstance(info.value, MailcowRequestError)


def test_delete_dkim_is_idempotent_and_add_dkim_takes_a_string(client: MailcowClient, raw: httpx.Client) -> None:
    client.add_domain(small_domain())
    assert client.delete_dkim(DOMAIN).has("dkim_removed")
    assert client.delete_dkim(DOMAIN).has("dkim_removed")  # no key any more: still a success
    assert client.get_dkim(DOMAIN) is None
    # `domains` must be a string; the array form breaks the PHP side.
    assert raw.post("add/dkim", json={"domains": [DOMAIN], "key_size": 1024}).status_code == 500
    assert client.add_dkim(DOMAIN, selector="s2024", key_size=1024).has("dkim_added")
    key = client.get_dkim(DOMAIN)
    assert key is not None and key.selector == "s2024" and key.length == "1024" and key.domain == DOMAIN
    assert key.record_name == "s2024._domainkey"


def test_add_dkim_for_a_missing_domain(client: MailcowClient) -> None:
    with pytest.raises(MailcowDomainMissing) as info:
        client.add_dkim("missing.example.org", key_size=1024)
    assert info.value.key == "access_denied"


# --------------------------------------------------------------------------------------------- mailboxes


def test_add_and_get_mailbox(client: MailcowClient, raw: httpx.Client, sandbox: MailcowSandbox) -> None:
    client.add_domain(small_domain())
    result = client.add_mailbox(
        box("Alice.Smith", name="Alice Smith", quota=250, tags=["azt3knet-synthetic", "seed-42"])
    )
    assert result.keys == ["rl_saved", "mailbox_added"]  # §7: rl_saved comes first
    address = f"alice.smith@{DOMAIN}"

    wire = raw.get(f"get/mailbox/{address}").json()
    assert isinstance(wire, dict)  # a single object, not a list
    assert wire["quota"] == 250 * MIB  # §7: an int  # bytes, as a string
    assert PASSWORD not in json.dumps(wire)

    mailbox = client.get_mailbox(address)
    assert mailbox is not None
    assert (mailbox.address, mailbox.username, mailbox.local_part, mailbox.domain) == (
        address,
        address,
        "alice.smith",
        DOMAIN,
    )
    assert (mailbox.name, mailbox.active, mailbox.quota_mib) == ("Alice Smith", True, 250)
    assert mailbox.tags == ["azt3knet-synthetic", "seed-42"]
    assert sandbox.check_password(address, PASSWORD) and not sandbox.check_password(address, "wrong")
    assert [m.address for m in client.list_mailboxes(DOMAIN)] == [address]
    # Mailcow creates a self-alias with the mailbox.
    assert {"address": address, "goto": address} in [
        {k: a[k] for k in ("address", "goto")} for a in sandbox.state()["aliases"]
    ]


def test_unlimited_quota_is_zero(client: MailcowClient) -> None:
    client.add_domain(small_domain())
    client.add_mailbox(box("u", quota=0))
    assert client.get_mailbox(f"u@{DOMAIN}").quota_mib == 0  # type: ignore[union-attr]


def test_list_mailboxes_of_an_empty_domain(client: MailcowClient, raw: httpx.Client) -> None:
    client.add_domain(small_domain())
    assert raw.get(f"get/mailbox/all/{DOMAIN}").json() == {}
    assert client.list_mailboxes(DOMAIN) == []


def test_add_mailbox_twice_is_a_conflict(client: MailcowClient) -> None:
    client.add_domain(small_domain())
    client.add_mailbox(box("alice"))
    with pytest.raises(MailcowConflict) as info:
        client.add_mailbox(box("alice"))
    assert info.value.key == "object_exists" and info.value.retried is False


def test_add_mailbox_to_a_missing_domain(client: MailcowClient, raw: httpx.Client) -> None:
    wire = raw.post("add/mailbox", json={"local_part": "a", "domain": "missing.example.org", "password": "x"})
    assert wire.status_code == 200 and wire.json()[0]["msg"] == "access_denied"
    with pytest.raises(MailcowDomainMissing) as info:
        client.add_mailbox(box("alice", domain="missing.example.org"))
    assert info.value.key == "access_denied" and isinstance(info.value, MailcowNotFound)


def test_add_mailbox_validation_order(client: MailcowClient) -> None:
    client.add_domain(DomainSpec(domain=DOMAIN, defquota=100, maxquota=300, quota=500, mailboxes=2, key_size=1024))
    cases: list[tuple[MailboxSpec, str]] = [
        (box("bad local"), "mailbox_invalid"),
        (box("a", extra={"quarantine_category": "nope"}), "quarantine_category_invalid"),
        (box("a", domain="bad_domain!.org"), "mailbox_invalid"),
        (box("a", password="abc"), "password_complexity"),
        (box("a", password2=PASSWORD + "x"), "password_mismatch"),
        (box("a", quota=301), "mailbox_quota_exceeded"),
    ]
    for spec, key in cases:
        with pytest.raises(MailcowRequestError) as info:
            client.add_mailbox(spec)
        assert info.value.key == key, spec.local_part
    client.add_mailbox(box("a", quota=300))
    with pytest.raises(MailcowRequestError) as info:
        client.add_mailbox(box("b", quota=300))
    assert info.value.key == "mailbox_quota_left_exceeded"
    assert info.value.entries[0]["msg"] == ["mailbox_quota_left_exceeded", 200]
    client.add_mailbox(box("b", quota=200))
    with pytest.raises(MailcowRequestError) as info:
        client.add_mailbox(box("c", quota=1))
    assert info.value.key == "max_mailbox_exceeded"
    # object_exists comes before the password and limit checks.
    with pytest.raises(MailcowConflict):
        client.add_mailbox(box("a", password="abc", quota=9999))


def test_edit_mailbox_adds_tags_and_sets_quota(client: MailcowClient, raw: httpx.Client) -> None:
    client.add_domain(small_domain())
    client.add_mailbox(box("alice", tags=["one", "two"]))
    client.add_mailbox(box("bob", tags=["one"]))
    addresses = [f"alice@{DOMAIN}", f"bob@{DOMAIN}"]
    result = client.edit_mailbox(addresses, {"tags": ["three"], "quota": 400, "active": False, "name": "Renamed"})
    assert result.keys == ["mailbox_modified", "mailbox_modified"]
    alice = client.get_mailbox(addresses[0])
    assert alice is not None
    assert alice.tags == ["one", "two", "three"]  # added, never replaced
    assert (alice.quota_mib, alice.active, alice.name) == (400, False, "Renamed")
    assert raw.get(f"get/mailbox/{addresses[1]}").json()["quota"] == 400 * MIB  # §7: an int
    assert client.get_mailbox(addresses[1]).tags == ["one", "three"]  # type: ignore[union-attr]
    assert client.edit_mailbox([], {"active": True}).entries == []


def test_edit_mailbox_password(client: MailcowClient, sandbox: MailcowSandbox) -> None:
    client.add_domain(small_domain())
    client.add_mailbox(box("alice"))
    new = "An0ther-Secret-Pass"
    client.edit_mailbox([f"alice@{DOMAIN}"], {"password": new, "password2": new})
    assert sandbox.check_password(f"alice@{DOMAIN}", new)
    assert not sandbox.check_password(f"alice@{DOMAIN}", PASSWORD)
    with pytest.raises(MailcowRequestError) as info:
        client.edit_mailbox([f"alice@{DOMAIN}"], {"password": "x1", "password2": "x1"})
    assert info.value.key == "password_complexity"
    assert sandbox.check_password(f"alice@{DOMAIN}", new)


def test_edit_missing_mailbox_is_not_found(client: MailcowClient) -> None:
    client.add_domain(small_domain())
    client.add_mailbox(box("alice"))
    with pytest.raises(MailcowNotFound) as info:
        client.edit_mailbox([f"alice@{DOMAIN}", f"ghost@{DOMAIN}"], {"tags": ["x"]})
    assert info.value.key == "access_denied"
    # A mixed envelope: the existing mailbox was still modified.
    assert [e["type"] for e in info.value.entries] == ["success", "danger"]
    assert client.get_mailbox(f"alice@{DOMAIN}").tags == ["x"]  # type: ignore[union-attr]


def test_delete_mailboxes_reports_missing_instead_of_raising(client: MailcowClient, raw: httpx.Client) -> None:
    client.add_domain(small_domain())
    client.add_mailbox(box("alice"))
    client.add_mailbox(box("carol"))
    wire = raw.post("delete/mailbox", json=[f"ghost@{DOMAIN}"])
    assert wire.status_code == 200 and wire.json()[0] == {
        **wire.json()[0],
        "type": "danger",
        "msg": "access_denied",
    }
    outcome = client.delete_mailboxes([f"ghost@{DOMAIN}", f"alice@{DOMAIN}", "not-an-address", f"carol@{DOMAIN}"])
    assert outcome == {
        f"ghost@{DOMAIN}": "missing",
        f"alice@{DOMAIN}": "removed",
        "not-an-address": "missing",
        f"carol@{DOMAIN}": "removed",
    }
    assert client.list_mailboxes(DOMAIN) == []
    assert client.delete_mailboxes([f"alice@{DOMAIN}"]) == {f"alice@{DOMAIN}": "missing"}  # not idempotent
    assert client.delete_mailboxes([]) == {}


def test_bulk_edit_and_delete_are_batched(url: str, sandbox: MailcowSandbox) -> None:
    """Each answer entry repeats the whole request in `log`; the client keeps requests small."""
    with MailcowClient(url, RW, policy=fast_policy(), batch_size=2) as c:
        c.add_domain(small_domain())
        for local in "abcde":
            c.add_mailbox(box(local, quota=10))
        addresses = [f"{local}@{DOMAIN}" for local in "abcde"]
        result = c.edit_mailbox([*addresses, addresses[0]], {"tags": ["batch"]})
        assert result.keys == ["mailbox_modified"] * 5 and result.attempts == 3
        assert all(m.tags == ["batch"] for m in c.list_mailboxes(DOMAIN))
        outcome = c.delete_mailboxes([f"ghost@{DOMAIN}", *addresses])
    assert outcome == {f"ghost@{DOMAIN}": "missing", **dict.fromkeys(addresses, "removed")}
    assert sandbox.counters()["POST edit/mailbox"] == 3 and sandbox.counters()["POST delete/mailbox"] == 3


def test_tag_filter(client: MailcowClient, raw: httpx.Client) -> None:
    client.add_domain(small_domain())
    client.add_domain(small_domain(f"sub.{DOMAIN}"))
    client.add_mailbox(box("a", tags=["azt3knet-synthetic", "seed-1"]))
    client.add_mailbox(box("b", tags=["azt3knet-synthetic", "seed-12"]))
    client.add_mailbox(box("c", tags=["other"]))
    client.add_mailbox(box("d", domain=f"sub.{DOMAIN}", tags=["seed-1"]))

    # The server's filter is Mailcow's substring LIKE, and with tags even a sub-domain matches...
    wire = raw.get(f"get/mailbox/all/{DOMAIN}", params={"tags": "seed-1"}).json()
    assert sorted(m["username"] for m in wire) == [f"a@{DOMAIN}", f"b@{DOMAIN}", f"d@sub.{DOMAIN}"]
    # ...and `{id}?tags=` returns a list, not an object.
    assert isinstance(raw.get(f"get/mailbox/a@{DOMAIN}", params={"tags": "seed-1"}).json(), list)
    # The client re-checks: exact tags, exact domain.
    assert [m.address for m in client.list_mailboxes(DOMAIN, tags=["seed-1"])] == [f"a@{DOMAIN}"]
    assert [m.address for m in client.list_mailboxes(DOMAIN, tags=["seed-12", "other"])] == [
        f"b@{DOMAIN}",
        f"c@{DOMAIN}",
    ]
    assert client.list_mailboxes(DOMAIN, tags=["nothing"]) == []
    assert len(client.list_mailboxes(DOMAIN)) == 3


def test_password_policy(client: MailcowClient, raw: httpx.Client) -> None:
    assert client.get_password_policy() == {
        "length": 6,
        "chars": 0,
        "special_chars": 0,
        "lowerupper": 0,
        "numbers": 0,
    }
    raw.post("edit/passwordpolicy", json={"items": [], "attr": {"length": 12, "numbers": 1}})
    assert client.get_password_policy()["length"] == 12
    client.add_domain(small_domain())
    with pytest.raises(MailcowRequestError) as info:
        client.add_mailbox(box("a", password="short-1"))
    assert info.value.key == "password_complexity"


# --------------------------------------------------------------------------------------------- auth


def test_bad_key_is_401_single_object_and_never_retried(url: str, sandbox: MailcowSandbox) -> None:
    wire = httpx.get(f"{url}/api/v1/get/domain/all", headers={"X-API-Key": "WRONG-KEY"})
    assert wire.status_code == 401 and wire.json() == {"type": "error", "msg": "authentication failed"}
    sandbox.reset_counters()
    with MailcowClient(url, "WRONG-KEY", policy=fast_policy(max_attempts=6)) as bad:
        with pytest.raises(MailcowAuthError) as info:
            bad.add_domain(small_domain())
        assert info.value.status == 401 and info.value.key == "authentication failed"
        assert bad.request_count == 1 and bad.write_count == 1
    assert sandbox.auth_failure_count == 1  # fail2ban would count exactly one failure
    assert "WRONG-KEY" not in str(info.value)


def test_key_characters_outside_the_alphabet_are_stripped(url: str) -> None:
    with MailcowClient(url, f" {RW}!\n", policy=fast_policy()) as c:  # Mailcow strips "!"; we strip blanks
        assert c.list_domains() == []
    wire = httpx.get(f"{url}/api/v1/get/domain/all", headers={"X-API-Key": f"{RW}*%"})
    assert wire.status_code == 200 and wire.json() == {}


def test_read_only_key_gets_403_on_writes(url: str) -> None:
    with MailcowClient(url, RO, policy=fast_policy()) as ro:
        assert ro.list_domains() == []
        with pytest.raises(MailcowAuthError) as info:
            ro.add_domain(small_domain())
        assert info.value.status == 403 and info.value.key == "API read/write access denied"
        assert ro.write_count == 1 and ro.request_count == 2


def test_ip_allow_list() -> None:
    app = create_mailcow_app(MailcowSandboxConfig(allowed_ips=["10.0.0.0/8", "192.168.1.1"]))
    with serve_in_thread(app) as running, MailcowClient(running.url, RW, policy=fast_policy()) as c:
        with pytest.raises(MailcowAuthError) as info:
            c.list_domains()
        assert info.value.status == 401 and c.request_count == 1
        assert info.value.key == "api access denied for ip 127.0.0.1"


def test_routing_errors_on_the_wire(url: str, raw: httpx.Client) -> None:
    assert raw.get("nope/domain").status_code == 404
    assert raw.get("nope/domain").json() == {"type": "error", "msg": "route not found"}
    assert raw.get("get/nope").status_code == 404
    assert raw.get("add/domain").json() == {"type": "error", "msg": "only POST method is allowed"}
    assert raw.post("get/domain/all").status_code == 405
    bad = raw.post("add/domain", content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json()["msg"] == "Request body doesn't contain valid json!"
    form = raw.post("add/domain", data={"x": "1"})
    assert form.status_code == 200 and form.json() == {
        "type": "error",
        "msg": "Cannot find attributes in post data",
    }
    assert raw.get("get/domain/all", headers={"Sec-Fetch-Dest": "document"}).status_code == 403
    no_key = httpx.get(f"{url}/api/v1/get/domain/all")
    assert no_key.status_code == 200 and no_key.content == b""
    assert httpx.post(f"{url}/api/v1/delete/mailbox", json=["a@b.example"]).status_code == 403
    # add without a key passes the ro check and fails in the handler, as HTTP 200.
    no_key_add = httpx.post(f"{url}/api/v1/add/domain", json={"domain": DOMAIN})
    assert no_key_add.status_code == 200 and no_key_add.json()[0]["msg"] == "access_denied"


def test_wire_format_of_requests() -> None:
    """What the client puts on the wire, independent of any server: paths, key header, JSON bodies, MiB."""
    seen: list[httpx.Request] = []

    success = {
        "add/domain": "domain_added",
        "add/dkim": "dkim_added",
        "add/mailbox": "mailbox_added",
        "edit/mailbox": "mailbox_modified",
        "edit/domain": "domain_modified",
        "delete/mailbox": "mailbox_removed",
        "delete/dkim": "dkim_removed",
        "delete/domain": "domain_removed",
    }

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        route = request.url.path.removeprefix("/api/v1/")
        if route not in success:
            return httpx.Response(200, json={})
        body = json.loads(request.content)
        if isinstance(body, list):
            names = body
        elif "items" in body:
            names = body["items"]
        elif "local_part" in body:
            names = [f"{body['local_part']}@{body['domain']}"]
        else:
            names = [body.get("domain") or body.get("domains")]
        return httpx.Response(200, json=[{"type": "success", "msg": [success[route], n]} for n in names])

    with MailcowClient("https://mail.example.org/", RW, transport=httpx.MockTransport(handler)) as c:
        c.add_domain(DomainSpec(domain="Pop.Example.org", quota=4096, maxquota=2048, defquota=1024))
        c.add_dkim(DOMAIN, key_size=1024)
        c.add_mailbox(box("alice", quota=250, tags=["t"]))
        c.edit_mailbox([f"alice@{DOMAIN}"], {"active": False, "quota": 300})
        c.edit_domain(DOMAIN, {"mailboxes": 20})
        c.delete_mailboxes([f"alice@{DOMAIN}"])
        c.delete_dkim(DOMAIN)
        c.delete_domain(DOMAIN)
        c.list_mailboxes(DOMAIN, tags=["a", "b"])
    paths = [(r.method, r.url.path) for r in seen]
    assert paths == [
        ("POST", "/api/v1/add/domain"),
        ("POST", "/api/v1/add/dkim"),
        ("POST", "/api/v1/add/mailbox"),
        ("POST", "/api/v1/edit/mailbox"),
        ("POST", "/api/v1/edit/domain"),
        ("POST", "/api/v1/delete/mailbox"),
        ("POST", "/api/v1/delete/dkim"),
        ("POST", "/api/v1/delete/domain"),
        ("GET", f"/api/v1/get/mailbox/all/{DOMAIN}"),
    ]
    assert all(r.headers["X-API-Key"] == RW for r in seen)
    assert all(r.headers["Content-Type"] == "application/json" for r in seen if r.method == "POST")
    bodies = [json.loads(r.content) for r in seen if r.method == "POST"]
    assert bodies[0]["domain"] == DOMAIN and (bodies[0]["quota"], bodies[0]["maxquota"]) == (4096, 2048)
    assert bodies[0]["active"] == 1 and bodies[0]["dkim_selector"] == "dkim"
    assert bodies[1] == {"domains": DOMAIN, "dkim_selector": "dkim", "key_size": 1024}  # a string, not a list
    assert bodies[2]["quota"] == 250 and bodies[2]["tags"] == ["t"] and bodies[2]["force_pw_update"] == 0
    assert bodies[2]["password"] == bodies[2]["password2"] == PASSWORD
    assert bodies[3] == {"items": [f"alice@{DOMAIN}"], "attr": {"active": 0, "quota": 300}}
    assert bodies[4] == {"items": [DOMAIN], "attr": {"mailboxes": 20}}
    assert bodies[5] == [f"alice@{DOMAIN}"] and bodies[6] == [DOMAIN] and bodies[7] == [DOMAIN]
    assert seen[-1].url.params["tags"] == "a,b"


def test_fail2ban_emulation_bans_after_repeated_bad_keys() -> None:
    app = create_mailcow_app(MailcowSandboxConfig(ban_after_failures=3))
    with serve_in_thread(app) as running:
        for _ in range(3):
            with (
                MailcowClient(running.url, "BAD", policy=fast_policy()) as bad,
                pytest.raises(MailcowAuthError),
            ):
                bad.list_domains()
        # Banned: connections are dropped, even with a good key.
        with (
            MailcowClient(running.url, RW, policy=fast_policy(max_attempts=2)) as good,
            pytest.raises(MailcowUnavailable),
        ):
            good.list_domains()
    assert app.state.sandbox.auth_failure_count == 3


def test_client_maps_http_errors(url: str) -> None:
    with MailcowClient(f"{url}/not-mailcow", RW, policy=fast_policy()) as c:
        with pytest.raises(MailcowRequestError) as info:
            c.list_domains()
        assert info.value.status == 404 and c.request_count == 1
    with MailcowClient(f"{url}/api/v1/", RW, policy=fast_policy()) as c:  # a base URL with /api/v1 works too
        assert c.list_domains() == []


# ------------------------------------------------------------------------------------- retries & faults


def test_503_and_502_are_retried(client: MailcowClient, sandbox: MailcowSandbox) -> None:
    sandbox.set_faults(fault_queue=["503", "502"])
    result = client.add_domain(small_domain())
    assert result.attempts == 3 and client.request_count == 3 and client.write_count == 3
    assert sandbox.counters()["POST add/domain"] == 3
    assert [d["domain_name"] for d in sandbox.state()["domains"]] == [DOMAIN]


def test_429_retry_after_is_honoured(url: str, sandbox: MailcowSandbox) -> None:
    sandbox.set_faults(fault_queue=["429"], retry_after_seconds=2)
    sleep = SleepRecorder()
    policy = RetryPolicy(base_delay=0.001, seed=3, sleep=sleep)
    with MailcowClient(url, RW, policy=policy) as c:
        assert c.list_domains() == []
        assert c.request_count == 2
    assert len(sleep.calls) == 1 and sleep.calls[0] >= 2.0


def test_retries_are_bounded(client: MailcowClient, sandbox: MailcowSandbox) -> None:
    sandbox.set_faults(fault_queue=["503"] * 4)
    with pytest.raises(MailcowUnavailable) as info:
        client.list_domains()
    assert isinstance(info.value, RetriesExhausted) and isinstance(info.value, MailcowError)
    assert client.request_count == 4
    assert "HTTP 503" in str(info.value)


def test_error_after_apply_then_retry_is_adopted_as_conflict(client: MailcowClient, sandbox: MailcowSandbox) -> None:
    client.add_domain(small_domain())
    sandbox.set_faults(fault_queue=["error_after_apply"])
    with pytest.raises(MailcowConflict) as info:
        client.add_mailbox(box("alice"))
    assert info.value.key == "object_exists" and info.value.retried is True
    assert client.write_count == 3  # add/domain + two add/mailbox attempts
    assert sandbox.check_password(f"alice@{DOMAIN}", PASSWORD)  # the first attempt was applied
    assert len(client.list_mailboxes(DOMAIN)) == 1


def test_dropped_connection_after_apply_on_delete_converges(client: MailcowClient, sandbox: MailcowSandbox) -> None:
    client.add_domain(small_domain())
    client.add_mailbox(box("alice"))
    sandbox.set_faults(fault_queue=["drop_after_apply"])
    assert client.delete_mailboxes([f"alice@{DOMAIN}"]) == {f"alice@{DOMAIN}": "missing"}
    assert sandbox.fault_counts == {"drop_after_apply": 1}
    assert client.get_mailbox(f"alice@{DOMAIN}") is None


def test_dropped_connection_before_apply_is_retried(client: MailcowClient, sandbox: MailcowSandbox) -> None:
    sandbox.set_faults(fault_queue=["drop"])
    assert client.add_domain(small_domain()).attempts == 2


def test_timeouts_are_retried_whether_applied_or_not(url: str, sandbox: MailcowSandbox) -> None:
    with MailcowClient(url, RW, policy=fast_policy(), timeout=0.3) as c:
        c.add_domain(small_domain())
        sandbox.set_faults(fault_queue=["timeout"])  # answered late, not applied
        assert c.add_mailbox(box("alice")).attempts == 2
        sandbox.set_faults(fault_queue=["timeout_after_apply"])  # applied, answer arrives too late
        with pytest.raises(MailcowConflict) as info:
            c.add_mailbox(box("bob"))
        assert info.value.retried is True
        assert sorted(m.local_part for m in c.list_mailboxes(DOMAIN)) == ["alice", "bob"]


def test_random_faults_still_converge(url: str, sandbox: MailcowSandbox) -> None:
    """With a seeded mix of every fault, a create loop that adopts conflicts ends with exactly the plan."""
    sandbox.set_faults(
        fault_seed=11,
        error_rate=0.15,
        error_after_apply_rate=0.15,
        drop_rate=0.1,
        drop_applies="random",
        rate_429=0.05,
    )
    sandbox.set_faults(retry_after_seconds=0)
    with MailcowClient(url, RW, policy=fast_policy(max_attempts=20)) as c:
        with contextlib.suppress(MailcowConflict):
            c.add_domain(small_domain(mailboxes=20))
        wanted = [f"u{i}" for i in range(16)]

        def create(local: str) -> str:
            try:
                c.add_mailbox(box(local, quota=10))
                return "created"
            except MailcowConflict:
                return "adopted"

        with ThreadPoolExecutor(max_workers=8) as pool:
            outcomes = list(pool.map(create, wanted))
        sandbox.set_faults(error_rate=0.0, error_after_apply_rate=0.0, drop_rate=0.0, rate_429=0.0)
        assert sorted(m.local_part for m in c.list_mailboxes(DOMAIN)) == sorted(wanted)
        assert set(outcomes) <= {"created", "adopted"}
    assert sum(sandbox.fault_counts.values()) > 0


# --------------------------------------------------------------------------------------------- secrets


def test_password_never_in_exceptions_nor_responses(
    client: MailcowClient, raw: httpx.Client, sandbox: MailcowSandbox
) -> None:
    client.add_domain(small_domain())
    client.add_mailbox(box("alice"))
    errors: list[ApiError] = []
    attempts = [
        lambda: client.add_mailbox(box("alice")),  # object_exists
        lambda: client.add_mailbox(box("bob", password2=PASSWORD + "x")),  # password_mismatch
        lambda: client.add_mailbox(box("bob", domain="missing.example.org")),  # access_denied
        lambda: client.edit_mailbox([f"ghost@{DOMAIN}"], {"password": PASSWORD, "password2": PASSWORD}),
        lambda: client.edit_mailbox([f"alice@{DOMAIN}"], {"password": PASSWORD, "password2": "mismatch-1"}),
    ]
    for attempt in attempts:
        with pytest.raises(MailcowError) as info:
            attempt()
        errors.append(info.value)
    sandbox.set_faults(fault_queue=["503"] * 4)
    with pytest.raises(MailcowUnavailable) as info:
        client.add_mailbox(box("carol"))
    errors.append(info.value)
    for exc in errors:
        for text in (str(exc), repr(exc), json.dumps(exc.entries, default=str), repr(exc.args)):
            assert PASSWORD not in text
    # The server masks passwords in the `log` copy of the request; nothing else echoes them.
    body = {"local_part": "alice", "domain": DOMAIN, "password": PASSWORD, "password2": PASSWORD}
    for response in (
        raw.post("add/mailbox", json=body),
        raw.post("add/mailbox", json={**body, "local_part": "dave", "password2": "other-pass"}),
        raw.post("edit/mailbox", json={"items": [f"alice@{DOMAIN}"], "attr": {"password": PASSWORD}}),
        raw.get(f"get/mailbox/alice@{DOMAIN}"),
        raw.get("get/mailbox/all"),
        httpx.get(f"{raw.base_url.scheme}://{raw.base_url.host}:{raw.base_url.port}/_sandbox/state"),
    ):
        assert PASSWORD not in response.text
    assert raw.post("add/mailbox", json=body).json()[0]["log"][3]["password"] == "*"


def test_password_scrubbed_even_if_a_server_echoes_it() -> None:
    """Do not rely on the server's masking: a server echoing request data must not leak it into errors."""

    async def echo(request: Request) -> JSONResponse:
        data = json.loads(await request.body())
        return JSONResponse([{"type": "danger", "log": ["mailbox", "add", "mailbox", data], "msg": ["weird", data]}])

    app = Starlette(routes=[Route("/api/v1/{rest:path}", echo, methods=["POST"])])
    with (
        serve_in_thread(app) as running,
        MailcowClient(running.url, RW, policy=fast_policy()) as c,
        pytest.raises(MailcowRequestError) as info,
    ):
        c.add_mailbox(box("alice"))
    assert info.value.key == "weird"
    for text in (str(info.value), repr(info.value), json.dumps(info.value.entries)):
        assert PASSWORD not in text and RW not in text


# --------------------------------------------------------------------------------------------- concurrency


def test_thread_safe_counters_and_parallel_creates(client: MailcowClient, sandbox: MailcowSandbox) -> None:
    client.add_domain(DomainSpec(domain=DOMAIN, defquota=1, maxquota=1, quota=100, mailboxes=100, key_size=1024))
    start = client.request_count
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        barrier.wait()
        for j in range(5):
            client.add_mailbox(box(f"w{i}-{j}", quota=1))
            client.get_mailbox(f"w{i}-{j}@{DOMAIN}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(worker, range(8)))
    assert client.request_count - start == 80
    assert len(client.list_mailboxes(DOMAIN)) == 40
    assert sandbox.counters()["POST add/mailbox"] == 40 and sandbox.counters()["GET get/mailbox"] == 41


# ------------------------------------------------------------------------------------- stand-in extras


def test_sandbox_debug_routes(url: str, client: MailcowClient) -> None:
    client.add_domain(small_domain())
    client.add_mailbox(box("alice"))
    counters = httpx.get(f"{url}/_sandbox/counters").json()
    assert counters["POST add/mailbox"] == 1 and counters["writes"] == 2 and counters["reads"] == 0
    state = httpx.get(f"{url}/_sandbox/state").json()
    assert [m["username"] for m in state["mailboxes"]] == [f"alice@{DOMAIN}"]
    assert "password_hash" not in state["mailboxes"][0] and PASSWORD not in json.dumps(state)
    faults = httpx.post(f"{url}/_sandbox/faults", json={"fault_queue": ["503"]}).json()
    assert faults["fault_queue"] == ["503"]
    assert httpx.post(f"{url}/_sandbox/faults", json={"error_rate": 3}).status_code == 400
    assert httpx.post(f"{url}/_sandbox/faults", json={"fault_queue": ["bogus"]}).status_code == 400
    assert client.get_domain(DOMAIN) is not None and client.request_count == 4  # one 503 consumed, retried
    assert httpx.post(f"{url}/_sandbox/counters/reset").status_code == 200
    assert httpx.get(f"{url}/_sandbox/counters").json() == {"reads": 0, "writes": 0}
    assert httpx.post(f"{url}/_sandbox/reset").status_code == 200
    assert client.list_domains() == []


def test_sandbox_state_file_persists_without_plaintext(tmp_path: Path) -> None:
    state_file = tmp_path / "mailcow-state.json"
    config = MailcowSandboxConfig(state_file=str(state_file), dkim_reuse_keys=True)
    app = create_mailcow_app(config)
    with serve_in_thread(app) as running, MailcowClient(running.url, RW, policy=fast_policy()) as c:
        c.add_domain(small_domain())
        c.add_mailbox(box("alice", tags=["keep"]))
    assert PASSWORD not in state_file.read_text()
    reloaded = create_mailcow_app(config)
    with serve_in_thread(reloaded) as running, MailcowClient(running.url, RW, policy=fast_policy()) as c:
        assert [m.tags for m in c.list_mailboxes(DOMAIN)] == [["keep"]]
        assert c.get_dkim(DOMAIN) is not None
    assert reloaded.state.sandbox.check_password(f"alice@{DOMAIN}", PASSWORD)
