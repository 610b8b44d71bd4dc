"""Mailboxes of record: one `agent_mailbox` row per address, written ahead of Mailcow (state `intent`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update

from azt3knet_pipeline.store.engine import StoreBase, utc_now
from azt3knet_pipeline.store.tables import agent_mailbox


@dataclass(frozen=True)
class MailboxRow:
    """One `agent_mailbox` row. The password stays encrypted; decrypt only where it must leave."""

    address: str
    population_key: str
    agent_id: str
    password_ciphertext: str
    state: str
    created_at: datetime
    updated_at: datetime


class MailboxesMixin(StoreBase):
    """The `agent_mailbox` table: intents, states, and the encrypted password of record."""

    def list_mailboxes(self, population_key: str) -> list[MailboxRow]:
        query = (
            select(agent_mailbox)
            .where(agent_mailbox.c.population_key == population_key)
            .order_by(agent_mailbox.c.address)
        )
        with self.engine.connect() as conn:
            return [MailboxRow(**row) for row in conn.execute(query).mappings().all()]

    def count_mailboxes(self, population_key: str, state: str | None = None) -> int:
        query = select(func.count()).select_from(agent_mailbox).where(agent_mailbox.c.population_key == population_key)
        if state is not None:
            query = query.where(agent_mailbox.c.state == state)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def mailbox_states(self, population_key: str) -> dict[str, int]:
        """How many mailboxes of record a population has in each state (`intent`, `created`, ...)."""
        query = (
            select(agent_mailbox.c.state, func.count())
            .where(agent_mailbox.c.population_key == population_key)
            .group_by(agent_mailbox.c.state)
            .order_by(agent_mailbox.c.state)
        )
        with self.engine.connect() as conn:
            return {state: int(count) for state, count in conn.execute(query).all()}

    def record_mailbox_intents(self, population_key: str, rows: Iterable[tuple[str, str, str]]) -> int:
        """Write-ahead: insert (address, agent_id, password_ciphertext) rows in state `intent` unless present.

        Existing rows are left untouched (their ciphertext is the credential of record). Returns rows inserted.
        """
        now = utc_now()
        wanted = list(rows)
        if not wanted:
            return 0
        with self._tx() as tx:
            present = set(
                tx.execute(
                    select(agent_mailbox.c.address).where(agent_mailbox.c.population_key == population_key)
                ).scalars()
            )
            fresh = [
                {
                    "address": address,
                    "population_key": population_key,
                    "agent_id": agent_id,
                    "password_ciphertext": ciphertext,
                    "state": "intent",
                    "created_at": now,
                    "updated_at": now,
                }
                for address, agent_id, ciphertext in wanted
                if address not in present
            ]
            for start in range(0, len(fresh), 1000):
                tx.execute(insert(agent_mailbox), fresh[start : start + 1000])
        return len(fresh)

    def set_mailbox_states(self, addresses: Sequence[str], state: str) -> None:
        if not addresses:
            return
        now = utc_now()
        with self._tx() as tx:
            for start in range(0, len(addresses), 500):
                chunk = list(addresses[start : start + 500])
                tx.execute(
                    update(agent_mailbox).where(agent_mailbox.c.address.in_(chunk)).values(state=state, updated_at=now)
                )

    def delete_mailbox_rows(self, addresses: Sequence[str]) -> None:
        if not addresses:
            return
        with self._tx() as tx:
            for start in range(0, len(addresses), 500):
                tx.execute(
                    delete(agent_mailbox).where(agent_mailbox.c.address.in_(list(addresses[start : start + 500])))
                )

    def iter_all_ciphertexts(self) -> list[tuple[str, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(agent_mailbox.c.address, agent_mailbox.c.password_ciphertext)).all()
        return [(row[0], row[1]) for row in rows]
