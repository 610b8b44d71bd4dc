"""A process killed (SIGKILL) in the middle of provisioning, then run again: no duplicate, no orphan, every
credential decryptable and valid. The kill is real: `azt3knet populate --create-mailboxes` in a subprocess
against stand-ins served by this test process, slowed down so the kill lands among the creates."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

import helpers_populations as populations
from helpers_sandbox import assert_converged, desired, domain_mailboxes, mail_domain, mailcow, stored_passwords

from azt3knet_pipeline.domain.models import PopulationSpec
from azt3knet_pipeline.sandbox.mailcow import MailcowSandboxConfig
from azt3knet_pipeline.sandbox.run import SANDBOX_ZONE, Sandbox

SPEC = PopulationSpec(count=60, seed=31, country="NL")
KEY = "crashy"


def test_sigkill_mid_provisioning_then_rerun_converges(sandbox_factory: Callable[..., Sandbox]) -> None:
    sandbox = sandbox_factory(
        mailcow_config=MailcowSandboxConfig(
            mailcow_hostname=f"mail.{SANDBOX_ZONE}",
            dkim_reuse_keys=True,
            latency_ms=100,
        )
    )
    domain = mail_domain(KEY)
    wanted = {m.address for m in desired(SPEC, KEY)}
    env = {**os.environ, "MAILCOW_CONCURRENCY": "3"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "azt3knet_pipeline.cli.app",
            "populate",
            "--count",
            "60",
            "--seed",
            "31",
            "--country",
            "NL",
            "--key",
            KEY,
            "--create-mailboxes",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        deadline = time.monotonic() + 120
        while len(domain_mailboxes(sandbox, domain)) < 12:
            assert process.poll() is None, process.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "the subprocess never started creating mailboxes"
            time.sleep(0.01)
        process.kill()  # SIGKILL: no cleanup, no finally blocks, requests in flight
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
    assert process.returncode == -9

    # Requests that were in flight finish on the server after the client is gone.
    time.sleep(0.3)
    survivors = domain_mailboxes(sandbox, domain)
    assert 12 <= len(survivors) < 60, "the kill should land mid-provisioning"
    assert set(survivors) <= wanted
    # Write-ahead: every mailbox that exists already has its credential of record, and it is the right one.
    passwords = stored_passwords(KEY)
    assert set(passwords) == wanted
    assert all(mailcow(sandbox).check_password(address, passwords[address]) for address in survivors)

    mailcow(sandbox).set_faults(latency_ms=0)
    outcome = populations.recreate(KEY)
    assert outcome.success, outcome.error
    meta = outcome.metadata["mailboxes"]
    assert meta["created"] + meta["adopted"] == 60 - len(survivors)
    assert meta["removed"] == 0 and meta["unchanged"] == len(survivors)
    # No duplicate, no orphan (nothing in the domain or the store that is not desired, every row active),
    # every credential decryptable and accepted by the server; the same passwords as before the crash.
    assert assert_converged(sandbox, SPEC, KEY) == passwords
    assert populations.open_store().require_population(KEY).status == "provisioned"
