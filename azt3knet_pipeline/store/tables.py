"""SQLAlchemy table definitions for the project store (schema changes go through alembic migrations)."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

population = Table(
    "population",
    metadata,
    Column("key", String(63), primary_key=True),
    Column("spec_json", Text, nullable=False),
    Column("seed", String(64), nullable=False),
    Column("spec_hash", String(64), nullable=False),
    # registered | provisioned | dns_pending | torn_down (other values are written by teardown/API paths).
    Column("status", String(24), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # With status `dns_pending`: when deSEC said the deferred DNS write may be retried (NULL: at once).
    Column("dns_pending_until", DateTime(timezone=True), nullable=True),
)

agent_mailbox = Table(
    "agent_mailbox",
    metadata,
    Column("address", String(254), primary_key=True),
    Column("population_key", String(63), ForeignKey("population.key"), nullable=False),
    Column("agent_id", String(36), nullable=False),
    Column("password_ciphertext", Text, nullable=False),
    # intent -> active -> removing -> removed; "intent" is written before Mailcow is called (write-ahead).
    Column("state", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_agent_mailbox_population_key", "population_key"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(300), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("detail", Text, nullable=True),
    Index("ix_audit_log_target", "target"),
)

llm_cache = Table(
    "llm_cache",
    metadata,
    Column("cache_key", String(64), primary_key=True),
    Column("model", String(128), nullable=False),
    Column("field", String(64), nullable=False),
    Column("value", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Installation secrets (e.g. the password derivation secret), always Fernet-encrypted.
kv_secret = Table(
    "kv_secret",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("ciphertext", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# The desired rrsets last written for each population: the drift sensor compares the zone with these
# without asking Mailcow for DKIM keys on every tick.
population_dns = Table(
    "population_dns",
    metadata,
    Column("population_key", String(63), ForeignKey("population.key"), primary_key=True),
    Column("zone", String(255), nullable=False),
    Column("desired_json", Text, nullable=False),
    Column("desired_hash", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
