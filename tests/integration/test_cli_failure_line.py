"""A failed run ends the CLI with one line: the step, the cause, the endpoint (no secret), and where the full
log is. Stack traces only with `--verbose`. Real subprocesses against the stand-ins with a wrong Mailcow key."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from azt3knet_pipeline.sandbox.run import SANDBOX_MAILCOW_KEY, Sandbox

WRONG_KEY = "WRONG-mailcow-key-1f2e3d4c5b6a"
CLI = [sys.executable, "-m", "azt3knet_pipeline.cli.app"]
POPULATE = ["populate", "-n", "3", "--seed", "5", "--country", "ES", "--key", "badkey", "--create-mailboxes"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MAILCOW_API_KEY": WRONG_KEY}
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=300)


def test_wrong_mailcow_key_fails_with_one_clean_line(sandbox: Sandbox) -> None:
    result = run_cli(*POPULATE)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert "Traceback" not in result.stderr and "dagster" not in line.lower()
    assert "mailboxes" in line and "401" in line
    assert sandbox.mailcow.url in line  # the endpoint, named
    for secret in (WRONG_KEY, SANDBOX_MAILCOW_KEY, os.environ["SECRET_KEY_FOR_KV_ENC"], os.environ["DESEC_TOKEN"]):
        assert secret not in result.stderr and secret not in result.stdout
    # ... and where the full log is: a private file holding the stack trace, still without secrets
    match = re.search(r"full log: (\S+)", line)
    assert match, line
    log = Path(match.group(1))
    assert log.stat().st_mode & 0o777 == 0o600
    text = log.read_text()
    assert "Stack Trace" in text and "raise MailcowAuthError" in text and "mailboxes" in text
    assert WRONG_KEY not in text and SANDBOX_MAILCOW_KEY not in text


def test_verbose_shows_the_stack_traces(sandbox: Sandbox) -> None:
    result = run_cli("--verbose", *POPULATE)
    assert result.returncode == 1
    assert "Traceback" in result.stderr or "MailcowAuthError" in result.stderr
    assert len(result.stderr.strip().splitlines()) > 1
    assert WRONG_KEY not in result.stderr
