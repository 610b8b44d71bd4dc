"""`azt3knet doctor`: all green against `azt3knet sandbox`, and the failing piece named when one is down.

Real processes and real HTTP on loopback: the sandbox is the `azt3knet sandbox` command (or the same
stand-ins started in-process when a test needs to stop one or read its counters), the store is SQLite or the
real PostgreSQL, the Dagster instance is the test's own.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import helpers_populations as populations
import pytest
from cryptography.fernet import Fernet
from helpers_ports import free_port
from typer.testing import CliRunner

from azt3knet_pipeline.cli.app import app
from azt3knet_pipeline.domain.models import PopulationSpec
from azt3knet_pipeline.orchestration.instance import get_instance
from azt3knet_pipeline.sandbox.run import Sandbox, running_sandbox
from azt3knet_pipeline.settings import get_settings

CLI = [sys.executable, "-m", "azt3knet_pipeline.cli.app"]
CHECKS = [
    "settings",
    "project store",
    "SECRET_KEY_FOR_KV_ENC",
    "Dagster instance",
    "Mailcow API",
    "deSEC API",
    "MAIL_HOSTNAME",
]


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=dict(os.environ), capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def sandbox_command(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """`azt3knet sandbox` as a user runs it; its `export NAME=value` lines are applied to this test's env."""
    proc = subprocess.Popen(
        [*CLI, "sandbox", "--mailcow-port", str(free_port()), "--desec-port", str(free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    env: dict[str, str] = {}
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    try:
        deadline = time.monotonic() + 60
        while "MAIL_HOSTNAME" not in env and time.monotonic() < deadline:  # the last line printed
            try:
                line = lines.get(timeout=1.0)
            except queue.Empty:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                continue
            name, _, value = line.strip().removeprefix("export ").partition("=")
            env[name] = value
        assert {"MAILCOW_API_URL", "MAILCOW_API_KEY", "DESEC_API_URL", "DESEC_TOKEN", "DESEC_DOMAIN"} <= set(env)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def stand_ins(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """The same stand-ins in this process, so a test can stop one or read its counters."""
    with running_sandbox() as sandbox:
        for name, value in sandbox.env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        yield sandbox


def _doctor_json(runner: CliRunner | None = None) -> tuple[int, dict]:
    result = (runner or CliRunner()).invoke(app, ["doctor", "--json"])
    return result.exit_code, json.loads(result.stdout.strip().splitlines()[-1])


def _status(report: dict) -> dict[str, str]:
    return {check["name"]: check["status"] for check in report["checks"]}


def _line(output: str, name: str) -> str:
    (line,) = [line for line in output.splitlines() if line[:1] in "✓✗-" and line[2:].startswith(f"{name} ")]
    return line


def test_doctor_all_green_against_azt3knet_sandbox(sandbox_command: dict[str, str]) -> None:
    fresh = _cli("doctor")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    lines = fresh.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines[:-1]] == ["✓"] * len(CHECKS)
    for name in CHECKS:
        assert _line(fresh.stdout, name).startswith("✓")
    assert lines[-1] == f"all {len(CHECKS)} checks passed"
    assert "key accepted" in _line(fresh.stdout, "Mailcow API")
    assert f"domain {sandbox_command['DESEC_DOMAIN']} present" in _line(fresh.stdout, "deSEC API")

    # After a real population, the key is checked against the secret it encrypted in the store.
    populated = _cli("populate", "--count", "3", "--seed", "doc", "--country", "ES", "--create-mailboxes", "--json")
    assert populated.returncode == 0, populated.stderr[-2000:]
    after = _cli("doctor", "--json")
    assert after.returncode == 0, after.stdout + after.stderr
    report = json.loads(after.stdout)
    assert report["ok"] is True and report["failed"] == []
    assert [check["name"] for check in report["checks"]] == CHECKS
    details = {check["name"]: check["detail"] for check in report["checks"]}
    assert "decrypts the store's password-derivation secret" in details["SECRET_KEY_FOR_KV_ENC"]
    assert "schema at head" in details["project store"]
    assert "1 run(s), 1 population partition(s)" in details["Dagster instance"]
    for secret in (
        sandbox_command["MAILCOW_API_KEY"],
        sandbox_command["DESEC_TOKEN"],
        os.environ["SECRET_KEY_FOR_KV_ENC"],
    ):
        assert secret not in after.stdout + after.stderr


def test_doctor_names_desec_when_its_stand_in_is_down(stand_ins: Sandbox) -> None:
    stand_ins.desec.stop()
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 1
    line = _line(result.stdout, "deSEC API")
    assert line.startswith("✗") and stand_ins.env["DESEC_API_URL"] in line and "ConnectError" in line
    assert result.stdout.strip().splitlines()[-1] == "1 problem(s): deSEC API"
    code, report = _doctor_json()
    assert code == 1 and report["failed"] == ["deSEC API"]
    assert _status(report)["Mailcow API"] == "ok"


def test_doctor_names_mailcow_on_a_wrong_key_after_one_attempt(
    stand_ins: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    mailcow = stand_ins.mailcow_app.state.sandbox  # type: ignore[attr-defined]
    monkeypatch.setenv("MAILCOW_API_KEY", "NOT-THE-KEY")
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 1
    line = _line(result.stdout, "Mailcow API")
    assert line.startswith("✗") and "key refused" in line and "HTTP 401" in line
    assert "NOT-THE-KEY" not in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "1 problem(s): Mailcow API"
    # Exactly one request with the bad key: doctor never retries into Mailcow's fail2ban.
    assert mailcow.auth_failure_count == 1
    assert mailcow.counters().get("GET get/domain") == 1


def test_doctor_names_the_key_that_cannot_decrypt_the_store(
    stand_ins: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    populations.register_population(PopulationSpec(count=2, seed="k", country="ES"), "seed-k")
    assert populations.materialize_population("seed-k", job_name="populate_job").success
    monkeypatch.setenv("SECRET_KEY_FOR_KV_ENC", Fernet.generate_key().decode())
    code, report = _doctor_json()
    assert code == 1 and report["failed"] == ["SECRET_KEY_FOR_KV_ENC"]
    detail = next(c["detail"] for c in report["checks"] if c["name"] == "SECRET_KEY_FOR_KV_ENC")
    assert "does NOT decrypt the store's password-derivation secret" in detail

    monkeypatch.setenv("SECRET_KEY_FOR_KV_ENC", "not-a-fernet-key")
    code, report = _doctor_json()
    assert code == 1 and report["failed"] == ["SECRET_KEY_FOR_KV_ENC"]
    assert "not-a-fernet-key" not in json.dumps(report)


def test_doctor_reports_unparsable_settings_and_skips_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZT3KNET_LLM_BACKEND", "gpt-9")
    code, report = _doctor_json()
    assert code == 1 and report["failed"] == ["settings"]
    assert "AZT3KNET_LLM_BACKEND" in report["checks"][0]["detail"]
    assert {check["status"] for check in report["checks"][1:]} == {"skip"}


def test_doctor_names_mail_hostname_outside_the_zone(stand_ins: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAIL_HOSTNAME", "mail.elsewhere.example")
    code, report = _doctor_json()
    assert code == 1 and report["failed"] == ["MAIL_HOSTNAME"]


@pytest.fixture
def two_databases(pg_databases: Callable[..., AbstractContextManager[list[str]]]) -> Iterator[tuple[str, str]]:
    with pg_databases("doctor_store", "doctor_dagster") as (store_url, dagster_url):
        yield store_url, dagster_url.replace("postgresql://", "postgresql+psycopg2://")


@pytest.mark.postgres
def test_doctor_on_postgresql_green_then_names_the_unreachable_store(
    stand_ins: Sandbox, two_databases: tuple[str, str], monkeypatch: pytest.MonkeyPatch, isolated_env: Path
) -> None:
    store_url, dagster_url = two_databases
    monkeypatch.setenv("AZT3KNET_DATABASE_URL", store_url)
    monkeypatch.setenv("AZT3KNET_DAGSTER_POSTGRES_URL", dagster_url)

    populations.open_store()  # the store as any command leaves it: migrated
    code, report = _doctor_json()
    assert code == 0, report
    details = {check["name"]: check["detail"] for check in report["checks"]}
    assert details["project store"].startswith("postgresql 127.0.0.1:5432/doctor_store_")
    assert "schema at head" in details["project store"]
    assert details["Dagster instance"].startswith("PostgreSQL storage")

    # One database for both: alembic_version would collide, so doctor refuses it.
    monkeypatch.setenv("AZT3KNET_DAGSTER_POSTGRES_URL", store_url.replace("postgresql://", "postgresql+psycopg2://"))
    code, report = _doctor_json()
    assert code == 1 and report["failed"] == ["Dagster instance"]

    # The store's server is down (nothing listens on that port): the store is the piece named.
    monkeypatch.setenv("AZT3KNET_DAGSTER_POSTGRES_URL", dagster_url)
    monkeypatch.setenv("AZT3KNET_DATABASE_URL", f"postgresql://azt3knet:s3cret-pw@127.0.0.1:{free_port()}/azt3knet")
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 1
    line = _line(result.stdout, "project store")
    assert line.startswith("✗") and "cannot connect" in line
    assert "s3cret-pw" not in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "1 problem(s): project store"


def test_doctor_names_registered_populations_missing_from_dagster(stand_ins: Sandbox) -> None:
    """Dagster's storage lost or reset while the store survived: runs of those populations cannot start."""
    populations.register_population(PopulationSpec(count=2, seed="gone", country="PT"), "seed-gone")
    get_instance(get_settings()).delete_dynamic_partition("population", "seed-gone")
    code, report = _doctor_json()
    assert code == 1 and report["failed"] == ["Dagster instance"]
    detail = next(c["detail"] for c in report["checks"] if c["name"] == "Dagster instance")
    assert "lacks the partition of 1 registered population(s): seed-gone" in detail

    # The repair docs/operations.md gives: register every stored population again (a no-op in the store).
    for population in populations.open_store().list_populations():
        populations.register_population(population.spec, population.key)
    code, report = _doctor_json()
    assert code == 0, report
