"""The mailboxes really work: provisioned through the pipeline into the Mailcow stand-in, then logged into over
IMAPS and used for submission on a real Dovecot whose users follow the stand-in (`mail_sandbox`).

`azt3knet verify` runs as a user runs it (a subprocess); the asset check runs as a real Dagster run of
`verify_mailboxes_job`. Out-of-band changes go through the stand-in's real API, as an operator's script would.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import helpers_populations as populations
import pytest
from cryptography.fernet import Fernet
from dagster import build_schedule_context
from helpers_ports import free_port
from helpers_sandbox import api_client, azt3knet, azt3knet_command, mailcow, read_exports, stored_passwords

from azt3knet_pipeline.clients.factory import secret_box
from azt3knet_pipeline.clients.mail import AUTH_REFUSED, TIMEOUT, TLS, MailEndpoint, imap_login
from azt3knet_pipeline.definitions import defs
from azt3knet_pipeline.defs.resources import pipeline_resources
from azt3knet_pipeline.defs.verify import partition_tags, verify_mailboxes_schedule
from azt3knet_pipeline.domain.models import PopulationSpec
from azt3knet_pipeline.errors import MailProbeError
from azt3knet_pipeline.orchestration.instance import get_instance
from azt3knet_pipeline.sandbox import dovecot
from azt3knet_pipeline.sandbox.run import Sandbox
from azt3knet_pipeline.services.credentials import decrypt_bundle
from azt3knet_pipeline.services.verify import verify_with_settings
from azt3knet_pipeline.settings import get_settings

OUT_OF_BAND_PASSWORD = "Changed-Behind-The-Back-7x"


def provision(count: int, seed: int, key: str) -> dict[str, str]:
    outcome = populations.populate(PopulationSpec(count=count, seed=seed, country="ES"), key, create_mailboxes=True)
    assert outcome.success, outcome.error
    passwords = stored_passwords(key)
    assert len(passwords) == count
    return passwords


def settle(sandbox: Sandbox) -> None:
    """Out-of-band changes reach Dovecot's passwd-file at once; its auth process sees them from the next second."""
    assert sandbox.dovecot is not None
    sandbox.dovecot.settle()


def fail_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("FAIL ")]


def test_25_exported_credentials_log_in_and_verify_names_exactly_the_changed_password(
    mail_sandbox: Sandbox, tmp_path: Path
) -> None:
    key = "verify-25"
    passwords = provision(25, 1401, key)
    # The exported bundle's credentials, decrypted, log in over IMAPS (TLS verified against the test CA).
    out = tmp_path / "bundle.fernet"
    assert azt3knet("export-credentials", key, "--out", str(out)).returncode == 0
    bundle = decrypt_bundle(secret_box(get_settings()), out.read_bytes())
    exported = {entry["address"]: entry["password"] for entry in bundle["mailboxes"]}
    assert exported == passwords and len(exported) == 25
    endpoint = MailEndpoint.from_settings(get_settings())
    for address, password in exported.items():
        imap_login(endpoint, address, password)
    with pytest.raises(MailProbeError) as refused:
        imap_login(endpoint, sorted(exported)[0], "not-the-password-1A")
    assert refused.value.reason == AUTH_REFUSED

    result = azt3knet("verify", key, "--sample", "0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert fail_lines(result.stdout) == []
    assert f"{key}: 25/25 sampled mailboxes logged in (25 of record)" in result.stdout

    # One password changed behind the pipeline's back: exactly that address is named, with the reason.
    victim = sorted(passwords)[7]
    with api_client(mail_sandbox) as client:
        client.edit_mailbox([victim], {"password": OUT_OF_BAND_PASSWORD, "password2": OUT_OF_BAND_PASSWORD})
    assert mailcow(mail_sandbox).check_password(victim, OUT_OF_BAND_PASSWORD)
    settle(mail_sandbox)
    result = azt3knet("verify", key, "--sample", "0")
    assert result.returncode == 1, result.stdout + result.stderr
    assert fail_lines(result.stdout) == [
        f"FAIL {victim}: auth refused ([AUTHENTICATIONFAILED] Authentication failed.)"
    ], result.stdout
    assert f"{key}: 24/25 sampled mailboxes logged in" in result.stdout
    output = result.stdout + result.stderr
    assert not [p for p in [*passwords.values(), OUT_OF_BAND_PASSWORD] if p in output]
    # The default sample is deterministic: the same addresses every time, a prefix of larger samples.
    as_json = [json.loads(azt3knet("verify", key, "--sample", str(n), "--json").stdout) for n in (5, 5, 10)]
    assert as_json[0]["sampled"] == 5 and as_json[2]["sampled"] == 10
    audit = [e for e in populations.open_store().audit_entries(target=key) if e.action == "mailboxes.verify"]
    assert [e.outcome for e in reversed(audit)][:2] == ["ok", "failed"]


def test_send_delivers_one_message_between_two_agents(mail_sandbox: Sandbox) -> None:
    key = "verify-send"
    passwords = provision(4, 1402, key)
    result = azt3knet("verify", key, "--sample", "2", "--send", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    delivery = report["delivery"]
    assert delivery["delivered"] is True and delivery["failure"] is None
    sender, recipient = delivery["sender"], delivery["recipient"]
    assert {sender, recipient} <= set(passwords) and sender != recipient
    assert 0 <= delivery["seconds"] <= get_settings().verify_delivery_timeout
    # It went the real way: authenticated submission by the sender, relayed, saved by Dovecot's LDA.
    assert mail_sandbox.dovecot is not None
    log = mail_sandbox.dovecot.log_path.read_text()
    assert f"submission({sender})" in log and "Successfully relayed message" in log
    assert f"lda({recipient})" in log and "saved mail to INBOX" in log
    assert not [p for p in passwords.values() if p in result.stdout + result.stderr + log]
    # Human output says so in one line.
    result = azt3knet("verify", key, "--sample", "2", "--send")
    assert result.returncode == 0 and f"delivered to {recipient}" in result.stdout


def test_asset_check_passes_after_provisioning_and_fails_after_a_mailbox_is_disabled(mail_sandbox: Sandbox) -> None:
    key = "verify-check"
    passwords = provision(6, 1403, key)
    job = defs.resolve_job_def("verify_mailboxes_job")
    instance = get_instance(get_settings())

    def run_check() -> tuple[bool, dict[str, object]]:
        result = job.execute_in_process(instance=instance, tags=partition_tags(key), raise_on_error=False)
        assert result.success  # a failed check is a red check, not a failed run
        (evaluation,) = result.get_asset_check_evaluations()
        assert evaluation.check_name == "mailboxes_accept_login" and evaluation.partition == key
        return evaluation.passed, {k: v.value for k, v in evaluation.metadata.items()}

    passed, meta = run_check()
    assert passed, meta
    assert (meta["mailboxes"], meta["sampled"], meta["logged_in"], meta["failed"]) == (6, 6, 6, 0)
    # The schedule asks for one check run per provisioned population (not for profiles-only ones).
    populations.populate(PopulationSpec(count=2, seed=1407, country="ES"), "profiles-only")
    tick = datetime.datetime(2026, 1, 1, 10, 17, tzinfo=datetime.UTC)
    with build_schedule_context(
        instance=instance, scheduled_execution_time=tick, resources=pipeline_resources()
    ) as context:
        requests = verify_mailboxes_schedule(context)
    assert [(r.tags, r.run_key) for r in requests] == [(partition_tags(key), f"{key}:{tick.isoformat()}")]

    disabled = sorted(passwords)[2]
    with api_client(mail_sandbox) as client:
        client.edit_mailbox([disabled], {"active": 0})
    settle(mail_sandbox)
    passed, meta = run_check()
    assert not passed
    assert (meta["logged_in"], meta["failed"], meta["failed_auth_refused"]) == (5, 1, 1)
    assert meta["failed_addresses"] == disabled
    assert not [p for p in passwords.values() if p in json.dumps(meta)]
    # Re-enabled in the stand-in: the check is green again.
    with api_client(mail_sandbox) as client:
        client.edit_mailbox([disabled], {"active": 1})
    settle(mail_sandbox)
    assert run_check()[0]


def test_tls_and_timeout_failures_are_named_per_mailbox(mail_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    key = "verify-faults"
    passwords = provision(3, 1404, key)
    # Without the sandbox CA the self-signed certificate is not trusted: every login fails as TLS.
    monkeypatch.delenv("MAIL_TLS_CA_FILE")
    get_settings.cache_clear()
    report = verify_with_settings(key, settings=get_settings(), sample=0)
    assert not report.ok and report.logged_in == 0
    assert {(f.address, f.reason) for f in report.failures} == {(a, TLS) for a in passwords}
    # A server that accepts the connection and never speaks: timeout, named per mailbox.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        monkeypatch.setenv("AZT3KNET_IMAP_PORT", str(silent.getsockname()[1]))
        monkeypatch.setenv("MAIL_TIMEOUT", "1")
        get_settings.cache_clear()
        report = verify_with_settings(key, settings=get_settings(), sample=2)
    assert [f.reason for f in report.failures] == [TIMEOUT, TIMEOUT]
    # And the CLI's one line per failure for a host that refuses connections.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result = azt3knet("verify", key, "--sample", "0", env={"AZT3KNET_IMAP_PORT": str(port)})
    assert result.returncode == 1
    assert sorted(fail_lines(result.stdout)) == sorted(
        f"FAIL {a}: connection failed (Connection refused)" for a in passwords
    )
    # A key that cannot decrypt the credentials of record: one line, exit 2, no login attempted.
    result = azt3knet("verify", key, env={"SECRET_KEY_FOR_KV_ENC": Fernet.generate_key().decode()})
    assert result.returncode == 2 and fail_lines(result.stdout) == []
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ciphertext does not decrypt with any key in SECRET_KEY_FOR_KV_ENC")


def test_verify_refuses_unknown_and_unprovisioned_populations_in_one_line(mail_sandbox: Sandbox) -> None:
    result = azt3knet("verify", "no-such-population")
    assert result.returncode == 2 and result.stderr.strip().startswith("error: no population is registered")
    assert len(result.stderr.strip().splitlines()) == 1
    populations.populate(PopulationSpec(count=2, seed=1405, country="ES"), "profiles-only")
    result = azt3knet("verify", "profiles-only")
    assert result.returncode == 2 and "has no active mailboxes to verify" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_users_follow_the_stand_in_disabled_domain_and_deleted_mailbox_refused(mail_sandbox: Sandbox) -> None:
    key = "verify-follow"
    passwords = provision(3, 1406, key)
    endpoint = MailEndpoint.from_settings(get_settings())
    first, second, third = sorted(passwords)
    with api_client(mail_sandbox) as client:
        client.delete_mailboxes([first])
        client.edit_mailbox([second], {"imap_access": 0})
    settle(mail_sandbox)
    for address in (first, second):
        with pytest.raises(MailProbeError) as refused:
            imap_login(endpoint, address, passwords[address])
        assert refused.value.reason == AUTH_REFUSED
    imap_login(endpoint, third, passwords[third])
    with api_client(mail_sandbox) as client:
        client.edit_domain(get_settings().mail_domain_for(key), {"active": 0})
    settle(mail_sandbox)
    with pytest.raises(MailProbeError):
        imap_login(endpoint, third, passwords[third])


@pytest.mark.parametrize("taken_index", [0, 2], ids=["imaps-port", "relay-port"])
def test_dovecot_starts_again_on_new_ports_when_a_chosen_one_was_taken(
    dovecot_required: None, monkeypatch: pytest.MonkeyPatch, taken_index: int
) -> None:
    """Another process may bind a chosen port before Dovecot (or its relay sink) does: the sandbox starts again."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        chosen: list[int] = []

        def choose(host: str = "127.0.0.1") -> int:
            port = taken if len(chosen) == taken_index else free_port(host)
            chosen.append(port)
            return port

        monkeypatch.setattr(dovecot, "free_port", choose)
        running = dovecot.start_dovecot(hostname="mail.ports.test")
        try:
            assert len(chosen) == 6  # three ports for the first start, three for the second
            assert taken not in (running.imaps_port, running.submission_port, running.relay_port)
            with socket.create_connection(("127.0.0.1", running.imaps_port), timeout=10):
                pass
        finally:
            running.stop()
    assert not running.root.exists()


def test_operator_flow_sandbox_populate_verify_send_then_sigterm_cleans_up(dovecot_required: None) -> None:
    """As an operator runs it: `azt3knet sandbox` in one process (now with Dovecot), `populate` and
    `verify --send` in others with the printed environment; SIGTERM stops Dovecot and removes its directory."""
    command = azt3knet_command()
    sandbox = subprocess.Popen(
        [*command, "sandbox", "--mailcow-port", str(free_port()), "--desec-port", str(free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        exports = read_exports(sandbox)
        ca_file, imap_port = Path(exports["MAIL_TLS_CA_FILE"]), int(exports["AZT3KNET_IMAP_PORT"])
        assert ca_file.is_file() and exports["MAIL_CONNECT_HOST"] == "127.0.0.1"
        env = {**os.environ, **exports}

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=180)

        populated = run("populate", "--count", "3", "--seed", "1408", "--country", "ES", "--create-mailboxes", "-q")
        assert populated.returncode == 0, populated.stderr
        verified = run("verify", "seed-1408", "--send")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "seed-1408: 3/3 sampled mailboxes logged in" in verified.stdout and "delivered to" in verified.stdout
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
    assert not ca_file.exists() and not ca_file.parent.exists()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", imap_port), timeout=5).close()


def test_demo_ends_by_verifying_a_sample_and_a_delivery(dovecot_required: None) -> None:
    result = azt3knet("demo", "--count", "6", "--seed", "1409", "--verify-sample", "4")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "demo-seed-1409: 4/4 sampled mailboxes logged in (6 of record)" in result.stdout
    assert "demo-seed-1409: message from " in result.stdout and " delivered to " in result.stdout
    # The table it prints is the population it materialized (same generator version): one content hash.
    shown = re.search(r"^content hash ([0-9a-f]{64})$", result.stderr, re.MULTILINE)  # the table's footer
    materialized = re.search(r"profiles: content hash ([0-9a-f]{64})", result.stdout)
    assert shown and materialized and shown.group(1) == materialized.group(1)


def test_demo_and_sandbox_without_dovecot_say_so_in_one_line(tmp_path: Path) -> None:
    # The demo as a user runs it, on a machine where Dovecot's binary is not where Debian puts it.
    program = (
        "import sys, azt3knet_pipeline.sandbox.dovecot as d; d.DOVECOT_BINARY = '/nonexistent/dovecot'; "
        "from azt3knet_pipeline.cli.app import main; sys.argv[0] = 'azt3knet'; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", program, "demo", "--count", "3", "--seed", "1410"],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    skipped = [line for line in result.stdout.splitlines() if "verify" in line]
    reason = "/nonexistent/dovecot not found; install Debian's dovecot-imapd"
    assert skipped == [f"  verify: skipped, Dovecot is not installed ({reason})"]
    assert "sampled mailboxes logged in" not in result.stdout
    # `azt3knet sandbox` says so too, and serves the stand-ins alone (no mail settings among its exports).
    ports = ["--mailcow-port", str(free_port()), "--desec-port", str(free_port())]
    with (tmp_path / "sandbox.stderr").open("w") as stderr:
        sandbox = subprocess.Popen(
            [sys.executable, "-c", program, "sandbox", *ports], stdout=subprocess.PIPE, stderr=stderr, text=True
        )
    try:
        exports = read_exports(sandbox)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
    assert "MAIL_TLS_CA_FILE" not in exports and "MAILCOW_API_URL" in exports
    message = f"Dovecot is not installed ({reason}): no mail server, `verify` cannot log in"
    assert message in (tmp_path / "sandbox.stderr").read_text().splitlines()
