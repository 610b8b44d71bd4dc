"""Everything that persists on the real PostgreSQL: Dagster's run/event/schedule storage AND the project store.

One full population (profiles → mailboxes → DNS → credential export) is materialized in this process against
the Mailcow/deSEC stand-ins, then re-materialized from a SECOND process (`azt3knet recreate --json`). The
second run must see the first one's state in both databases: the same content hash, zero writes to Mailcow
and deSEC, and both runs in the one Dagster instance.

Dagster's tables and ours live in two databases on the same server, as in the deployment: both use alembic
with the default `alembic_version` table, so they must not share one schema.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import helpers_populations as populations
import psycopg2
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from azt3knet_pipeline.domain.generation import generate_population
from azt3knet_pipeline.domain.models import PopulationSpec
from azt3knet_pipeline.sandbox.run import running_sandbox
from azt3knet_pipeline.settings import get_settings

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SPEC = PopulationSpec(count=12, seed="pg-full", country="ES", interests=["hiking", "jazz"])
KEY = "pg-full"


@pytest.fixture
def pg_pair(pg_databases: Callable[..., AbstractContextManager[list[str]]]) -> Iterator[tuple[str, str]]:
    """Two fresh databases on the real server: (project store URL, Dagster storage URL)."""
    with pg_databases("azt3knet_store", "azt3knet_dagster") as (store_url, dagster_url):
        yield store_url, dagster_url


def cron_dagster_command(key: str) -> list[str]:
    """The first active `dg launch` line of infra/cron.example, as argv, with its partition set to `key`
    (the test runs what operators copy, not a paraphrase of it)."""
    for line in (REPO / "infra" / "cron.example").read_text().splitlines():
        if line.startswith("#") or "dg launch" not in line:
            continue
        assert "DAGSTER_HOME=" in line, "a cron line without DAGSTER_HOME writes to a throwaway instance"
        tokens = shlex.split(line.split("DAGSTER_HOME=", 1)[1].split(">>", 1)[0])[1:]
        tokens[tokens.index("--partition") + 1] = key
        return tokens
    raise AssertionError("infra/cron.example has no active `dg launch` line")


def _rows(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    conn.close()
    return rows


def test_full_population_on_postgres_rematerialized_from_a_second_process(
    pg_pair: tuple[str, str], isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_url, dagster_url = pg_pair
    monkeypatch.setenv("AZT3KNET_DATABASE_URL", store_url)
    # The documented form: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; Dagster needs psycopg2 named.
    monkeypatch.setenv("AZT3KNET_DAGSTER_POSTGRES_URL", dagster_url.replace("postgresql://", "postgresql+psycopg2://"))
    with running_sandbox() as sandbox:
        for name, value in sandbox.env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()

        # -- process 1 (this one): register and materialize the whole graph --------------------------
        populations.register_population(SPEC, KEY, actor="test")
        first = populations.materialize_population(KEY, job_name="populate_job")
        assert first.success, first.error
        assert first.metadata["mailboxes"]["created"] == SPEC.count
        assert first.metadata["credential_export"]["mailboxes"] == SPEC.count

        # The instance the CLI made really is PostgreSQL-backed (no silent SQLite fallback).
        dagster_yaml = (Path(os.environ["DAGSTER_HOME"]) / "dagster.yaml").read_text()
        assert "postgres_url" in dagster_yaml and "AZT3KNET_DAGSTER_POSTGRES_URL" in dagster_yaml
        assert not list(Path(os.environ["DAGSTER_HOME"]).rglob("*.db")), "Dagster wrote SQLite files"

        mailcow = sandbox.mailcow_app.state.sandbox  # type: ignore[attr-defined]
        desec = sandbox.desec_app.state.sandbox  # type: ignore[attr-defined]
        mailcow_writes, desec_writes = mailcow.counters()["writes"], desec.counters()["writes"]
        assert mailcow_writes > 0 and desec_writes > 0

        # -- process 2: the CLI recreates the same partition from the same two databases -------------
        env = {**os.environ, "PYTHONHASHSEED": "4321"}
        proc = subprocess.run(
            [sys.executable, "-m", "azt3knet_pipeline.cli.app", "recreate", KEY, "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        second = json.loads(proc.stdout.strip().splitlines()[-1])

        # The second process saw the first one's state: nothing to write anywhere.
        assert mailcow.counters()["writes"] == mailcow_writes
        assert desec.counters()["writes"] == desec_writes

        # -- process 3: the cron line of infra/cron.example, verbatim but for the partition ---------------
        command = cron_dagster_command(KEY)
        assert command[:2] == ["dg", "launch"] and command[command.index("--job") + 1] == "populate_job"
        cron = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=240)
        assert cron.returncode == 0, cron.stderr[-3000:]
        assert mailcow.counters()["writes"] == mailcow_writes
        assert desec.counters()["writes"] == desec_writes

    assert second["success"] is True
    assert second["run_id"] != first.run_id
    assets = second["assets"]
    content_hash = first.metadata["agent_profiles"]["content_hash"]
    assert content_hash == generate_population(SPEC.with_version(2), KEY).content_hash  # new ⇒ latest generator
    assert assets["agent_profiles"]["content_hash"] == content_hash
    assert assets["mailboxes"]["created"] == 0
    assert assets["mailboxes"]["write_count"] == 0
    assert assets["mailboxes"]["unchanged"] == SPEC.count
    assert assets["dns_records"]["write_count"] == 0
    assert assets["dns_records"]["desired_hash"] == first.metadata["dns_records"]["desired_hash"]

    # Both runs, from both processes, are in the one PostgreSQL-backed instance.
    instance = DagsterInstance.get()
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    runs = instance.get_runs(RunsFilter(tags={"dagster/partition": KEY}))
    assert len(runs) == 3
    assert {first.run_id, second["run_id"]} <= {run.run_id for run in runs}
    assert all(run.status == DagsterRunStatus.SUCCESS for run in runs)
    assert {run.job_name for run in runs} == {"populate_job"}
    assert KEY in instance.get_dynamic_partitions("population")

    # ... and in Dagster's own tables, read straight from its database.
    stored_runs = {row[0] for row in _rows(dagster_url, "SELECT run_id FROM runs")}
    assert {run.run_id for run in runs} <= stored_runs

    # The project store on the same server holds the population, its mailboxes and the audit trail.
    assert _rows(store_url, "SELECT status FROM population WHERE key = %s", (KEY,)) == [("provisioned",)]
    (mailbox_count,) = _rows(store_url, "SELECT count(*) FROM agent_mailbox WHERE population_key = %s", (KEY,))[0]
    assert mailbox_count == SPEC.count
    actions = [row[0] for row in _rows(store_url, "SELECT action FROM audit_log WHERE target = %s", (KEY,))]
    assert "population.register" in actions and "population.recreate" in actions
    # Dagster's tables are not in the store's database and ours are not in Dagster's.
    assert not _rows(store_url, "SELECT 1 FROM information_schema.tables WHERE table_name = 'runs'")
    assert not _rows(dagster_url, "SELECT 1 FROM information_schema.tables WHERE table_name = 'agent_mailbox'")


def test_repository_dagster_yaml_selects_postgres_from_one_variable(
    pg_pair: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deployment form (the repo's infra/dagster.yaml, copied into DAGSTER_HOME by the Dockerfile and the docs):
    PostgreSQL run/event/schedule storage from AZT3KNET_DAGSTER_POSTGRES_URL, queued runs, pool limits."""
    _, dagster_url = pg_pair
    home = tmp_path / "deployed-dagster-home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO / "infra" / "dagster.yaml").read_text())
    monkeypatch.setenv("AZT3KNET_DAGSTER_POSTGRES_URL", dagster_url.replace("postgresql://", "postgresql+psycopg2://"))
    instance = DagsterInstance.from_config(str(home))
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.event_log_storage.supports_global_concurrency_limits
        instance.add_dynamic_partitions("population", ["yaml-check"])
        assert instance.get_dynamic_partitions("population") == ["yaml-check"]
    finally:
        instance.dispose()
    tables = {row[0] for row in _rows(dagster_url, "SELECT table_name FROM information_schema.tables")}
    assert {"runs", "event_logs", "dynamic_partitions", "concurrency_limits"} <= tables
