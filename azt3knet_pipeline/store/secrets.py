"""Secrets at rest: the installation's password-derivation secret, and re-encrypting every stored secret under
the first configured key (`azt3knet keys rotate`)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, MetaData, String, Table, Text, bindparam, false, insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from azt3knet_pipeline.errors import DecryptionError
from azt3knet_pipeline.store.crypto import SecretBox
from azt3knet_pipeline.store.engine import StoreBase, utc_now
from azt3knet_pipeline.store.tables import agent_mailbox, audit_log, kv_secret

DERIVATION_SECRET = "password_derivation_secret"


@dataclass
class StoreRotation:
    """What `rotate_encryption` found (and did): rows per table, items no key opens, rows under older keys."""

    counts: dict[str, int]
    undecryptable: list[str]
    under_older_keys: int
    applied: bool = False


def _lock_for_rotation(tx: Connection) -> None:
    """Hold the write lock from the first read, so no secret is added or changed between verify and update."""
    if tx.dialect.name == "postgresql":
        tx.execute(text("LOCK TABLE kv_secret, agent_mailbox IN SHARE ROW EXCLUSIVE MODE"))
    elif tx.dialect.name == "sqlite":
        # A write statement (even one matching no row) takes SQLite's RESERVED lock for the transaction.
        tx.execute(update(kv_secret).where(false()).values(name=kv_secret.c.name))


class SecretsMixin(StoreBase):
    """The `kv_secret` table and every ciphertext the store holds."""

    def derivation_secret(self, box: SecretBox) -> bytes:
        """The installation's password derivation secret: random, made once, stored Fernet-encrypted."""
        with self.engine.connect() as conn:
            row = conn.execute(select(kv_secret.c.ciphertext).where(kv_secret.c.name == DERIVATION_SECRET)).first()
        if row is None:
            now = utc_now()
            try:
                with self._tx() as tx:
                    tx.execute(
                        insert(kv_secret).values(
                            name=DERIVATION_SECRET,
                            ciphertext=box.encrypt(secrets.token_hex(32)),
                            created_at=now,
                            updated_at=now,
                        )
                    )
            except IntegrityError:
                pass  # another process made it first; read theirs below
            with self.engine.connect() as conn:
                row = conn.execute(select(kv_secret.c.ciphertext).where(kv_secret.c.name == DERIVATION_SECRET)).first()
        assert row is not None
        return bytes.fromhex(box.decrypt(row[0]))

    def rotate_encryption(
        self,
        box: SecretBox,
        *,
        apply: bool = True,
        before_commit: Callable[[], None] | None = None,
        audit: tuple[str, dict[str, Any]] | None = None,
    ) -> StoreRotation:
        """Re-encrypt every stored secret under the first configured key, all or nothing, in ONE transaction.

        Every ciphertext is decrypted first; when any does not decrypt (or `apply` is false) nothing is written
        and the result lists them. Otherwise all rows are updated, `before_commit` runs (a failure there rolls
        everything back), then the audit entry (`audit` = (actor, detail)) is written in the same transaction.
        Concurrent writers wait: the tables are locked for the transaction. Plaintext never changes.
        """
        result = StoreRotation(counts={"kv_secret": 0, "agent_mailbox": 0}, undecryptable=[], under_older_keys=0)
        with self._tx() as tx:
            _lock_for_rotation(tx)
            kv_rows = tx.execute(select(kv_secret.c.name, kv_secret.c.ciphertext).order_by(kv_secret.c.name)).all()
            mailbox_rows = tx.execute(
                select(agent_mailbox.c.address, agent_mailbox.c.password_ciphertext).order_by(agent_mailbox.c.address)
            ).all()
            kv_new, mailbox_new = [], []
            for table, rows, out in (("kv_secret", kv_rows, kv_new), ("agent_mailbox", mailbox_rows, mailbox_new)):
                for name, ciphertext in rows:
                    try:
                        out.append({"b_name": name, "b_ciphertext": box.rotate(ciphertext)})
                    except (DecryptionError, UnicodeEncodeError):
                        result.undecryptable.append(f"{table} {name}")
                        continue
                    result.under_older_keys += not box.under_primary(ciphertext.encode("ascii"))
                result.counts[table] = len(rows)
            if result.undecryptable or not apply:
                return result
            now = utc_now()
            if kv_new:
                tx.execute(
                    update(kv_secret)
                    .where(kv_secret.c.name == bindparam("b_name"))
                    .values(ciphertext=bindparam("b_ciphertext"), updated_at=now),
                    kv_new,
                )
            if mailbox_new:
                # Through a temporary table: one bulk insert and one joined UPDATE, not a round trip per row.
                rotated = Table(
                    "azt3knet_rotated_secret",
                    MetaData(),
                    Column("b_name", String(254), primary_key=True),
                    Column("b_ciphertext", Text, nullable=False),
                    prefixes=["TEMPORARY"],
                )
                rotated.create(tx)
                tx.execute(insert(rotated), mailbox_new)
                tx.execute(
                    update(agent_mailbox)
                    .where(agent_mailbox.c.address == rotated.c.b_name)
                    .values(password_ciphertext=rotated.c.b_ciphertext)
                )
                rotated.drop(tx)
            if before_commit is not None:
                before_commit()
            if audit is not None:
                actor, detail = audit
                tx.execute(
                    insert(audit_log).values(
                        at=now,
                        actor=actor[:64],
                        action="keys.rotate",
                        target="store",
                        outcome="ok",
                        detail=json.dumps({**detail, **result.counts}, sort_keys=True),
                    )
                )
        result.applied = True
        return result
