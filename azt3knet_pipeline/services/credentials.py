"""Credential bundles: every mailbox's address and password with the IMAP/SMTP settings, Fernet-encrypted.

Plaintext exists only in memory, or on disk when the operator explicitly asks (`--plaintext`), audit-logged.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from azt3knet_pipeline.domain.models import canonical_json
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


def write_private(path: Path, data: bytes) -> Path:
    """Write `data` atomically to `path` with mode 0600 (the file is never readable by others, even briefly)."""
    path = path.expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def encrypted_bundle(store: Store, box: SecretBox, settings: Settings, population_key: str) -> tuple[bytes, int]:
    """(Fernet token of the canonical bundle JSON, mailbox count)."""
    bundle = build_bundle(store, box, settings, population_key)
    return box.encrypt_bytes(canonical_json(bundle).encode("utf-8")), len(bundle["mailboxes"])


def bundle_path(settings: Settings, population_key: str) -> Path:
    return settings.exports_dir / f"{population_key}{BUNDLE_SUFFIX}"


def decrypt_bundle(box: SecretBox, token: bytes) -> dict[str, Any]:
    import json

    return json.loads(box.decrypt_bytes(token).decode("utf-8"))


def rotate_bundles(box: SecretBox, settings: Settings) -> int:
    """Re-encrypt every bundle under the first key (so the old key can be dropped)."""
    count = 0
    if settings.exports_dir.exists():
        for path in sorted(settings.exports_dir.glob(f"*{BUNDLE_SUFFIX}")):
            write_private(path, box.rotate(path.read_bytes().decode("ascii")).encode("ascii"))
            count += 1
    return count
