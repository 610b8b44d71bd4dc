"""`azt3knet demo` builds its own settings for the sandbox and gives them to the run as resources: the process
environment is the same after the demo as before, and the demo's store, instance and key live under its home."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from dagster import DagsterInstance
from dagster._serdes import serialize_value
from typer.testing import CliRunner

from azt3knet_pipeline.cli.main import app
from azt3knet_pipeline.sandbox.dovecot import dovecot_missing
from azt3knet_pipeline.sandbox.run import SANDBOX_MAILCOW_KEY
from azt3knet_pipeline.store.repository import Store


@pytest.mark.parametrize("with_key", [True, False], ids=["key-set", "key-unset"])
def test_the_demo_leaves_the_process_environment_unchanged(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch, with_key: bool
) -> None:
    if not with_key:
        monkeypatch.delenv("SECRET_KEY_FOR_KV_ENC")
    # A store URL set for the real installation must not receive the demo's population.
    real_store = f"sqlite:///{isolated_env / 'real.db'}"
    monkeypatch.setenv("AZT3KNET_DATABASE_URL", real_store)
    before = dict(os.environ)

    result = CliRunner().invoke(app, ["demo", "--count", "3", "--seed", "77", "--verify-sample", "1"])

    assert result.exit_code == 0, result.output
    assert dict(os.environ) == before
    assert "demo population demo-seed-77: 3 synthetic agents" in result.output
    demo_home = isolated_env / "demo"
    assert Store.open(f"sqlite:///{demo_home / 'azt3knet.db'}").require_population("demo-seed-77").spec.count == 3
    assert Store.open(real_store).get_population("demo-seed-77") is None
    assert (demo_home / "demo.key").exists() is not with_key
    if dovecot_missing() is None:  # the mail settings reached the verification too
        assert "demo-seed-77: 1/1 sampled mailboxes logged in (3 of record)" in result.output
    # The settings were given to the run as a resource, yet no secret is stored with its job snapshot.
    instance = DagsterInstance.from_config(str(demo_home / "dagster"))
    (run,) = instance.get_runs()
    snapshot = serialize_value(instance.get_job_snapshot(run.job_snapshot_id))
    fernet_key = os.environ.get("SECRET_KEY_FOR_KV_ENC") or (demo_home / "demo.key").read_text().strip()
    assert SANDBOX_MAILCOW_KEY not in snapshot and fernet_key not in snapshot
    assert SANDBOX_MAILCOW_KEY not in str(run.run_config) and fernet_key not in str(run.run_config)
