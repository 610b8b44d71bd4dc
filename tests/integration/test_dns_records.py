"""DNS on deSEC, for real: the `dns_records` asset, teardown, `azt3knet plan`, the per-domain throttle and the
zone bootstrap, against the deSEC and Mailcow stand-ins on loopback (real HTTP, real Dagster runs).

What is counted is what deSEC throttles: rrset write requests per domain (`writes_by_domain` of the stand-in).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import helpers_populations as populations
import pytest
from helpers_sandbox import desec_state, population_rrsets, zone_writes
from typer.testing import CliRunner

from azt3knet_pipeline.cli.app import app
from azt3knet_pipeline.clients.factory import desec_client, mailcow_client
from azt3knet_pipeline.definitions import defs
from azt3knet_pipeline.domain.dns import RRset, drift_for_populations, parse_txt_strings, txt_content
from azt3knet_pipeline.domain.models import PopulationSpec
from azt3knet_pipeline.orchestration.results import RunOutcome
from azt3knet_pipeline.sandbox.desec import DesecSandbox
from azt3knet_pipeline.sandbox.run import Sandbox
from azt3knet_pipeline.services.mailboxes import domain_spec_for
from azt3knet_pipeline.settings import get_settings

REPO = Path(__file__).resolve().parents[2]
HOST = "mail.azt3knet.test."


def mailcow_writes(sandbox: Sandbox) -> int:
    return int(sandbox.mailcow_app.state.sandbox.counters()["writes"])  # type: ignore[attr-defined]


def register(key: str, count: int, seed: int) -> None:
    populations.register_population(PopulationSpec(count=count, seed=seed, country="ES"), key)


def materialize(key: str, job_name: str) -> RunOutcome:
    outcome = populations.materialize_population(key, job_name=job_name)
    assert outcome.success, outcome.error
    return outcome


def expected_keys(key: str) -> set[tuple[str, str]]:
    return {
        (key, "MX"),
        (key, "TXT"),
        (f"_dmarc.{key}", "TXT"),
        (f"autoconfig.{key}", "CNAME"),
        (f"autodiscover.{key}", "CNAME"),
        (f"dkim._domainkey.{key}", "TXT"),
    }


def assert_population_records(sandbox: Sandbox, key: str, ttl: int) -> None:
    """The six rrsets of the population's mail domain, with Mailcow's DKIM key split into 255-byte strings."""
    records = population_rrsets(sandbox, key)
    assert set(records) == expected_keys(key)
    assert records[(key, "MX")].records == (f"10 {HOST}",)
    assert records[(key, "TXT")].records == ('"v=spf1 mx a:mail.azt3knet.test -all"',)
    assert records[(f"_dmarc.{key}", "TXT")].records == ('"v=DMARC1; p=reject; adkim=s; aspf=s"',)
    assert records[(f"autoconfig.{key}", "CNAME")].records == (HOST,)
    assert records[(f"autodiscover.{key}", "CNAME")].records == (HOST,)
    assert {r.ttl for r in records.values()} == {ttl}
    with mailcow_client(get_settings()) as client:
        dkim = client.get_dkim(f"{key}.{sandbox.zone}")
    assert dkim is not None
    (dkim_txt,) = records[(f"dkim._domainkey.{key}", "TXT")].records
    strings = parse_txt_strings(dkim_txt)
    assert strings is not None and len(strings) >= 2  # a 2048-bit key does not fit one string
    assert all(len(s) <= 255 for s in strings)
    assert txt_content(dkim_txt).decode() == dkim.txt_value


def provision_mail_domain(key: str, count: int) -> None:
    """The Mailcow side `dns_records` reads: the population's mail domain (Mailcow generates its DKIM key)."""
    settings = get_settings()
    spec = domain_spec_for(
        settings.mail_domain_for(key),
        key,
        count,
        settings.mailbox_quota_mib,
        settings.dkim_selector,
        settings.dkim_key_size,
    )
    with mailcow_client(settings) as client:
        client.add_domain(spec)


def test_a_population_costs_one_rrset_write_whatever_its_size_and_nothing_when_unchanged(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # AZT3KNET_DNS_TTL below the zone's minimum_ttl (3600 on the stand-in): the records get the minimum.
    monkeypatch.setenv("AZT3KNET_DNS_TTL", "300")
    get_settings.cache_clear()
    # This test counts write *requests*; materializing populations back to back would trip deSEC's 2/s
    # per-domain window and a 429'd attempt counts as a request too. The throttle has its own test below.
    desec_state(sandbox).set_throttle(enabled=False)

    # 10 and 1,000 agents: the whole graph as a user runs it (profiles → mailboxes → DNS → credential export).
    full = {}
    for count in (10, 1_000):
        key = f"pop-{count}"
        register(key, count, seed=count)
        before = zone_writes(sandbox)
        full[key] = materialize(key, "populate_job")
        assert zone_writes(sandbox) - before == 1, count
        meta = full[key].metadata["dns_records"]
        assert (meta["desired"], meta["changed"], meta["upserts"], meta["deletes"]) == (6, 6, 6, 0)
        assert meta["write_count"] == 1
        assert meta["request_count"] == 3  # domain (minimum_ttl) + one zone read + one bulk PATCH
        assert full[key].metadata["mailboxes"]["created"] == count
        assert_population_records(sandbox, key, ttl=3600)

    # 10,000 agents. What `dns_records` writes depends on the mail domain and its DKIM key, never on the agent
    # count, and provisioning 10,000 mailboxes on the stand-in takes long (see benchmarks/dns.py --full) while
    # proving nothing more about DNS. So this population is registered with its real count, its Mailcow domain
    # is created (with limits for that count; Mailcow generates the DKIM key), and the real `dns_records` asset
    # is materialized through `dns_reconcile_job`, without the mailboxes.
    register("pop-10000", 10_000, seed=10_000)
    provision_mail_domain("pop-10000", 10_000)
    before = zone_writes(sandbox)
    outcome = materialize("pop-10000", "dns_reconcile_job")
    assert zone_writes(sandbox) - before == 1
    meta = outcome.metadata["dns_records"]
    assert (meta["desired"], meta["changed"], meta["write_count"]) == (6, 6, 1)
    assert_population_records(sandbox, "pop-10000", ttl=3600)

    # Re-materializing unchanged populations: zero deSEC writes (and, for the full graph, zero Mailcow writes).
    zone_before, desec_before = zone_writes(sandbox), desec_state(sandbox).counters()["writes"]
    mailcow_before = mailcow_writes(sandbox)
    for key, first in full.items():
        rerun = materialize(key, "populate_job").metadata["dns_records"]
        assert (rerun["changed"], rerun["write_count"]) == (0, 0)
        assert rerun["desired_hash"] == first.metadata["dns_records"]["desired_hash"]
    again = materialize("pop-10000", "dns_reconcile_job").metadata["dns_records"]
    assert (again["changed"], again["write_count"]) == (0, 0)
    # Mailcow handing out its DKIM TXT pre-split into quoted 255-byte strings (SPLIT_DKIM_255) changes the
    # presentation, not the record: still nothing to write.
    sandbox.mailcow_app.state.sandbox.config.split_dkim_255 = True  # type: ignore[attr-defined]
    with mailcow_client(get_settings()) as client:
        dkim = client.get_dkim("pop-10000.azt3knet.test")
    assert dkim is not None and dkim.txt.startswith('"') and '" "' in dkim.txt
    again = materialize("pop-10000", "dns_reconcile_job").metadata["dns_records"]
    assert (again["changed"], again["write_count"]) == (0, 0)
    assert zone_writes(sandbox) == zone_before
    assert desec_state(sandbox).counters()["writes"] == desec_before
    assert mailcow_writes(sandbox) == mailcow_before
    # Every population's records coexist in the zone, and none drifted.
    stored = populations.open_store().desired_rrsets(sandbox.zone)
    assert sorted(stored) == ["pop-10", "pop-1000", "pop-10000"]
    desired = {key: [RRset.model_validate(r) for r in rrsets] for key, rrsets in stored.items()}
    assert drift_for_populations(desired, desec_state(sandbox).rrsets(sandbox.zone)) == {}


def cli(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def test_plan_shows_drift_without_writing_and_teardown_deletes_in_one_bulk_write(sandbox: Sandbox) -> None:
    zone = sandbox.zone
    stand_in = desec_state(sandbox)
    for key, seed in (("pop-a", 1), ("pop-b", 2)):
        register(key, 3, seed)
        materialize(key, "populate_job")
    untouched_b = population_rrsets(sandbox, "pop-b")

    # Drift in pop-a: MX deleted, SPF replaced; plus a record of somebody else inside its subtree.
    stand_in.delete_rrset(zone, "pop-a", "MX")
    stand_in.put_rrset(zone, RRset(subname="pop-a", type="TXT", ttl=3600, records=('"v=spf1 -all"',)))
    stand_in.put_rrset(zone, RRset(subname="www.pop-a", type="A", ttl=3600, records=("192.0.2.80",)))

    desec_before, mailcow_before = stand_in.counters(), mailcow_writes(sandbox)
    plan = json.loads(cli("plan", "pop-a", "--json").stdout)["dns"]
    assert [(r["subname"], r["type"]) for r in plan["to_upsert"]] == [("pop-a", "MX"), ("pop-a", "TXT")]
    assert plan["to_upsert"][0]["records"] == [f"10 {HOST}"]
    assert plan["to_delete"] == [] and plan["unchanged"] == 4 and plan["desired"] == 6
    human = cli("plan", "pop-a").stdout
    assert "~ rrset pop-a MX" in human and "~ rrset pop-a TXT" in human and "2 rrsets to write" in human
    desec_after = stand_in.counters()
    assert desec_after["writes"] == desec_before["writes"]  # planning only reads
    assert desec_after["writes_by_domain"] == desec_before["writes_by_domain"]
    assert mailcow_writes(sandbox) == mailcow_before

    before = zone_writes(sandbox)
    out = cli("teardown", "pop-a", "--yes").stdout
    assert zone_writes(sandbox) - before == 1  # the population's rrsets go in ONE bulk write
    assert "5 rrsets removed" in out  # the five managed rrsets left after the drift
    assert set(population_rrsets(sandbox, "pop-a")) == {("www.pop-a", "A")}  # not ours: left alone
    assert population_rrsets(sandbox, "pop-b") == untouched_b
    with mailcow_client(get_settings()) as client:
        assert client.get_domain("pop-a.azt3knet.test") is None
        assert client.get_dkim("pop-a.azt3knet.test") is None
    assert sorted(populations.open_store().desired_rrsets(zone)) == ["pop-b"]  # the sensor forgets pop-a

    # Tearing down again finds nothing of ours: no write.
    before = zone_writes(sandbox)
    assert populations.teardown("pop-a").rrsets_removed == 0
    assert zone_writes(sandbox) == before


@contextmanager
def window_spent_until_throttled(stand_in: DesecSandbox, zone: str) -> Iterator[None]:
    """Keep the zone's last write dated "now" until the stand-in answers a 429, then let its clock run.

    The run may take seconds to reach its PATCH on a loaded machine (other test workers); without this the window
    could pass first. Re-dating stops under the stand-in's lock in the same step that sees the 429, so the run's
    retry after Retry-After (rounded up) finds the window free, as on deSEC.
    """
    scope = ("dns_api_per_domain_expensive", zone)
    throttled = stand_in.counters()["throttled"]
    done = threading.Event()

    def hold() -> None:
        while not done.is_set():
            with stand_in.lock:
                if stand_in.counters()["throttled"] > throttled:
                    return
                history = stand_in.throttles.history.setdefault(scope, deque())
                if history:
                    history.pop()
                history.append(stand_in.clock())
            done.wait(0.02)

    holder = threading.Thread(target=hold, name="hold-throttle-window", daemon=True)
    holder.start()
    try:
        yield
    finally:
        done.set()
        holder.join()


def test_reconcile_waits_out_the_per_domain_write_throttle_and_converges(sandbox: Sandbox) -> None:
    # Runs of the asset share one concurrency pool, so parallel partitions do not race for the write budget.
    assert defs.resolve_assets_def("dns_records").op.pool == "desec_api"
    zone = sandbox.zone
    stand_in = desec_state(sandbox)
    register("pop-t", 3, seed=3)
    materialize("pop-t", "populate_job")
    stand_in.delete_rrset(zone, "pop-t", "MX")
    stand_in.delete_rrset(zone, "_dmarc.pop-t", "TXT")

    # One rrset write per 2 s for this zone; spend the window's write through the API right before the run,
    # so the run's bulk PATCH is answered 429 with Retry-After (≤ 2 s) and must wait it out (real sleep).
    stand_in.set_throttle(rates={"dns_api_per_domain_expensive": ["1/2s"]})
    with desec_client(get_settings()) as client:
        client.bulk_patch(zone, [RRset(subname="other", type="TXT", ttl=3600, records=('"spend the window"',))])
    before = stand_in.counters()
    with window_spent_until_throttled(stand_in, zone):
        outcome = materialize("pop-t", "dns_reconcile_job")
    after = stand_in.counters()

    assert after["throttled"] - before["throttled"] == 1
    assert after["status"].get("429", 0) - before["status"].get("429", 0) == 1
    meta = outcome.metadata["dns_records"]
    assert (meta["changed"], meta["upserts"]) == (2, 2)
    assert meta["write_count"] == 2  # the throttled attempt and the applied one: still ONE bulk request
    assert after["writes_by_domain"][zone] - before["writes_by_domain"][zone] == 2
    assert set(population_rrsets(sandbox, "pop-t")) == expected_keys("pop-t")
    stored = populations.open_store().desired_rrsets(zone, ["pop-t"])
    desired = {"pop-t": [RRset.model_validate(r) for r in stored["pop-t"]]}
    assert drift_for_populations(desired, stand_in.rrsets(zone)) == {}


def test_dns_bootstrap_writes_the_base_records_in_one_bulk_write_idempotently(sandbox: Sandbox) -> None:
    zone = sandbox.zone
    stand_in = desec_state(sandbox)

    before = zone_writes(sandbox)
    out = cli("dns", "bootstrap", "--ipv4", "203.0.113.10", "--ipv6", "2001:db8::10").stdout
    assert zone_writes(sandbox) - before == 1
    assert "7 base rrsets desired, 7 written (1 write request(s))" in out
    records = {r.key: r for r in stand_in.rrsets(zone)}
    assert records[("mail", "A")].records == ("203.0.113.10",)
    assert records[("mail", "AAAA")].records == ("2001:db8::10",)
    assert records[("", "MX")].records == (f"10 {HOST}",)
    assert records[("", "TXT")].records == ('"v=spf1 mx a:mail.azt3knet.test -all"',)
    assert records[("_dmarc", "TXT")].records == ('"v=DMARC1; p=reject; adkim=s; aspf=s"',)
    assert records[("autoconfig", "CNAME")].records == records[("autodiscover", "CNAME")].records == (HOST,)
    assert records[("", "NS")].records == ("ns1.desec.io.", "ns2.desec.org.")  # deSEC's own: untouched

    # Same addresses again: nothing to write.
    before = zone_writes(sandbox)
    out = cli("dns", "bootstrap", "--ipv4", "203.0.113.10", "--ipv6", "2001:db8::10").stdout
    assert zone_writes(sandbox) == before
    assert "0 written (0 write request(s))" in out

    # infra/dns_bootstrap.py from the shell: a new IPv4 (the IPv6 spelled differently is the same address)
    # changes exactly the A rrset, in one write.
    before = zone_writes(sandbox)
    result = subprocess.run(
        [sys.executable, "infra/dns_bootstrap.py", "--ipv4", "203.0.113.11", "--ipv6", "2001:0DB8:0:0::0010"],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "1 written (1 write request(s))" in result.stdout
    assert zone_writes(sandbox) - before == 1
    records = {r.key: r for r in stand_in.rrsets(zone)}
    assert records[("mail", "A")].records == ("203.0.113.11",)
    assert records[("mail", "AAAA")].records == ("2001:db8::10",)
