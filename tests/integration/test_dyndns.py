"""Dynamic DNS for the mail host: `dyndns_job` reads the public IP from DYNDNS_IP_SOURCE_URL (a tiny loopback
server here) or fixed values, and writes the A/AAAA rrsets on the deSEC stand-in only when they changed;
`infra/dyn_updater.py` does one update from the shell; `dyndns_schedule` runs the job every 5 minutes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import helpers_populations as populations
import pytest
from helpers_sandbox import desec_state, zone_writes

from azt3knet_pipeline.clients.factory import desec_client
from azt3knet_pipeline.definitions import defs
from azt3knet_pipeline.domain.dns import RRset
from azt3knet_pipeline.orchestration.instance import get_instance
from azt3knet_pipeline.orchestration.launch import QUIET_RUN_CONFIG
from azt3knet_pipeline.sandbox.run import Sandbox
from azt3knet_pipeline.services.dns import bootstrap_dns, dyndns_update_url
from azt3knet_pipeline.settings import Settings, get_settings

REPO = Path(__file__).resolve().parents[2]


class IpSource:
    """A plain-text "what is my IP" service on loopback; `answer` is what it says."""

    def __init__(self) -> None:
        self.answer = "198.51.100.7"
        self.hits = 0
        source = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                source.hits += 1
                body = (source.answer + "\n").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ip"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ip_source(monkeypatch: pytest.MonkeyPatch) -> Iterator[IpSource]:
    source = IpSource()
    monkeypatch.setenv("DYNDNS_IP_SOURCE_URL", source.url)
    get_settings.cache_clear()
    yield source
    source.close()


def mail_host(sandbox: Sandbox) -> dict[str, RRset]:
    return {r.type: r for r in desec_state(sandbox).rrsets(sandbox.zone) if r.subname == "mail"}


def run_dyndns(*, raise_on_error: bool = True) -> Any:
    job = defs.resolve_job_def("dyndns_job")
    return job.execute_in_process(
        instance=get_instance(get_settings()), run_config=QUIET_RUN_CONFIG, raise_on_error=raise_on_error
    )


def test_dyndns_job_writes_only_when_the_public_ip_changes(
    sandbox: Sandbox, ip_source: IpSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DYNDNS_FIXED_IPV6", "2001:db8::7")  # the source only tells IPv4 here
    get_settings.cache_clear()

    before = zone_writes(sandbox)
    first = run_dyndns().output_for_node("update_mail_host_ips")
    assert zone_writes(sandbox) - before == 1  # A and AAAA in one bulk write
    assert (first["ipv4"], first["ipv6"], first["changed"], first["writes"]) == ("198.51.100.7", "2001:db8::7", 2, 1)
    host = mail_host(sandbox)
    assert host["A"].records == ("198.51.100.7",) and host["AAAA"].records == ("2001:db8::7",)
    assert host["A"].ttl == 3600  # DYNDNS_TTL (60) raised to the zone's minimum_ttl

    # Same IP: nothing written (the source was asked again).
    hits, before = ip_source.hits, zone_writes(sandbox)
    second = run_dyndns().output_for_node("update_mail_host_ips")
    assert ip_source.hits > hits
    assert zone_writes(sandbox) == before and (second["changed"], second["writes"]) == (0, 0)

    # The IP moves: one write, the A rrset only.
    ip_source.answer = "198.51.100.8"
    third = run_dyndns().output_for_node("update_mail_host_ips")
    assert zone_writes(sandbox) - before == 1 and (third["changed"], third["writes"]) == (1, 1)
    host = mail_host(sandbox)
    assert host["A"].records == ("198.51.100.8",) and host["AAAA"].records == ("2001:db8::7",)

    # Only the two runs that changed something are in the audit log.
    entries = populations.open_store().audit_entries(target="mail.azt3knet.test")
    assert [e.action for e in entries] == ["dyndns.update", "dyndns.update"]

    # A source answering something that is not an address fails the run and writes nothing.
    ip_source.answer = "<html>rate limited</html>"
    before = zone_writes(sandbox)
    failed = run_dyndns(raise_on_error=False)
    assert not failed.success
    assert zone_writes(sandbox) == before
    assert mail_host(sandbox)["A"].records == ("198.51.100.8",)


def test_fixed_addresses_and_the_shell_updater(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DYNDNS_FIXED_IPV4", "192.0.2.44")
    get_settings.cache_clear()
    before = zone_writes(sandbox)
    result = run_dyndns().output_for_node("update_mail_host_ips")
    assert (result["ipv4"], result["ipv6"], result["writes"]) == ("192.0.2.44", None, 1)
    assert zone_writes(sandbox) - before == 1
    assert mail_host(sandbox)["A"].records == ("192.0.2.44",) and "AAAA" not in mail_host(sandbox)

    def updater(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "infra/dyn_updater.py"],
            cwd=REPO,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )

    # infra/dyn_updater.py: one update from the shell, then nothing when run again.
    before = zone_writes(sandbox)
    moved = updater({"DYNDNS_FIXED_IPV4": "192.0.2.45", "DYNDNS_FIXED_IPV6": "2001:db8::45"})
    assert moved.returncode == 0, moved.stderr
    assert "A=192.0.2.45 AAAA=2001:db8::45; 2 rrset(s) changed" in moved.stdout
    assert zone_writes(sandbox) - before == 1
    host = mail_host(sandbox)
    assert host["A"].records == ("192.0.2.45",) and host["AAAA"].records == ("2001:db8::45",)
    same = updater({"DYNDNS_FIXED_IPV4": "192.0.2.45", "DYNDNS_FIXED_IPV6": "2001:0db8::0045"})
    assert same.returncode == 0, same.stderr
    assert "0 rrset(s) changed" in same.stdout
    assert zone_writes(sandbox) - before == 1

    # Without any source configured the updater fails with a one-line error naming the settings.
    monkeypatch.delenv("DYNDNS_FIXED_IPV4")
    unconfigured = updater({})
    assert unconfigured.returncode != 0
    assert "DYNDNS_IP_SOURCE_URL" in unconfigured.stderr and "Traceback" not in unconfigured.stderr
    assert zone_writes(sandbox) - before == 1


def test_dyndns_schedule_runs_the_job_every_five_minutes_by_default_and_is_configurable() -> None:
    schedule = defs.resolve_schedule_def("dyndns_schedule")
    assert schedule.cron_schedule == "*/5 * * * *"
    assert schedule.job_name == "dyndns_job"
    code = (
        "from azt3knet_pipeline.definitions import defs; "
        "print(defs.resolve_schedule_def('dyndns_schedule').cron_schedule)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "DYNDNS_CRON": "*/15 * * * *"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "*/15 * * * *"


def test_in_a_dyndns_zone_the_mail_host_gets_ttl_60_through_the_dyndns_endpoint(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    stand_in = desec_state(sandbox)
    assert stand_in.domains[sandbox.zone].minimum_ttl == 3600  # the rrset API refuses TTL 60 here
    monkeypatch.setenv("DESEC_DYNDNS_URL", f"{sandbox.desec.url}/update")
    monkeypatch.setenv("DYNDNS_FIXED_IPV4", "192.0.2.60")
    get_settings.cache_clear()
    settings = get_settings()

    # bootstrap: the base records in one bulk write at the zone's minimum, the mail host through dynDNS.
    stand_in.reset_counters()
    with desec_client(settings) as client:
        report = bootstrap_dns(desec=client, settings=settings, ipv4="192.0.2.60", ipv6="2001:db8::60")
    counters = stand_in.counters()
    assert counters["endpoints"].get("GET dyndns") == 1 and counters["endpoints"].get("PATCH rrsets") == 1
    assert (report.desired, report.changed, report.writes) == (7, 7, 2)
    host = mail_host(sandbox)
    assert (host["A"].records, host["A"].ttl) == (("192.0.2.60",), 60)
    assert (host["AAAA"].records, host["AAAA"].ttl) == (("2001:db8::60",), 60)
    others = [r for r in stand_in.rrsets(sandbox.zone) if r.subname != "mail" and r.type != "NS"]
    assert others and {r.ttl for r in others} == {3600}
    with desec_client(settings) as client:  # converged: nothing written again
        again = bootstrap_dns(desec=client, settings=settings, ipv4="192.0.2.60", ipv6="2001:db8::60")
    assert (again.changed, again.writes) == (0, 0)

    # dyndns_job: the same address writes nothing; a new one is one dynDNS update (the AAAA preserved).
    before = zone_writes(sandbox)
    assert run_dyndns().output_for_node("update_mail_host_ips")["writes"] == 0
    assert zone_writes(sandbox) == before
    monkeypatch.setenv("DYNDNS_FIXED_IPV4", "192.0.2.61")
    get_settings.cache_clear()
    moved = run_dyndns().output_for_node("update_mail_host_ips")
    assert (moved["changed"], moved["writes"]) == (1, 1)
    host = mail_host(sandbox)
    assert (host["A"].records, host["A"].ttl) == (("192.0.2.61",), 60)
    assert host["AAAA"].records == ("2001:db8::60",)
    assert stand_in.counters()["endpoints"].get("GET dyndns") == 2  # bootstrap, then the move


def test_dyndns_endpoint_is_used_for_dedyn_zones_and_explicit_urls_only() -> None:
    assert dyndns_update_url(Settings(DESEC_DOMAIN="my-lab.dedyn.io")) == "https://update.dedyn.io/"
    assert dyndns_update_url(Settings(DESEC_DOMAIN="example.org")) is None
    explicit = Settings(DESEC_DOMAIN="example.org", DESEC_DYNDNS_URL="https://update6.dedyn.io/")
    assert dyndns_update_url(explicit) == "https://update6.dedyn.io/"
