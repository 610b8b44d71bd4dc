"""The audit log: one append-only entry per operation that changed something (counts and names, never a secret)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select

from azt3knet_pipeline.store.engine import StoreBase, utc_now
from azt3knet_pipeline.store.tables import audit_log


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    outcome: str
    detail: str | None


class AuditMixin(StoreBase):
    """The `audit_log` table."""

    def audit(
        self, actor: str, action: str, target: str, outcome: str, detail: dict[str, Any] | str | None = None
    ) -> None:
        """Append one audit entry. Callers pass counts and names, never a secret."""
        text = json.dumps(detail, sort_keys=True) if isinstance(detail, dict) else detail
        with self._tx() as tx:
            tx.execute(
                insert(audit_log).values(
                    at=utc_now(),
                    actor=actor[:64],
                    action=action[:64],
                    target=target[:300],
                    outcome=outcome[:16],
                    detail=text,
                )
            )

    def audit_entries(self, *, target: str | None = None, limit: int = 1000) -> list[AuditEntry]:
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if target is not None:
            query = query.where(audit_log.c.target == target)
        with self.engine.connect() as conn:
            return [AuditEntry(**row) for row in conn.execute(query).mappings().all()]
