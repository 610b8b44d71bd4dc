"""No plaintext password anywhere but the explicit plaintext export.

One population goes through the paths that handle passwords (a failed run, a successful one, a lost answer
that is adopted by re-asserting the password, recreate, plan, exports, mailbox verification over IMAPS and
submission against a real Dovecot with one password changed behind the pipeline's back, the
`mailboxes_accept_login` check) in-process and through the CLI. Then every generated password (and the
out-of-band one, the derivation secret and the Fernet key) is searched for in: captured logs and process
output, every Dagster event record and run of the instance, the asset metadata, the SQLite database file bytes
and every row of every table, the encrypted bundles, Dagster's storage directory, every other file the
installation wrote, and the Dovecot log and directory. The plaintext export must contain the passwords, be
0600, and be audit-logged.
"""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path
from urllib.parse import quote

import helpers_populations as populations
import pytest
from dagster import AssetKey, AssetRecordsFilter, serialize_value
from helpers_sandbox import (
    api_client,
    assert_converged,
    azt3knet,
    domain_mailboxes,
    mail_domain,
    mailcow,
)
from sqlalchemy import MetaData, select

from azt3knet_pipeline.clients.factory import secret_box
from azt3knet_pipeline.definitions import defs
from azt3knet_pipeline.defs.verify import partition_tags
from azt3knet_pipeline.domain.models import PopulationSpec
from azt3knet_pipeline.orchestration.instance import get_instance
from azt3knet_pipeline.sandbox.run import Sandbox
from azt3knet_pipeline.services.credentials import bundle_path, decrypt_bundle
from azt3knet_pipeline.services.verify import verify_with_settings
from azt3knet_pipeline.settings import get_settings

SPEC = PopulationSpec(count=10, seed=41, country="ES")
KEY = "leak-check"
STRICT = {"length": 24, "chars": 1, "special_chars": 1, "lowerupper": 1, "numbers": 1}
OUT_OF_BAND = "Out-Of-Band-Password-2024-xyz!"


def files_under(root: Path, *, skip: set[Path]) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.resolve() not in skip}


def test_no_plaintext_password_outside_the_plaintext_export(
    mail_sandbox: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    sandbox = mail_sandbox
    caplog.set_level(logging.DEBUG)
    settings = get_settings()
    cow = mailcow(sandbox)
    outputs: dict[str, str] = {}

    # 1. A failed run: the server's policy is stricter than our passwords (a business error, not retried).
    cow.password_policy = {**STRICT, "length": 30}
    failed = populations.populate(SPEC, KEY, create_mailboxes=True)
    assert not failed.success and "password_complexity" in (failed.error or "")
    outputs["failed run error"] = failed.error or ""
    # 2. The policy back to strict-but-satisfiable: the run converges.
    cow.password_policy = dict(STRICT)
    assert populations.recreate(KEY).success
    # 3. Two mailboxes deleted by hand; the first re-create's answer is lost after it was applied, so the retry
    #    meets `object_exists` and the pipeline adopts the mailbox by re-asserting the password of record.
    with api_client(sandbox) as client:
        client.delete_mailboxes(sorted(domain_mailboxes(sandbox, mail_domain(KEY)))[:2])
    cow.set_faults(fault_actions=["add"], fault_queue=["error_after_apply"])
    adopted = populations.recreate(KEY)
    assert adopted.success, adopted.error
    assert adopted.metadata["mailboxes"]["adopted"] == 1 and adopted.metadata["mailboxes"]["created"] == 1
    passwords = assert_converged(sandbox, SPEC, KEY)
    # 4. Read-only views and exports, in-process ...
    outputs["plan"] = json.dumps(populations.plan(KEY))
    outputs["describe"] = json.dumps(populations.describe_population(KEY), default=str)
    encrypted_out = tmp_path / "exports-elsewhere" / "bundle.fernet"
    encrypted_out.parent.mkdir()  # exports never create folders
    populations.export_credentials(KEY, str(encrypted_out))
    # ... and through the CLI, as a user runs it.
    for name, args in {
        "cli recreate": ["recreate", KEY, "--json"],
        "cli plan": ["plan", KEY],
        "cli export": ["export-credentials", KEY, "--out", str(tmp_path / "cli.fernet")],
    }.items():
        result = azt3knet(*args)
        assert result.returncode == 0, result.stderr
        outputs[name] = result.stdout + result.stderr
    # 5. Verification with one password changed behind the pipeline's back: in-process (with --send), through
    #    the CLI, and as the Dagster asset check (its metadata and logs are scanned with the other runs).
    victim = sorted(passwords)[3]
    with api_client(sandbox) as client:
        client.edit_mailbox([victim], {"password": OUT_OF_BAND, "password2": OUT_OF_BAND})
    assert sandbox.dovecot is not None
    sandbox.dovecot.settle()
    report = verify_with_settings(KEY, settings=get_settings(), sample=0, send=True)
    assert [f.address for f in report.failures] == [victim] and report.delivery and report.delivery.delivered
    outputs["verify report"] = report.model_dump_json()
    result = azt3knet("verify", KEY, "--sample", "0", "--send")
    assert result.returncode == 1 and f"FAIL {victim}: auth refused" in result.stdout, result.stdout
    outputs["cli verify"] = result.stdout + result.stderr
    check_run = defs.resolve_job_def("verify_mailboxes_job").execute_in_process(
        instance=get_instance(settings), tags=partition_tags(KEY), raise_on_error=False
    )
    (evaluation,) = check_run.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.metadata["failed_addresses"].value == victim
    plaintext_out = tmp_path / "plaintext" / "credentials.json"
    plaintext_out.parent.mkdir()
    result = azt3knet("export-credentials", KEY, "--out", str(plaintext_out), "--plaintext")
    assert result.returncode == 0, result.stderr
    outputs["cli plaintext export"] = result.stdout + result.stderr

    box = secret_box(settings)
    store = populations.open_store(settings)
    secrets = {f"password of {address}": password for address, password in passwords.items()}
    secrets["derivation secret"] = store.derivation_secret(box).hex()
    secrets["Fernet key"] = settings.secret_key_for_kv_enc.get_secret_value()  # type: ignore[union-attr]
    secrets["out-of-band password"] = OUT_OF_BAND
    needles = {name: {value, quote(value, safe="")} for name, value in secrets.items()}

    # The haystacks.
    haystacks: dict[str, bytes] = {}
    captured = capfd.readouterr()
    haystacks["captured stdout/stderr"] = (captured.out + captured.err).encode()
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    haystacks["log records"] = "\n".join(
        formatter.format(record) + repr(record.args) for record in caplog.records
    ).encode()
    for name, text in outputs.items():
        haystacks[name] = text.encode()

    instance = get_instance(settings)
    runs = instance.get_runs()
    assert len(runs) == 5  # failed, recreate, adopted, CLI recreate, mailbox login check
    for run in runs:
        haystacks[f"dagster run {run.run_id}"] = serialize_value(run).encode()
        records = instance.all_logs(run.run_id)
        assert records
        haystacks[f"dagster event log {run.run_id}"] = "\n".join(serialize_value(r) for r in records).encode()
    metadata_text = []
    for asset_key in defs.resolve_asset_graph().get_all_asset_keys():
        for record in instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey(asset_key.path), asset_partitions=[KEY]), limit=100
        ).records:
            materialization = record.event_log_entry.asset_materialization
            assert materialization is not None
            metadata_text.append(serialize_value(materialization.metadata))
    assert len(metadata_text) >= 5 * 3
    haystacks["asset metadata"] = "\n".join(metadata_text).encode()

    database = Path(settings.resolved_database_url.split("///", 1)[1])
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{database}{suffix}")
        if path.exists():
            haystacks[f"database file {path.name}"] = path.read_bytes()
    tables = MetaData()
    tables.reflect(store.engine)
    assert {"agent_mailbox", "audit_log", "kv_secret", "population"} <= set(tables.tables)
    with store.engine.connect() as conn:
        for table in tables.sorted_tables:
            haystacks[f"table {table.name}"] = repr(conn.execute(select(table)).all()).encode()

    asset_bundle = bundle_path(settings, KEY)
    for path in (asset_bundle, encrypted_out, tmp_path / "cli.fernet"):
        token = path.read_bytes()
        haystacks[f"encrypted bundle {path.name}"] = token
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        bundled = {e["address"]: e["password"] for e in decrypt_bundle(box, token)["mailboxes"]}
        assert bundled == passwords  # the passwords are in there, encrypted

    dagster_home = settings.resolved_dagster_home
    haystacks.update({f"dagster storage {k}": v for k, v in files_under(dagster_home, skip=set()).items()})
    # Everything else written under the test's directory (store, exports, ...), except the plaintext export.
    haystacks.update(files_under(tmp_path, skip={plaintext_out.resolve()}))
    # The mail server: its log, passwd-files (hashes only) and the delivered mail.
    haystacks.update({f"dovecot {k}": v for k, v in files_under(sandbox.dovecot.root, skip=set()).items()})

    # The scans would find something if it were there: addresses appear in events, storage, database, logs.
    some_address = sorted(passwords)[0]
    assert some_address.encode() in haystacks["table agent_mailbox"]
    assert any(some_address.encode() in v for k, v in haystacks.items() if k.startswith("dagster storage"))
    assert any(b"password_complexity" in v for k, v in haystacks.items() if k.startswith("dagster event log"))
    assert mail_domain(KEY).encode() in haystacks["asset metadata"]
    assert b"POST add/mailbox: HTTP 503" in haystacks["log records"]
    assert any(f"Login: user=<{some_address}>".encode() in v for k, v in haystacks.items() if k.startswith("dovecot"))
    assert any(victim.encode() in v for k, v in haystacks.items() if k.startswith("dagster event log"))

    leaks = sorted(
        f"{secret_name} in {hay_name}"
        for hay_name, hay in haystacks.items()
        for secret_name, variants in needles.items()
        if any(variant.encode() in hay for variant in variants)
    )
    assert not leaks, leaks[:10]

    # The one place plaintext may be: the explicit export — complete, private, audit-logged.
    assert stat.S_IMODE(plaintext_out.stat().st_mode) == 0o600
    exported = json.loads(plaintext_out.read_text())
    assert {e["address"]: e["password"] for e in exported["mailboxes"]} == passwords
    assert exported["synthetic"] is True and exported["imap"]["port"] == settings.imap_port
    exports = [e for e in store.audit_entries(target=KEY) if e.action == "credentials.export"]
    details = [json.loads(e.detail or "{}") for e in exports if e.actor == "cli"]
    assert [d["plaintext"] for d in details].count(True) == 1
    assert any(d["plaintext"] is True and d["path"] == str(plaintext_out.resolve()) for d in details)
    assert all(d["mailboxes"] == 10 for d in details)
