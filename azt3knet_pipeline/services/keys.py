"""Key rotation, all or nothing: every ciphertext (store rows, derivation secret, bundles under the exports
folder) must decrypt before anything changes; then the store is re-encrypted in one transaction and the
bundles are replaced (temp file + fsync + rename) just before it commits. If the bundle replacement or the
commit fails, the bundles already replaced are written back from memory and the transaction rolls back.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azt3knet_pipeline.errors import DecryptionError, KeyRotationError
from azt3knet_pipeline.private_files import prepare_private
from azt3knet_pipeline.services.credentials import BUNDLE_SUFFIX
from azt3knet_pipeline.store.crypto import SecretBox
from azt3knet_pipeline.store.repository import Store

MAX_NAMED_ITEMS = 5
log = logging.getLogger(__name__)


@dataclass
class _Bundle:
    path: Path
    old: bytes
    new: bytes
    tmp: Path | None = None


@dataclass
class RotationOutcome:
    """Counts per kind (kv_secret, agent_mailbox, bundles); `under_older_keys`: items the first key cannot
    open yet; `applied`: False for a dry run."""

    counts: dict[str, int]
    under_older_keys: int
    applied: bool
    bundles: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {**self.counts, "under_older_keys": self.under_older_keys, "applied": self.applied}


def rotate_keys(
    store: Store, box: SecretBox, exports_dir: Path, *, dry_run: bool = False, actor: str = "cli"
) -> RotationOutcome:
    """Re-encrypt everything under the first key of `box`, or (dry run) report what would be re-encrypted.

    Raises KeyRotationError, having changed nothing, when any item does not decrypt with the configured keys
    or when the apply step fails; both outcomes are audit-logged.
    """
    bundles, failures = _read_bundles(box, exports_dir)
    replaced: list[_Bundle] = []

    def replace_bundles() -> None:
        for bundle in bundles:
            if _read_regular(bundle.path) != bundle.old:
                raise KeyRotationError(f"bundle {bundle.path.name} changed during the rotation; run it again")
            bundle.tmp = prepare_private(bundle.path.parent, bundle.path.name, bundle.new)
            os.replace(bundle.tmp, bundle.path)
            bundle.tmp = None
            replaced.append(bundle)

    apply = not dry_run and not failures
    try:
        result = store.rotate_encryption(
            box, apply=apply, before_commit=replace_bundles, audit=(actor, {"bundles": len(bundles)})
        )
    except BaseException as exc:  # Ctrl-C during the bundle replacement too: never leave it half-applied
        restore_failed = _restore(replaced)
        _cleanup(bundles)
        if not isinstance(exc, Exception):
            raise
        reason = str(exc) if isinstance(exc, KeyRotationError) else f"{type(exc).__name__} while applying"
        if restore_failed:
            message = (
                f"key rotation failed ({reason}) and bundle(s) {', '.join(restore_failed)} could not be restored: "
                "the store is unchanged; keep every key in SECRET_KEY_FOR_KV_ENC and run `keys rotate` again"
            )
        else:
            message = f"key rotation failed and was rolled back, nothing changed: {reason}"
        _audit_failure(store, actor, {"reason": reason, "restore_failed": restore_failed})
        raise KeyRotationError(message) from None
    failures += result.undecryptable
    if failures:
        named = ", ".join(failures[:MAX_NAMED_ITEMS]) + (
            f" and {len(failures) - MAX_NAMED_ITEMS} more" if len(failures) > MAX_NAMED_ITEMS else ""
        )
        _audit_failure(
            store,
            actor,
            {"reason": "undecryptable", "items": failures[:100], "count": len(failures), "dry_run": dry_run},
        )
        raise KeyRotationError(
            f"key rotation aborted, nothing changed: {len(failures)} item(s) do not decrypt with any key in "
            f"SECRET_KEY_FOR_KV_ENC: {named}"
        )
    under_older = result.under_older_keys + sum(not box.under_primary(b.old) for b in bundles)
    return RotationOutcome(
        counts={**result.counts, "bundles": len(bundles)},
        under_older_keys=under_older,
        applied=result.applied,
        bundles=[str(b.path) for b in bundles],
    )


def _audit_failure(store: Store, actor: str, detail: dict[str, Any]) -> None:
    try:
        store.audit(actor, "keys.rotate", "store", "failed", detail)
    except Exception:  # the store itself may be what failed; the error the caller raises still says it all
        log.exception("could not audit-log the failed key rotation")


def _read_bundles(box: SecretBox, exports_dir: Path) -> tuple[list[_Bundle], list[str]]:
    """Every bundle under the exports folder, decrypted and re-encrypted in memory; names that failed."""
    bundles: list[_Bundle] = []
    failures: list[str] = []
    if not exports_dir.is_dir():
        return bundles, failures
    for path in sorted(exports_dir.glob(f"*{BUNDLE_SUFFIX}")):
        try:
            old = _read_regular(path)
        except (OSError, ValueError) as exc:
            failures.append(f"bundle {path} ({exc})")
            continue
        try:
            bundles.append(_Bundle(path, old, box.rotate_bytes(old)))
        except DecryptionError:
            failures.append(f"bundle {path}")
    return bundles, failures


def _read_regular(path: Path) -> bytes:
    """The bytes of a regular file, never through a link."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    finally:
        os.close(fd)


def _restore(replaced: list[_Bundle]) -> list[str]:
    """Write the old bytes of every replaced bundle back (atomically); the names that could not be."""
    failed = []
    for bundle in reversed(replaced):
        try:
            tmp = prepare_private(bundle.path.parent, bundle.path.name, bundle.old)
            os.replace(tmp, bundle.path)
        except OSError:
            failed.append(bundle.path.name)
    return failed


def _cleanup(bundles: list[_Bundle]) -> None:
    for bundle in bundles:
        if bundle.tmp is not None:
            bundle.tmp.unlink(missing_ok=True)
