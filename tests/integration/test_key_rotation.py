"""Key rotation is all or nothing (issue 15.2): every ciphertext must decrypt before anything changes; on any
failure every store row and bundle file is byte-identical to before, the message says nothing changed and
names what failed, and an audit row records it. `--dry-run` reports and changes nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import helpers_populations as populations
import pytest
from cryptography.fernet import Fernet
from helpers_sandbox import assert_cli_error, azt3knet, stored_passwords
from sqlalchemy import select

from azt3knet_pipeline.domain.models import PopulationSpec
from azt3knet_pipeline.errors import DecryptionError, KeyRotationError
from azt3knet_pipeline.sandbox.run import Sandbox
from azt3knet_pipeline.services.credentials import BUNDLE_SUFFIX, decrypt_bundle
from azt3knet_pipeline.services.keys import rotate_keys
from azt3knet_pipeline.settings import get_settings
from azt3knet_pipeline.store.crypto import SecretBox
from azt3knet_pipeline.store.repository import Store
from azt3knet_pipeline.store.tables import agent_mailbox, kv_secret

SPECS = {
    "seed-61": PopulationSpec(count=3, seed=61, country="ES"),
    "seed-62": PopulationSpec(count=2, seed=62, country="FR"),
}


def ciphertexts(store: Store, exports: Path) -> dict[str, Any]:
    """Every ciphertext at rest, byte for byte: kv_secret, agent_mailbox and every file in the exports folder."""
    with store.engine.connect() as conn:
        kv = dict(conn.execute(select(kv_secret.c.name, kv_secret.c.ciphertext)).all())
        rows = dict(conn.execute(select(agent_mailbox.c.address, agent_mailbox.c.password_ciphertext)).all())
    files = {path.name: path.read_bytes() for path in sorted(exports.iterdir())} if exports.exists() else {}
    return {"kv_secret": kv, "agent_mailbox": rows, "files": files}


def rotation_audit(store: Store) -> list[tuple[str, dict[str, Any]]]:
    return [(e.outcome, json.loads(e.detail or "{}")) for e in store.audit_entries() if e.action == "keys.rotate"]


def test_one_undecryptable_bundle_changes_nothing_then_rotation_succeeds(sandbox: Sandbox) -> None:
    for key, spec in SPECS.items():
        outcome = populations.populate(spec, key, create_mailboxes=True)
        assert outcome.success, outcome.error
    passwords = {key: stored_passwords(key) for key in SPECS}
    settings = get_settings()
    old = settings.secret_key_for_kv_enc.get_secret_value()  # type: ignore[union-attr]
    new = Fernet.generate_key().decode()
    store = populations.open_store()
    exports = settings.exports_dir
    # Sorted last, so a rotation that worked item by item would already have rewritten everything else.
    stray = exports / f"zz-unknown{BUNDLE_SUFFIX}"
    stray.write_bytes(SecretBox([Fernet.generate_key().decode()]).encrypt_bytes(b'{"mailboxes": []}'))
    before = ciphertexts(store, exports)
    assert len(before["files"]) == 3 and len(before["agent_mailbox"]) == 5 and len(before["kv_secret"]) == 1

    for args in (["keys", "rotate"], ["keys", "rotate", "--dry-run"]):
        result = azt3knet(*args, env={"SECRET_KEY_FOR_KV_ENC": f"{new},{old}"})
        line = assert_cli_error(result, 2)
        assert "nothing changed" in line and stray.name in line and "1 item(s)" in line, line
        assert new not in result.stderr and old not in result.stderr
        assert ciphertexts(store, exports) == before  # byte-identical: store rows and bundle files
    audits = rotation_audit(store)
    assert [outcome for outcome, _ in audits] == ["failed", "failed"]
    assert all(detail["reason"] == "undecryptable" and detail["count"] == 1 for _, detail in audits)
    assert all(any(stray.name in item for item in detail["items"]) for _, detail in audits)

    stray.unlink()
    before = ciphertexts(store, exports)
    dry = azt3knet("keys", "rotate", "--dry-run", env={"SECRET_KEY_FOR_KV_ENC": f"{new},{old}"})
    assert dry.returncode == 0, dry.stderr
    assert "would re-encrypt 1 kv_secret, 5 agent_mailbox, 2 bundles (8 still under an older key)" in dry.stdout
    assert ciphertexts(store, exports) == before

    done = azt3knet("keys", "rotate", env={"SECRET_KEY_FOR_KV_ENC": f"{new},{old}"})
    assert done.returncode == 0, done.stderr
    assert "re-encrypted 1 kv_secret, 5 agent_mailbox, 2 bundles" in done.stdout
    after = ciphertexts(store, exports)
    for kind in ("kv_secret", "agent_mailbox", "files"):
        assert after[kind].keys() == before[kind].keys()
        assert all(after[kind][name] != before[kind][name] for name in before[kind]), kind
    outcome, detail = rotation_audit(store)[0]
    assert outcome == "ok" and detail["agent_mailbox"] == 5 and detail["bundles"] == 2

    # Only the new key from now on: every secret and bundle opens, nothing changed in meaning.
    new_box, old_box = SecretBox([new]), SecretBox([old])
    for key in SPECS:
        rows = store.list_mailboxes(key)
        assert {row.address: new_box.decrypt(row.password_ciphertext) for row in rows} == passwords[key]
        bundle = decrypt_bundle(new_box, (exports / f"{key}{BUNDLE_SUFFIX}").read_bytes())
        assert {e["address"]: e["password"] for e in bundle["mailboxes"]} == passwords[key]
        with pytest.raises(DecryptionError):
            old_box.decrypt_bytes((exports / f"{key}{BUNDLE_SUFFIX}").read_bytes())
    assert store.derivation_secret(new_box)
    again = azt3knet("keys", "rotate", "--dry-run", env={"SECRET_KEY_FOR_KV_ENC": new})
    assert "(0 still under an older key)" in again.stdout, again.stdout


@pytest.fixture
def seeded(store_url: str, tmp_path: Path) -> tuple[Store, SecretBox, Path, str]:
    """A store (SQLite or PostgreSQL) with the derivation secret, three mailbox rows and two bundles, all under
    an old key; returns the store, a box of (new, old), the exports folder and the old key."""
    old = Fernet.generate_key().decode()
    old_box = SecretBox([old])
    store = Store.open(store_url)
    store.derivation_secret(old_box)
    store.register_population("seed-5", SPECS["seed-61"].model_copy(update={"seed": 5}))
    store.record_mailbox_intents(
        "seed-5", [(f"a{i}@seed-5.example.test", f"agent-{i}", old_box.encrypt(f"password-{i}")) for i in range(3)]
    )
    exports = tmp_path / "exports"
    exports.mkdir()
    for name in ("alpha", "beta"):
        (exports / f"{name}{BUNDLE_SUFFIX}").write_bytes(old_box.encrypt_bytes(name.encode()))
    return store, SecretBox([Fernet.generate_key().decode(), old]), exports, old


def test_an_undecryptable_store_row_changes_nothing(seeded: tuple[Store, SecretBox, Path, str]) -> None:
    store, box, exports, _ = seeded
    stranger = SecretBox([Fernet.generate_key().decode()]).encrypt("someone else's")
    with store.engine.begin() as conn:
        conn.execute(
            agent_mailbox.update().where(agent_mailbox.c.address == "a1@seed-5.example.test"),
            {"password_ciphertext": stranger},
        )
    before = ciphertexts(store, exports)
    with pytest.raises(KeyRotationError, match=r"nothing changed: 1 item\(s\).*agent_mailbox a1@seed-5\.example\.test"):
        rotate_keys(store, box, exports, actor="test")
    assert ciphertexts(store, exports) == before
    assert rotation_audit(store)[0][0] == "failed"


def test_a_failed_bundle_replacement_rolls_everything_back(
    seeded: tuple[Store, SecretBox, Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection in the apply step: the second bundle's rename fails after the first was replaced and
    the store rows were updated (uncommitted). The first bundle is written back and the transaction rolls back."""
    store, box, exports, old = seeded
    before = ciphertexts(store, exports)
    real_replace = os.replace
    calls: list[str] = []

    def failing_replace(src: Any, dst: Any) -> None:
        calls.append(Path(dst).name)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(KeyRotationError, match="rolled back, nothing changed"):
        rotate_keys(store, box, exports, actor="test")
    monkeypatch.setattr(os, "replace", real_replace)
    assert calls == [f"alpha{BUNDLE_SUFFIX}", f"beta{BUNDLE_SUFFIX}", f"alpha{BUNDLE_SUFFIX}"]  # restored
    assert ciphertexts(store, exports) == before  # no temp file left, every byte as before
    assert [outcome for outcome, _ in rotation_audit(store)] == ["failed"]

    report = rotate_keys(store, box, exports, actor="test")
    assert report.applied and report.counts == {"kv_secret": 1, "agent_mailbox": 3, "bundles": 2}
    assert report.under_older_keys == 6
    old_only = SecretBox([old])
    with pytest.raises(DecryptionError):
        old_only.decrypt_bytes((exports / f"alpha{BUNDLE_SUFFIX}").read_bytes())
    assert [outcome for outcome, _ in rotation_audit(store)] == ["ok", "failed"]
