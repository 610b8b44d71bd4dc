"""The project store: one `Store` over the SQLAlchemy tables, SQLite by default, PostgreSQL by URL.

`Store` is a facade: each concern lives in its own module (`populations`, `mailboxes`, `desired_rrsets`,
`secrets`, `llm_cache`, `audit`; the engine in `engine`, migrations in `schema`). The names callers use are
re-exported here.
"""

from __future__ import annotations

from azt3knet_pipeline.errors import PopulationConflict, PopulationNotFound, StoreError
from azt3knet_pipeline.store.audit import AuditEntry, AuditMixin
from azt3knet_pipeline.store.desired_rrsets import DesiredRRsetsMixin
from azt3knet_pipeline.store.engine import make_engine, normalise_postgres_url
from azt3knet_pipeline.store.llm_cache import LlmCacheMixin
from azt3knet_pipeline.store.mailboxes import MailboxesMixin, MailboxRow
from azt3knet_pipeline.store.populations import PopulationsMixin
from azt3knet_pipeline.store.schema import MIGRATIONS_DIR, STORE_SCHEMA_LOCK, migrate_schema
from azt3knet_pipeline.store.secrets import DERIVATION_SECRET, SecretsMixin, StoreRotation

__all__ = [
    "DERIVATION_SECRET",
    "MIGRATIONS_DIR",
    "STORE_SCHEMA_LOCK",
    "AuditEntry",
    "MailboxRow",
    "PopulationConflict",
    "PopulationNotFound",
    "Store",
    "StoreError",
    "StoreRotation",
    "make_engine",
    "normalise_postgres_url",
]


class Store(PopulationsMixin, MailboxesMixin, DesiredRRsetsMixin, SecretsMixin, LlmCacheMixin, AuditMixin):
    """Repository over the project tables. Construct with `Store.open(url)`; it migrates on open."""

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        store = cls(make_engine(url))
        if migrate:
            store.migrate()
        return store

    def migrate(self) -> None:
        """Bring the schema to the newest alembic revision (idempotent, serialised across processes)."""
        migrate_schema(self.engine)
