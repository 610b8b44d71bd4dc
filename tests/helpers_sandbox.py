"""Helpers for tests that run the pipeline against the stand-ins: read the stand-ins' state directly (not
through our client), decrypt the credentials of record, and assert that a population has converged."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers_populations import open_store

from azt3knet_pipeline.clients.factory import secret_box
from azt3knet_pipeline.clients.mailcow import MailcowClient
from azt3knet_pipeline.domain.dns import RRset
from azt3knet_pipeline.domain.generation import generate_population
from azt3knet_pipeline.domain.mailbox_plan import SYNTHETIC_TAG, DesiredMailbox, desired_mailboxes
from azt3knet_pipeline.domain.models import PopulationSpec, spec_to_register
from azt3knet_pipeline.sandbox.desec import DesecSandbox
from azt3knet_pipeline.sandbox.mailcow import MailcowSandbox
from azt3knet_pipeline.sandbox.run import SANDBOX_MAILCOW_KEY, Sandbox
from azt3knet_pipeline.settings import get_settings


def mailcow(sandbox: Sandbox) -> MailcowSandbox:
    return sandbox.mailcow_app.state.sandbox  # type: ignore[attr-defined, no-any-return]


def mailcow_counters(sandbox: Sandbox) -> dict[str, int]:
    return mailcow(sandbox).counters()


def desec_state(sandbox: Sandbox) -> DesecSandbox:
    return sandbox.desec_app.state.sandbox  # type: ignore[attr-defined, no-any-return]


def desec_counters(sandbox: Sandbox) -> dict[str, Any]:
    return desec_state(sandbox).counters()


def reset_counters(sandbox: Sandbox) -> None:
    mailcow(sandbox).reset_counters()
    desec_state(sandbox).reset_counters()


def zone_writes(sandbox: Sandbox) -> int:
    """rrset/domain write requests the deSEC stand-in has seen for the zone (what deSEC throttles per domain)."""
    return int(desec_counters(sandbox)["writes_by_domain"].get(sandbox.zone, 0))


def population_rrsets(sandbox: Sandbox, key: str) -> dict[tuple[str, str], RRset]:
    """The zone's rrsets under `<key>.<zone>` by (subname, type), as the deSEC stand-in stores them."""
    rrsets = desec_state(sandbox).rrsets(sandbox.zone)
    return {r.key: r for r in rrsets if r.subname == key or r.subname.endswith("." + key)}


def mail_domain(key: str) -> str:
    return get_settings().mail_domain_for(key)


def domain_mailboxes(sandbox: Sandbox, domain: str) -> dict[str, dict[str, Any]]:
    """Every mailbox the stand-in holds in `domain`, by address (no password hashes)."""
    boxes = [m for m in mailcow(sandbox).state()["mailboxes"] if m["domain"] == domain]
    addresses = [m["username"] for m in boxes]
    assert len(addresses) == len(set(addresses)), "the stand-in holds a mailbox twice"
    return {m["username"]: m for m in boxes}


def domain_record(sandbox: Sandbox, domain: str) -> dict[str, Any] | None:
    return next((d for d in mailcow(sandbox).state()["domains"] if d["domain_name"] == domain), None)


def has_dkim(sandbox: Sandbox, domain: str) -> bool:
    return any(d["domain"] == domain for d in mailcow(sandbox).state()["dkim"])


def desired(spec: PopulationSpec, key: str) -> list[DesiredMailbox]:
    """The mailboxes of population `key` as registered (a new registration pins the latest generator version,
    so the registered spec, not the one given, says what was generated); if `key` is not registered yet, those
    of `spec` as `populations.register_population` would register it."""
    settings = get_settings()
    store = open_store()
    try:
        registered = store.get_population(key)
    finally:
        store.dispose()
    frame = generate_population(registered.spec if registered is not None else spec_to_register(spec, None), key).frame
    return desired_mailboxes(frame, key, settings.mail_domain_for(key), settings.mailbox_quota_mib)


def stored_passwords(key: str) -> dict[str, str]:
    """The credential of record of every mailbox row of the population, decrypted with the current key."""
    box = secret_box(get_settings())
    store = open_store()
    try:
        return {row.address: box.decrypt(row.password_ciphertext) for row in store.list_mailboxes(key)}
    finally:
        store.dispose()


def api_client(sandbox: Sandbox, **kwargs: Any) -> MailcowClient:
    """A client of the stand-in's real API, as an operator's script would use it (out-of-band changes)."""
    return MailcowClient(sandbox.mailcow.url, SANDBOX_MAILCOW_KEY, **kwargs)


def assert_converged(
    sandbox: Sandbox, spec: PopulationSpec, key: str, *, foreign: frozenset[str] | set[str] = frozenset()
) -> dict[str, str]:
    """Every desired mailbox exists exactly once with the desired attributes, tags and the password of record;
    nothing else is in the domain but `foreign`; every store row is active. Returns address -> password."""
    want = {m.address: m for m in desired(spec, key)}
    boxes = domain_mailboxes(sandbox, mail_domain(key))
    assert set(boxes) - set(want) == set(foreign), "unexpected mailboxes in the population's domain"
    missing = set(want) - set(boxes)
    assert not missing, f"{len(missing)} desired mailbox(es) missing, e.g. {sorted(missing)[:3]}"
    for address, mailbox in want.items():
        actual = boxes[address]
        assert actual["name"] == mailbox.name, address
        assert actual["quota_mib"] == mailbox.quota_mib, address
        assert actual["active"] == 1, address
        assert SYNTHETIC_TAG in actual["tags"] and key in actual["tags"], address
    store = open_store()
    rows = store.list_mailboxes(key)
    store.dispose()
    assert {row.address for row in rows} == set(want), "store rows differ from the desired mailboxes"
    assert {row.state for row in rows} == {"active"}, "some store rows are not active"
    passwords = stored_passwords(key)
    wrong = [a for a in want if not mailcow(sandbox).check_password(a, passwords[a])]
    assert not wrong, f"{len(wrong)} mailbox(es) do not accept the stored password, e.g. {wrong[:3]}"
    return passwords


def azt3knet(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it: a real subprocess with the current environment (plus `env`)."""
    return subprocess.run(
        [sys.executable, "-m", "azt3knet_pipeline.cli.app", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def assert_cli_error(result: subprocess.CompletedProcess[str], code: int, *fragments: str) -> str:
    """The CLI exited with `code` and said why in one line: `error: ...` on stderr holding every fragment, no
    traceback. Returns that line."""
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Stack Trace" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def azt3knet_command() -> list[str]:
    """The installed console script beside this interpreter (what an operator types), else `python -m`."""
    script = Path(sys.executable).with_name("azt3knet")
    if script.exists():
        return [str(script)]
    found = shutil.which("azt3knet")
    return [found] if found else [sys.executable, "-m", "azt3knet_pipeline.cli.app"]


def read_exports(process: subprocess.Popen[str], timeout: float = 60.0) -> dict[str, str]:
    """The `export NAME=VALUE` lines `azt3knet sandbox` prints once both stand-ins accept connections."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    exports: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while "MAIL_HOSTNAME" not in exports:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail("azt3knet sandbox printed no environment in time")
        if line is None:
            pytest.fail(f"azt3knet sandbox exited early with code {process.wait()}")
        if line.startswith("export "):
            name, _, value = line[len("export ") :].strip().partition("=")
            exports[name] = value
    return exports


def wait_healthy(proc: subprocess.Popen[Any], url: str, *, timeout: float = 90.0) -> None:
    """Wait until the API process at `url` answers /healthz; fail with its stderr if it exits first."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            stderr = proc.communicate()[1]
            raise AssertionError(stderr.decode()[-2000:] if isinstance(stderr, bytes) else stderr)
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"the API at {url} did not start within {timeout:.0f} s"
        time.sleep(0.2)
