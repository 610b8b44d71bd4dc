"""End to end, as an operator runs it: `azt3knet sandbox` in one process, `populate`, `teardown` and `recreate`
in others, the stand-ins' state read over HTTP (`/_sandbox/state`)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import helpers_populations as populations
import httpx
from helpers_ports import free_port
from helpers_sandbox import azt3knet_command, read_exports

from azt3knet_pipeline.domain.dns import txt_content
from azt3knet_pipeline.settings import get_settings

KEY = "seed-77"
COUNT = 8
ZONE = "azt3knet.test"
MAIL_DOMAIN = f"{KEY}.{ZONE}"
HOST = f"mail.{ZONE}."


def desec_rrsets(base: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The population's rrsets in the deSEC stand-in's zone, by (subname, type)."""
    state = httpx.get(f"{base}/_sandbox/state", timeout=10).json()
    (zone,) = [d for d in state["domains"] if d["name"] == ZONE]
    return {
        (r["subname"], r["type"]): r for r in zone["rrsets"] if r["subname"] == KEY or r["subname"].endswith("." + KEY)
    }


def mailcow_state(base: str) -> dict[str, Any]:
    state = httpx.get(f"{base}/_sandbox/state", timeout=10).json()
    return {
        "domains": sorted(d.get("domain_name", d.get("domain")) for d in state["domains"]),
        "mailboxes": sorted(m["username"] for m in state["mailboxes"] if m["username"].endswith("@" + MAIL_DOMAIN)),
        "tags": [sorted(m["tags"]) for m in state["mailboxes"] if m["username"].endswith("@" + MAIL_DOMAIN)],
        "dkim": {d["domain"]: d["pubkey"] for d in state["dkim"]},
    }


def assert_provisioned(mailcow_url: str, desec_url: str) -> tuple[list[str], dict]:
    mailcow = mailcow_state(mailcow_url)
    assert MAIL_DOMAIN in mailcow["domains"]
    assert len(mailcow["mailboxes"]) == COUNT
    assert all(tags == sorted(["azt3knet-synthetic", KEY]) for tags in mailcow["tags"])
    pubkey = mailcow["dkim"].get(MAIL_DOMAIN)
    assert pubkey
    rrsets = desec_rrsets(desec_url)
    assert set(rrsets) == {
        (KEY, "MX"),
        (KEY, "TXT"),
        (f"_dmarc.{KEY}", "TXT"),
        (f"autoconfig.{KEY}", "CNAME"),
        (f"autodiscover.{KEY}", "CNAME"),
        (f"dkim._domainkey.{KEY}", "TXT"),
    }
    assert rrsets[(KEY, "MX")]["records"] == [f"10 {HOST}"]
    (dkim_txt,) = rrsets[(f"dkim._domainkey.{KEY}", "TXT")]["records"]
    assert txt_content(dkim_txt).decode().endswith(f"p={pubkey}")  # the key Mailcow holds is published
    return mailcow["mailboxes"], {k: v["records"] for k, v in rrsets.items() if k[0] != f"dkim._domainkey.{KEY}"}


def passwords(tmp_path: Path, name: str) -> dict[str, str]:
    get_settings.cache_clear()
    out = tmp_path / name
    populations.export_credentials(KEY, str(out), plaintext=True, actor="test")
    bundle = json.loads(out.read_text())
    return {m["address"]: m["password"] for m in bundle["mailboxes"]}


def test_sandbox_populate_teardown_recreate_as_subprocesses(tmp_path: Path) -> None:
    command = azt3knet_command()
    mailcow_port, desec_port = free_port(), free_port()
    with (tmp_path / "sandbox.stderr").open("w") as stderr:
        sandbox = subprocess.Popen(
            [*command, "sandbox", "--mailcow-port", str(mailcow_port), "--desec-port", str(desec_port)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=dict(os.environ),
        )
    try:
        exports = read_exports(sandbox)
        assert exports["DESEC_API_URL"] == f"http://127.0.0.1:{desec_port}/api/v1"
        assert exports["MAILCOW_API_URL"] == f"http://127.0.0.1:{mailcow_port}"
        mailcow_url, desec_url = exports["MAILCOW_API_URL"], exports["DESEC_API_URL"].removesuffix("/api/v1")
        env = {**os.environ, **exports}

        def azt3knet(*args: str) -> subprocess.CompletedProcess[str]:
            result = subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=180)
            assert result.returncode == 0, (args, result.stdout, result.stderr)
            return result

        summary = json.loads(
            azt3knet(
                "populate", "--count", str(COUNT), "--seed", "77", "--country", "ES", "--create-mailboxes", "--json"
            ).stdout
        )
        assert summary["key"] == KEY and summary["success"]
        assert summary["assets"]["mailboxes"]["created"] == COUNT
        dns = summary["assets"]["dns_records"]
        assert (dns["desired"], dns["changed"], dns["write_count"]) == (6, 6, 1)
        mailboxes, records = assert_provisioned(mailcow_url, desec_url)
        # The in-process API reads the same store the subprocesses wrote (same AZT3KNET_HOME and key).
        first_passwords = passwords(tmp_path, "before.json")
        assert sorted(first_passwords) == mailboxes
        shown = json.loads(azt3knet("populations", "show", KEY, "--json").stdout)  # from the store alone
        assert (shown["status"], shown["mailboxes"], shown["credentials"]) == ("provisioned", {"active": COUNT}, COUNT)
        assert (shown["desired_rrsets"]["zone"], shown["desired_rrsets"]["count"]) == (ZONE, 6)

        writes = httpx.get(f"{desec_url}/_sandbox/counters", timeout=10).json()["writes_by_domain"][ZONE]
        out = azt3knet("teardown", KEY, "--yes").stdout
        assert f"{COUNT} mailboxes removed" in out and "domain removed" in out and "6 rrsets removed" in out
        assert httpx.get(f"{desec_url}/_sandbox/counters", timeout=10).json()["writes_by_domain"][ZONE] == writes + 1
        assert desec_rrsets(desec_url) == {}
        mailcow = mailcow_state(mailcow_url)
        assert MAIL_DOMAIN not in mailcow["domains"] and mailcow["mailboxes"] == []
        assert MAIL_DOMAIN not in mailcow["dkim"]

        recreated = json.loads(azt3knet("recreate", KEY, "--json").stdout)
        assert recreated["success"]
        assert recreated["assets"]["dns_records"]["write_count"] == 1
        again_mailboxes, again_records = assert_provisioned(mailcow_url, desec_url)
        assert again_mailboxes == mailboxes and again_records == records  # (a new DKIM key, published)
        assert passwords(tmp_path, "after.json") == first_passwords
    finally:
        sandbox.terminate()
        try:
            sandbox.wait(timeout=15)
        except subprocess.TimeoutExpired:
            sandbox.kill()
            sandbox.wait(timeout=15)
