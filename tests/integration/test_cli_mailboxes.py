"""The mailbox commands as a user runs them (real subprocesses against the stand-ins): export-credentials
(encrypted / --plaintext), plan (+ --json) without writing, teardown --yes and back, keys rotate, and clear
errors (exit code, one line, no traceback) for a missing, malformed or wrong SECRET_KEY_FOR_KV_ENC."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import helpers_populations as populations
import pytest
from cryptography.fernet import Fernet
from helpers_sandbox import (
    api_client,
    assert_cli_error,
    assert_converged,
    azt3knet,
    desec_counters,
    desec_state,
    domain_mailboxes,
    domain_record,
    has_dkim,
    mail_domain,
    mailcow,
    mailcow_counters,
    population_rrsets,
    reset_counters,
    stored_passwords,
)

from azt3knet_pipeline.clients.factory import secret_box
from azt3knet_pipeline.clients.mailcow import MailboxSpec
from azt3knet_pipeline.domain.mailbox_plan import SYNTHETIC_TAG
from azt3knet_pipeline.domain.models import PopulationSpec
from azt3knet_pipeline.errors import DecryptionError
from azt3knet_pipeline.sandbox.run import SANDBOX_ZONE, Sandbox
from azt3knet_pipeline.services.credentials import bundle_path, decrypt_bundle
from azt3knet_pipeline.settings import get_settings
from azt3knet_pipeline.store.crypto import SecretBox

SPEC = PopulationSpec(count=8, seed=51, country="ES")
KEY = "seed-51"


def provision() -> dict[str, str]:
    outcome = populations.populate(SPEC, KEY, create_mailboxes=True)
    assert outcome.success, outcome.error
    return stored_passwords(KEY)


def zone_rrsets(sandbox: Sandbox, key: str) -> dict[tuple[str, str], tuple[str, ...]]:
    return {k: r.records for k, r in population_rrsets(sandbox, key).items()}


def test_export_credentials_encrypted_by_default_plaintext_only_on_request(sandbox: Sandbox, tmp_path: Path) -> None:
    passwords = provision()
    encrypted = tmp_path / "out" / "seed-51.fernet"
    encrypted.parent.mkdir()
    encrypted.write_text("stale, world-readable")
    encrypted.chmod(0o644)
    refused = azt3knet("export-credentials", KEY, "--out", str(encrypted))
    assert_cli_error(refused, 2, "already exists", "--force")
    assert encrypted.read_text() == "stale, world-readable"
    result = azt3knet("export-credentials", KEY, "--out", str(encrypted), "--force")
    assert result.returncode == 0, result.stderr
    assert "encrypted" in result.stdout and "0600" in result.stdout
    assert stat.S_IMODE(encrypted.stat().st_mode) == 0o600
    token = encrypted.read_bytes()
    assert not any(password.encode() in token for password in passwords.values())
    bundle = decrypt_bundle(secret_box(get_settings()), token)
    exported = {entry["address"]: entry["password"] for entry in bundle["mailboxes"]}
    assert exported == passwords
    assert all(mailcow(sandbox).check_password(address, password) for address, password in exported.items())
    assert bundle["mail_domain"] == mail_domain(KEY) and bundle["synthetic"] is True
    assert bundle["imap"]["host"] == bundle["smtp"]["host"] == f"mail.{SANDBOX_ZONE}"
    with pytest.raises(DecryptionError):
        SecretBox([Fernet.generate_key().decode()]).decrypt_bytes(token)

    plaintext = tmp_path / "plain.json"
    result = azt3knet("export-credentials", KEY, "--out", str(plaintext), "--plaintext")
    assert result.returncode == 0, result.stderr
    assert "PLAINTEXT" in result.stdout
    assert stat.S_IMODE(plaintext.stat().st_mode) == 0o600
    assert {e["address"]: e["password"] for e in json.loads(plaintext.read_text())["mailboxes"]} == passwords

    audit = [e for e in populations.open_store().audit_entries(target=KEY) if e.action == "credentials.export"]
    assert [e.outcome for e in audit if e.actor == "cli"].count("refused") == 1
    by_actor = [json.loads(e.detail or "{}") for e in audit if e.actor == "cli" and e.outcome == "ok"]
    assert sorted(d["plaintext"] for d in by_actor) == [False, True]
    assert all(d["mailboxes"] == 8 for d in by_actor)


def test_plan_shows_create_update_remove_and_writes_nothing(sandbox: Sandbox) -> None:
    provision()
    domain = mail_domain(KEY)
    addresses = sorted(domain_mailboxes(sandbox, domain))
    deleted, renamed = addresses[:2], addresses[2]
    ghost = f"ghost@{domain}"
    with api_client(sandbox) as client:
        client.delete_mailboxes(deleted)
        client.edit_mailbox([renamed], {"name": "Renamed By Hand"})
        client.add_mailbox(
            MailboxSpec(
                local_part="ghost", domain=domain, password="Hand-Made-Pass-1", quota=64, tags=[SYNTHETIC_TAG, KEY]
            )
        )
    desec_state(sandbox).delete_rrset(SANDBOX_ZONE, KEY, "MX")
    before = mailcow(sandbox).state()
    store = populations.open_store()
    audit_before = len(store.audit_entries(limit=10_000))
    reset_counters(sandbox)

    result = azt3knet("plan", KEY, "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    mailboxes = plan["mailboxes"]
    assert sorted(mailboxes["to_create"]) == deleted
    assert mailboxes["to_update"] == [{"address": renamed, "changes": ["name"]}]
    assert mailboxes["to_remove"] == [ghost]
    assert (mailboxes["create"], mailboxes["update"], mailboxes["remove"], mailboxes["unchanged"]) == (2, 1, 1, 5)
    assert [(r["subname"], r["type"]) for r in plan["dns"]["to_upsert"]] == [(KEY, "MX")]

    result = azt3knet("plan", KEY)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert all(f"+ mailbox {address}" in text for address in deleted)
    assert f"~ mailbox {renamed} (name)" in text and f"- mailbox {ghost}" in text
    assert f"~ rrset {KEY} MX" in text
    # Creates run before removes: 7 mailboxes + 2 new exceed the domain's limit of 8, so the limit is raised first.
    assert f"edit/domain {domain} (aliases, mailboxes, maxquota, quota)" in text
    assert "Plan: 1 domain/DKIM write(s); 2 to create, 1 to update, 1 to remove, 5 unchanged mailboxes; " in text
    assert "1 rrsets to write" in text

    # Nothing was written anywhere: no Mailcow or deSEC write, the stand-in's state and the store unchanged.
    assert mailcow_counters(sandbox)["writes"] == 0
    assert mailcow_counters(sandbox)["reads"] > 0
    assert desec_counters(sandbox)["writes"] == 0
    assert mailcow(sandbox).state() == before
    assert len(store.audit_entries(limit=10_000)) == audit_before

    # The plan is what a recreate does.
    outcome = populations.recreate(KEY)
    assert outcome.success, outcome.error
    meta = outcome.metadata["mailboxes"]
    assert (meta["created"], meta["updated"], meta["removed"], meta["unchanged"]) == (2, 1, 1, 5)
    assert outcome.metadata["dns_records"]["changed"] == 1


def test_teardown_needs_yes_then_removes_everything_and_recreate_restores(sandbox: Sandbox) -> None:
    passwords = provision()
    domain = mail_domain(KEY)
    rrsets = zone_rrsets(sandbox, KEY)
    assert (KEY, "MX") in rrsets and len(rrsets) == 6

    reset_counters(sandbox)
    shown = azt3knet("teardown", KEY)  # without --yes: the plan, nothing written
    assert shown.returncode == 0, shown.stderr
    assert f"delete domain {domain}" in shown.stdout and "delete 6 rrset(s)" in shown.stdout
    assert "pass --yes to apply" in shown.stdout
    as_json = azt3knet("teardown", KEY, "--json")
    assert as_json.returncode == 0, as_json.stderr
    planned = json.loads(as_json.stdout)
    assert len(planned["mailcow"]["remove_mailboxes"]) == 8 and planned["mailcow"]["remove_domain"]
    assert len(planned["dns"]["remove_rrsets"]) == 6
    assert mailcow_counters(sandbox)["writes"] == 0 and len(domain_mailboxes(sandbox, domain)) == 8
    assert desec_counters(sandbox)["writes"] == 0

    result = azt3knet("teardown", KEY, "--yes")
    assert result.returncode == 0, result.stderr
    assert f"tore down {KEY}: 8 mailboxes removed, domain removed, 6 rrsets removed" in result.stdout
    assert domain_mailboxes(sandbox, domain) == {}
    assert domain_record(sandbox, domain) is None
    assert not has_dkim(sandbox, domain)
    assert zone_rrsets(sandbox, KEY) == {}
    store = populations.open_store()
    assert store.require_population(KEY).status == "torn_down"
    assert {row.state for row in store.list_mailboxes(KEY)} == {"removed"}

    result = azt3knet("recreate", KEY, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["success"] and summary["assets"]["mailboxes"]["created"] == 8
    assert assert_converged(sandbox, SPEC, KEY) == passwords
    assert has_dkim(sandbox, domain)
    restored = zone_rrsets(sandbox, KEY)
    assert {k: v for k, v in restored.items() if "_domainkey" not in k[0]} == {
        k: v for k, v in rrsets.items() if "_domainkey" not in k[0]
    }
    assert len(restored) == 6
    assert store.require_population(KEY).status == "provisioned"


def test_keys_rotate_keeps_every_secret_and_password(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    passwords = provision()
    old = get_settings().secret_key_for_kv_enc.get_secret_value()  # type: ignore[union-attr]
    new = Fernet.generate_key().decode()
    store = populations.open_store()
    ciphertexts = {row.address: row.password_ciphertext for row in store.list_mailboxes(KEY)}
    bundle_before = bundle_path(get_settings(), KEY).read_bytes()

    result = azt3knet("keys", "rotate", env={"SECRET_KEY_FOR_KV_ENC": f"{new},{old}"})
    assert result.returncode == 0, result.stderr
    assert "1 kv_secret" in result.stdout and "8 agent_mailbox" in result.stdout and "1 bundles" in result.stdout

    # From now on only the new key is configured: everything still decrypts, nothing changed in meaning.
    monkeypatch.setenv("SECRET_KEY_FOR_KV_ENC", new)
    get_settings.cache_clear()
    rows = store.list_mailboxes(KEY)
    assert all(row.password_ciphertext != ciphertexts[row.address] for row in rows)
    assert stored_passwords(KEY) == passwords
    old_box, new_box = SecretBox([old]), SecretBox([new])
    with pytest.raises(DecryptionError):
        old_box.decrypt(rows[0].password_ciphertext)
    bundle_now = bundle_path(get_settings(), KEY).read_bytes()
    assert bundle_now != bundle_before
    assert {e["address"]: e["password"] for e in decrypt_bundle(new_box, bundle_now)["mailboxes"]} == passwords
    with pytest.raises(DecryptionError):
        old_box.decrypt_bytes(bundle_now)

    out = tmp_path / "after-rotation.fernet"
    assert azt3knet("export-credentials", KEY, "--out", str(out)).returncode == 0
    assert {e["address"]: e["password"] for e in decrypt_bundle(new_box, out.read_bytes())["mailboxes"]} == passwords

    # The derivation secret survived rotation: recreate with the new key alone is a no-op.
    reset_counters(sandbox)
    outcome = populations.recreate(KEY)
    assert outcome.success, outcome.error
    assert mailcow_counters(sandbox)["writes"] == 0
    assert assert_converged(sandbox, SPEC, KEY) == passwords

    # The old key alone no longer opens anything: a clear one-line error (not a failed run full of stack traces).
    assert_cli_error(azt3knet("recreate", KEY, env={"SECRET_KEY_FOR_KV_ENC": old}), 2, "does not decrypt")


MISSING, MALFORMED = "", "not-a-fernet-key"


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (["export-credentials", KEY, "--out", "{tmp}/x.fernet", "--plaintext"], MISSING),
        (["keys", "rotate"], MALFORMED),
        (["recreate", KEY], MISSING),
        (["populate", "-n", "8", "--seed", "51", "--country", "ES", "--key", KEY, "--create-mailboxes"], MALFORMED),
    ],
    ids=["export-missing", "rotate-malformed", "recreate-missing", "populate-malformed"],
)
def test_missing_or_malformed_key_is_a_clear_error(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], key: str
) -> None:
    populations.register_population(SPEC, KEY)
    if key == MISSING:
        monkeypatch.delenv("SECRET_KEY_FOR_KV_ENC")
    else:
        monkeypatch.setenv("SECRET_KEY_FOR_KV_ENC", key)
    reset_counters(sandbox)
    result = azt3knet(*(arg.format(tmp=tmp_path) for arg in args))
    assert_cli_error(result, 2, "SECRET_KEY_FOR_KV_ENC")
    assert key not in result.stderr or key == MISSING  # the key material is never echoed
    assert not (tmp_path / "x.fernet").exists()
    assert mailcow_counters(sandbox)["writes"] == 0
