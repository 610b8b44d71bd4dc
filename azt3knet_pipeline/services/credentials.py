"""Credential bundles: every mailbox's address and password with the IMAP/SMTP settings, Fernet-encrypted.

Plaintext exists only in memory, or on disk when the operator explicitly asks (`--plaintext`), audit-logged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from azt3knet_pipeline.domain.models import canonical_json
from azt3knet_pipeline.errors import UnsafePathError
from azt3knet_pipeline.private_files import check_target, ensure_private_dir, write_private
from azt3knet_pipeline.settings import Settings
from azt3knet_pipeline.store.crypto import SecretBox
from azt3knet_pipeline.store.repository import Store

BUNDLE_SUFFIX = ".bundle.fernet"


def build_bundle(store: Store, box: SecretBox, settings: Settings, population_key: str) -> dict[str, Any]:
    """The plaintext bundle (in memory only) for every active mailbox of the population, sorted by address."""
    rows = [row for row in store.list_mailboxes(population_key) if row.state == "active"]
    return {
        "population_key": population_key,
        "mail_domain": settings.mail_domain_for(population_key),
        "synthetic": True,
        "imap": {"host": settings.mail_hostname, "port": settings.imap_port, "security": "ssl"},
        "smtp": {"host": settings.mail_hostname, "port": settings.smtp_port, "security": "ssl"},
        "submission": {
            "host": settings.mail_hostname,
            "port": settings.submission_port,
            "security": "starttls",
        },
        "mailboxes": [
            {
                "address": row.address,
                "agent_id": row.agent_id,
                "password": box.decrypt(row.password_ciphertext),
            }
            for row in rows
        ],
    }


def encrypted_bundle(store: Store, box: SecretBox, settings: Settings, population_key: str) -> tuple[bytes, int]:
    """(Fernet token of the canonical bundle JSON, mailbox count)."""
    bundle = build_bundle(store, box, settings, population_key)
    return box.encrypt_bytes(canonical_json(bundle).encode("utf-8")), len(bundle["mailboxes"])


def bundle_path(settings: Settings, population_key: str) -> Path:
    return settings.exports_dir / f"{population_key}{BUNDLE_SUFFIX}"


def save_bundle(settings: Settings, population_key: str, token: bytes) -> Path:
    """Replace the population's bundle under the exports folder (0700) atomically, mode 0600."""
    ensure_private_dir(settings.exports_dir, tighten_existing=True)
    return write_private(bundle_path(settings, population_key), token, replace=True)


def decrypt_bundle(box: SecretBox, token: bytes) -> dict[str, Any]:
    return json.loads(box.decrypt_bytes(token).decode("utf-8"))


def export_credentials(
    store: Store,
    box: SecretBox,
    settings: Settings,
    population_key: str,
    out: str,
    *,
    plaintext: bool = False,
    force: bool = False,
    actor: str = "cli",
) -> dict[str, Any]:
    """Write the population's credentials to `out` (mode 0600, atomically): the Fernet-encrypted bundle, or
    plaintext JSON only when `plaintext` is asked for. Never through a link, never over a special file or a
    folder, never over an existing file without `force`, never into a folder that does not exist; every
    refusal is an UnsafePathError (one line) and is audit-logged."""
    store.require_population(population_key)
    try:
        check_target(out, replace=force)  # before decrypting anything
        if plaintext:
            bundle = build_bundle(store, box, settings, population_key)
            data = (json.dumps(bundle, indent=2, sort_keys=True) + "\n").encode("utf-8")
            count = len(bundle["mailboxes"])
        else:
            data, count = encrypted_bundle(store, box, settings, population_key)
        path = write_private(out, data, replace=force)
    except UnsafePathError as exc:
        store.audit(actor, "credentials.export", population_key, "refused", {"plaintext": plaintext, "why": str(exc)})
        raise
    store.audit(
        actor,
        "credentials.export",
        population_key,
        "ok",
        {"plaintext": plaintext, "mailboxes": count, "path": str(path)},
    )
    return {"key": population_key, "path": str(path), "mailboxes": count, "plaintext": plaintext}
