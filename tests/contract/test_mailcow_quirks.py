"""Contract §7 (what the real Mailcow code did) over real HTTP: the stand-in reproduces each behaviour behind a
switch, and the client holds up with every switch on: an empty 200 from a crashed handler is a failure unless a
read-back shows the object, `get/mailbox/all/<missing domain>` answering every mailbox is filtered away, the
`rl_saved` entry, integer fields, untagged domains without a `tags` key, the DKIM key left by `delete/domain`,
`?tags=` substring matches, and the stand-in's record of every write it received."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from azt3knet_pipeline.clients.http import RetryPolicy
from azt3knet_pipeline.clients.mailcow import DomainSpec, MailboxSpec, MailcowClient
from azt3knet_pipeline.errors import MailcowAmbiguousReply, MailcowConflict, MailcowDomainMissing, MailcowError
from azt3knet_pipeline.sandbox.mailcow import MailcowSandbox, MailcowSandboxConfig, create_mailcow_app
from azt3knet_pipeline.sandbox.mailcow.mailboxes import add_mailbox
from azt3knet_pipeline.serving import RunningServer, serve_in_thread

RW = "SANDBOX-RW-KEY"
DOMAIN = "pop.example.org"
OTHER = "other.example.org"
PASSWORD = "Sup3r-Secret-Passw0rd!"
QUIRKS = (
    "quirk_mailbox_all_missing_domain_lists_all",
    "quirk_rl_saved_entry",
    "quirk_int_fields",
    "quirk_untagged_domain_has_no_tags_key",
    "quirk_delete_domain_keeps_dkim",
    "quirk_edit_missing_domain_invalid",
)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[RunningServer, MailcowSandbox]]:
    app = create_mailcow_app(MailcowSandboxConfig(dkim_reuse_keys=True))
    with serve_in_thread(app) as running:
        yield running, app.state.sandbox


@pytest.fixture
def sandbox(server: tuple[RunningServer, MailcowSandbox]) -> MailcowSandbox:
    sb = server[1]
    sb.reset()
    sb.reset_counters()
    sb.set_faults(fault_queue=[], fault_actions=["add", "edit", "delete", "get"], empty_200_rate=0.0)
    sb.set_faults(**dict.fromkeys(QUIRKS, True), foreign_race_addresses=[])
    return sb


@pytest.fixture
def client(server: tuple[RunningServer, MailcowSandbox], sandbox: MailcowSandbox) -> Iterator[MailcowClient]:
    policy = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.005, seed=1)
    with MailcowClient(server[0].url, RW, policy=policy, timeout=5.0) as c:
        yield c


class LostBody(httpx.HTTPTransport):
    """Real HTTP to the stand-in, but the reply of the chosen routes is replaced by an empty 200 after the
    server applied it (a reply lost on the way back)."""

    def __init__(self, routes: set[str]) -> None:
        super().__init__()
        self.routes = routes

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.url.path.removeprefix("/api/v1/") in self.routes:
            response.read()
            response.close()
            return httpx.Response(200, content=b"", request=request)
        return response


def domain(name: str = DOMAIN, **kw: Any) -> DomainSpec:
    kw = {"key_size": 1024, "defquota": 100, "maxquota": 500, "quota": 2000, "mailboxes": 10, **kw}
    return DomainSpec(domain=name, **kw)


def box(local: str, dom: str = DOMAIN, **kw: Any) -> MailboxSpec:
    return MailboxSpec(local_part=local, domain=dom, password=PASSWORD, quota=100, **kw)


def test_an_empty_200_from_a_crashed_handler_is_a_failure(client: MailcowClient, sandbox: MailcowSandbox) -> None:
    client.add_domain(domain())
    sandbox.set_faults(fault_actions=["add", "edit", "delete"], fault_queue=["empty_200"])
    with pytest.raises(MailcowAmbiguousReply) as info:
        client.add_mailbox(box("alice", tags=["t"]))
    assert info.value.key == "ambiguous_reply" and "empty body" in str(info.value)
    assert client.get_mailbox(f"alice@{DOMAIN}") is None
    # The real trigger: a 300-character name is a database error, the handler throws.
    with pytest.raises(MailcowAmbiguousReply):
        client.add_mailbox(box("bob", name="x" * 300))
    assert client.get_mailbox(f"bob@{DOMAIN}") is None
    client.add_mailbox(box("carol"))
    for action in (
        lambda: client.edit_mailbox([f"carol@{DOMAIN}"], {"name": "Carol"}),
        lambda: client.edit_domain(DOMAIN, {"mailboxes": 20}),
        lambda: client.delete_mailboxes([f"carol@{DOMAIN}"]),
        lambda: client.delete_domain(DOMAIN),
    ):
        sandbox.set_faults(fault_queue=["empty_200"])
        with pytest.raises(MailcowAmbiguousReply):
            action()
    assert client.get_mailbox(f"carol@{DOMAIN}") is not None and client.get_domain(DOMAIN) is not None
    assert sandbox.fault_counts["empty_200"] == 5


def test_a_lost_reply_is_decided_by_reading_the_object_back(server: Any, sandbox: MailcowSandbox) -> None:
    routes = {"add/domain", "add/mailbox", "delete/mailbox", "add/dkim", "delete/dkim"}
    with MailcowClient(server[0].url, RW, transport=LostBody(routes)) as client:
        created = client.add_domain(domain(tags=["azt3knet-synthetic", "pop"]))
        assert created.verified_by_read and created.entries == []
        result = client.add_mailbox(box("alice", tags=["azt3knet-synthetic", "pop"]))
        assert result.verified_by_read
        assert client.get_mailbox(f"alice@{DOMAIN}") is not None
        client.delete_dkim(DOMAIN)
        assert client.get_dkim(DOMAIN) is None
        assert client.add_dkim(DOMAIN, key_size=1024).verified_by_read
        assert client.delete_mailboxes([f"alice@{DOMAIN}"]) == {f"alice@{DOMAIN}": "removed"}
        # Someone else's mailbox at the address: the read-back shows a mailbox without our tags.
        add_mailbox(sandbox, {"local_part": "bob", "domain": DOMAIN, "password": "x" * 8, "password2": "x" * 8}, True)
        with pytest.raises(MailcowConflict):
            client.add_mailbox(box("bob", tags=["azt3knet-synthetic", "pop"]))


def test_a_create_whose_reply_never_came_is_decided_by_reading_it_back(
    server: Any, sandbox: MailcowSandbox, client: MailcowClient
) -> None:
    client.add_domain(domain())
    sandbox.set_faults(fault_actions=["add"], fault_queue=["drop_after_apply", "drop"])
    once = RetryPolicy(max_attempts=1, base_delay=0.001, max_delay=0.005, seed=1)
    with MailcowClient(server[0].url, RW, policy=once, timeout=5.0) as single:
        applied = single.add_mailbox(box("alice", tags=["azt3knet-synthetic"]))
        assert applied.verified_by_read and client.get_mailbox(f"alice@{DOMAIN}") is not None
        with pytest.raises(MailcowError):  # dropped before it was applied: nothing there, still a failure
            single.add_mailbox(box("bob", tags=["azt3knet-synthetic"]))
    assert client.get_mailbox(f"bob@{DOMAIN}") is None


def test_listing_a_missing_domain_never_returns_other_domains_mailboxes(
    client: MailcowClient, sandbox: MailcowSandbox, server: Any
) -> None:
    client.add_domain(domain(OTHER))
    client.add_mailbox(box("someone", OTHER))
    raw = httpx.get(f"{server[0].url}/api/v1/get/mailbox/all/{DOMAIN}", headers={"X-API-Key": RW}).json()
    assert [m["username"] for m in raw] == [f"someone@{OTHER}"]  # §7: every mailbox on the server
    assert client.list_mailboxes(DOMAIN) == []
    sandbox.set_faults(quirk_mailbox_all_missing_domain_lists_all=False)
    assert httpx.get(f"{server[0].url}/api/v1/get/mailbox/all/{DOMAIN}", headers={"X-API-Key": RW}).json() == {}


def test_tag_filters_are_exact_on_the_client(client: MailcowClient, server: Any) -> None:
    client.add_domain(domain())
    client.add_mailbox(box("one", tags=["azt3knet-synthetic", "seed-1"]))
    client.add_mailbox(box("ten", tags=["azt3knet-synthetic", "seed-10"]))
    raw = httpx.get(
        f"{server[0].url}/api/v1/get/mailbox/all/{DOMAIN}", params={"tags": "seed-1"}, headers={"X-API-Key": RW}
    ).json()
    assert len(raw) == 2  # the server's LIKE '%seed-1%'
    assert [m.address for m in client.list_mailboxes(DOMAIN, tags=["seed-1"])] == [f"one@{DOMAIN}"]


def test_rl_saved_int_fields_and_untagged_domains_parse(
    client: MailcowClient, sandbox: MailcowSandbox, server: Any
) -> None:
    for quirks_on in (True, False):
        sandbox.reset()
        sandbox.set_faults(**dict.fromkeys(QUIRKS, quirks_on))
        client.add_domain(domain())
        result = client.add_mailbox(box("alice"))
        assert result.has("mailbox_added") and result.has("rl_saved") is quirks_on
        raw = httpx.get(f"{server[0].url}/api/v1/get/mailbox/alice@{DOMAIN}", headers={"X-API-Key": RW}).json()
        assert isinstance(raw["quota"], int) is quirks_on and isinstance(raw["active"], int) is quirks_on
        mailbox = client.get_mailbox(f"alice@{DOMAIN}")
        assert mailbox is not None and (mailbox.quota_mib, mailbox.active) == (100, True)
        raw_domain = httpx.get(f"{server[0].url}/api/v1/get/domain/{DOMAIN}", headers={"X-API-Key": RW}).json()
        assert ("tags" in raw_domain) is not quirks_on
        assert isinstance(raw_domain["quota_used_in_domain"], str)
        got = client.get_domain(DOMAIN)
        assert got is not None and got.tags == [] and got.quota_used_mib == 100


def test_domain_tags_are_added_on_edit(client: MailcowClient) -> None:
    client.add_domain(domain(tags=["mine"]))
    client.edit_domain(DOMAIN, {"tags": ["azt3knet-synthetic", "pop"]})
    got = client.get_domain(DOMAIN)
    assert got is not None and got.tags == ["mine", "azt3knet-synthetic", "pop"]


def test_delete_domain_leaves_the_dkim_key_and_re_adding_reuses_it(client: MailcowClient) -> None:
    first = client.add_domain(domain())
    assert first.has("dkim_added")
    key = client.get_dkim(DOMAIN)
    assert client.delete_domain(DOMAIN) == "removed"
    assert client.get_dkim(DOMAIN) == key  # §7: still in Redis
    again = client.add_domain(domain())
    assert again.has("domain_add_dkim_available") and not again.has("dkim_added")
    assert client.get_dkim(DOMAIN) == key


def test_edit_of_a_missing_domain_is_domain_invalid(client: MailcowClient) -> None:
    with pytest.raises(MailcowDomainMissing) as info:
        client.edit_domain(DOMAIN, {"mailboxes": 3})
    assert info.value.key == "domain_invalid"


def test_someone_else_creates_the_mailbox_just_before_our_add(client: MailcowClient, sandbox: MailcowSandbox) -> None:
    client.add_domain(domain())
    sandbox.set_faults(foreign_race_addresses=[f"alice@{DOMAIN}"])
    with pytest.raises(MailcowConflict) as info:
        client.add_mailbox(box("alice", tags=["azt3knet-synthetic"]))
    assert info.value.key == "object_exists"
    assert sandbox.check_password(f"alice@{DOMAIN}", "Someone-elses-1")
    assert not sandbox.check_password(f"alice@{DOMAIN}", PASSWORD)


def test_the_stand_in_records_every_write_received(client: MailcowClient, sandbox: MailcowSandbox, server: Any) -> None:
    client.add_domain(domain())
    client.add_mailbox(box("alice"))
    client.edit_mailbox([f"alice@{DOMAIN}"], {"password": "An0ther-Secret!", "password2": "An0ther-Secret!"})
    client.delete_mailboxes([f"alice@{DOMAIN}"])
    client.list_mailboxes(DOMAIN)
    writes = sandbox.writes_received()
    assert [w["route"] for w in writes] == ["add/domain", "add/mailbox", "edit/mailbox", "delete/mailbox"]
    assert writes[1]["body"]["password"] == "*" and writes[2]["body"]["attr"]["password2"] == "*"
    assert "An0ther-Secret!" not in repr(writes) and PASSWORD not in repr(writes)
    over_http = httpx.get(f"{server[0].url}/_sandbox/writes").json()
    assert over_http == writes
    sandbox.reset_counters()
    assert sandbox.writes_received() == []
