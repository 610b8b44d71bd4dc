"""The project store: one repository over the SQLAlchemy tables, SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    delete,
    event,
    false,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from azt3knet_pipeline.domain.models import Population, PopulationSpec, validate_population_key
from azt3knet_pipeline.private_files import ensure_private_file
from azt3knet_pipeline.store.crypto import DecryptionError, SecretBox
from azt3knet_pipeline.store.tables import (
    agent_mailbox,
    audit_log,
    kv_secret,
    llm_cache,
    population,
    population_dns,
)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
DERIVATION_SECRET = "password_derivation_secret"
STORE_SCHEMA_LOCK = "azt3knet store schema"


class StoreError(Exception):
    """Base of store errors."""


class PopulationConflict(StoreError):
    """A different spec is already registered under this key."""


class PopulationNotFound(StoreError):
    """No population is registered under this key."""


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


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    outcome: str
    detail: str | None


@dataclass
class StoreRotation:
    """What `rotate_encryption` found (and did): rows per table, items no key opens, rows under older keys."""

    counts: dict[str, int]
    undecryptable: list[str]
    under_older_keys: int
    applied: bool = False


def _pinned(spec: PopulationSpec, version: int) -> PopulationSpec:
    """`spec` as compared with the population registered under a key: a version it states is kept, an unstated
    one is the registered population's, so re-running the same fields stays a no-op."""
    return spec if spec.generator_version is not None else spec.with_version(version)


def _now() -> datetime:
    return datetime.now(UTC)


def _lock_for_rotation(tx: Connection) -> None:
    """Hold the write lock from the first read, so no secret is added or changed between verify and update."""
    if tx.dialect.name == "postgresql":
        tx.execute(text("LOCK TABLE kv_secret, agent_mailbox IN SHARE ROW EXCLUSIVE MODE"))
    elif tx.dialect.name == "sqlite":
        # A write statement (even one matching no row) takes SQLite's RESERVED lock for the transaction.
        tx.execute(update(kv_secret).where(false()).values(name=kv_secret.c.name))


def make_engine(url: str) -> Engine:
    """An engine for the store URL; SQLite gets WAL and a busy timeout so CLI, API and Dagster can share it."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            # Created 0600 (folder 0700) before SQLite opens it: its -wal/-shm files copy the database's mode.
            ensure_private_file(Path(path))
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(normalise_postgres_url(url), pool_pre_ping=True)


def normalise_postgres_url(url: str) -> str:
    """Plain `postgresql://` URLs use psycopg2 (shared with dagster-postgres); SQLAlchemy 2.1 would pick psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


class Store:
    """Repository over the project tables. Construct with `Store.open(url)`; it migrates on open."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        store = cls(make_engine(url))
        if migrate:
            store.migrate()
        return store

    def migrate(self) -> None:
        """Bring the schema to the newest alembic revision (idempotent). Serialised across processes, so
        concurrent first uses of a fresh store do not race on table creation."""
        from alembic import command
        from alembic.config import Config

        from azt3knet_pipeline.store.schema_lock import schema_lock

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        url = self.engine.url.render_as_string(hide_password=False)
        with schema_lock(url, STORE_SCHEMA_LOCK), self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as connection:
            yield connection

    # -- populations ---------------------------------------------------------------------------------

    def register_population(self, key: str, spec: PopulationSpec) -> tuple[Population, bool]:
        """Register `spec` under `key`. Same spec again is a no-op; a different spec raises PopulationConflict.

        Returns the population and whether it was newly created.
        """
        validate_population_key(key)
        existing = self.get_population(key)
        if existing is not None:
            self._ensure_same(existing, _pinned(spec, existing.spec.version).spec_hash())
            return existing, False
        spec_hash = spec.spec_hash()
        now = _now()
        try:
            with self._tx() as tx:
                tx.execute(
                    insert(population).values(
                        key=key,
                        spec_json=spec.canonical_json(),
                        seed=str(spec.seed),
                        spec_hash=spec_hash,
                        status="registered",
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            # Lost a race with a concurrent registration: the row now exists; compare like above.
            existing = self.require_population(key)
            self._ensure_same(existing, _pinned(spec, existing.spec.version).spec_hash())
            return existing, False
        return self.require_population(key), True

    @staticmethod
    def _ensure_same(existing: Population, spec_hash: str) -> None:
        if existing.spec_hash != spec_hash:
            raise PopulationConflict(
                f"population {existing.key!r} is already registered with a different spec "
                f"(registered spec hash {existing.spec_hash[:12]}, given {spec_hash[:12]}); "
                "choose another --key or reuse the registered spec"
            )

    def get_population(self, key: str) -> Population | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(population).where(population.c.key == key)).mappings().first()
        return _population_from_row(row) if row else None

    def require_population(self, key: str) -> Population:
        found = self.get_population(key)
        if found is None:
            raise PopulationNotFound(f"no population is registered under key {key!r}")
        return found

    def list_populations(self, *, offset: int = 0, limit: int | None = None) -> list[Population]:
        query = select(population).order_by(population.c.created_at, population.c.key).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [_population_from_row(row) for row in rows]

    def count_populations(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(population)).scalar_one())

    def set_population_status(self, key: str, status: str, *, dns_pending_until: datetime | None = None) -> None:
        """Set the status (any previous one); `dns_pending_until` only means something with `dns_pending`."""
        with self._tx() as tx:
            result = tx.execute(
                update(population)
                .where(population.c.key == key)
                .values(status=status, dns_pending_until=dns_pending_until, updated_at=_now())
            )
        if result.rowcount == 0:
            raise PopulationNotFound(f"no population is registered under key {key!r}")

    # -- deferred DNS ----------------------------------------------------------------------------------

    def mark_dns_pending(self, keys: Iterable[str], until: datetime | None) -> None:
        """Status `dns_pending` for `keys`: their desired rrsets are stored but not (yet) on deSEC. `until` is
        when deSEC said a write may be retried (None: at once)."""
        wanted = list(keys)
        if not wanted:
            return
        with self._tx() as tx:
            tx.execute(
                update(population)
                .where(population.c.key.in_(wanted), population.c.status != "torn_down")
                .values(status="dns_pending", dns_pending_until=until, updated_at=_now())
            )

    def mark_dns_written(self, keys: Iterable[str]) -> list[str]:
        """`dns_pending` populations among `keys` become `provisioned` (their DNS is on deSEC); returns them."""
        wanted = list(keys)
        if not wanted:
            return []
        with self._tx() as tx:
            pending = list(
                tx.execute(
                    select(population.c.key).where(population.c.key.in_(wanted), population.c.status == "dns_pending")
                ).scalars()
            )
            if pending:
                tx.execute(
                    update(population)
                    .where(population.c.key.in_(pending))
                    .values(status="provisioned", dns_pending_until=None, updated_at=_now())
                )
        return sorted(pending)

    def dns_pending(self, *, due_at: datetime | None = None) -> dict[str, datetime | None]:
        """Populations whose DNS write is deferred, with the time deSEC gave; only those due by `due_at` when
        given (a NULL time is always due)."""
        query = select(population.c.key, population.c.dns_pending_until).where(population.c.status == "dns_pending")
        with self.engine.connect() as conn:
            rows = [(row[0], _aware(row[1])) for row in conn.execute(query).all()]
        return {key: until for key, until in sorted(rows) if due_at is None or until is None or until <= due_at}

    # -- mailboxes -------------------------------------------------------------------------------------

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

    def record_mailbox_intents(self, population_key: str, rows: Iterable[tuple[str, str, str]]) -> int:
        """Write-ahead: insert (address, agent_id, password_ciphertext) rows in state `intent` unless present.

        Existing rows are left untouched (their ciphertext is the credential of record). Returns rows inserted.
        """
        now = _now()
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
        now = _now()
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

    # -- desired DNS -----------------------------------------------------------------------------------

    def save_desired_dns(self, population_key: str, zone: str, rrsets: list[dict[str, Any]]) -> str:
        """Record the desired rrsets (JSON-ready dicts) last written for a population; returns their hash."""
        from azt3knet_pipeline.domain.models import canonical_json, sha256_hex

        text = canonical_json(rrsets)
        digest = sha256_hex(text)
        values = {"zone": zone, "desired_json": text, "desired_hash": digest, "updated_at": _now()}
        with self._tx() as tx:
            updated = tx.execute(
                update(population_dns).where(population_dns.c.population_key == population_key).values(**values)
            )
            if updated.rowcount == 0:
                tx.execute(insert(population_dns).values(population_key=population_key, **values))
        return digest

    def clear_desired_dns(self, population_key: str) -> None:
        with self._tx() as tx:
            tx.execute(delete(population_dns).where(population_dns.c.population_key == population_key))

    def desired_dns(self, zone: str, keys: Iterable[str] | None = None) -> dict[str, list[dict[str, Any]]]:
        """Desired rrsets by population key, for populations that are provisioned (not torn down)."""
        query = (
            select(population_dns.c.population_key, population_dns.c.desired_json)
            .join(population, population.c.key == population_dns.c.population_key)
            .where(population_dns.c.zone == zone, population.c.status != "torn_down")
        )
        if keys is not None:
            query = query.where(population_dns.c.population_key.in_(list(keys)))
        with self.engine.connect() as conn:
            return {row[0]: json.loads(row[1]) for row in conn.execute(query).all()}

    # -- secrets ---------------------------------------------------------------------------------------

    def derivation_secret(self, box: SecretBox) -> bytes:
        """The installation's password derivation secret: random, made once, stored Fernet-encrypted."""
        with self.engine.connect() as conn:
            row = conn.execute(select(kv_secret.c.ciphertext).where(kv_secret.c.name == DERIVATION_SECRET)).first()
        if row is None:
            now = _now()
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
            now = _now()
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

    # -- llm cache -------------------------------------------------------------------------------------

    def llm_cache_get(self, cache_key: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(llm_cache.c.value).where(llm_cache.c.cache_key == cache_key)).first()
        return row[0] if row else None

    def llm_cache_put(self, cache_key: str, model: str, field: str, value: str) -> None:
        try:
            with self._tx() as tx:
                tx.execute(
                    insert(llm_cache).values(
                        cache_key=cache_key, model=model, field=field, value=value, created_at=_now()
                    )
                )
        except IntegrityError:
            pass  # first writer wins: the cached value is what makes re-runs identical

    # -- audit -----------------------------------------------------------------------------------------

    def audit(
        self, actor: str, action: str, target: str, outcome: str, detail: dict[str, Any] | str | None = None
    ) -> None:
        """Append one audit entry. Callers pass counts and names, never a secret."""
        text = json.dumps(detail, sort_keys=True) if isinstance(detail, dict) else detail
        with self._tx() as tx:
            tx.execute(
                insert(audit_log).values(
                    at=_now(),
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


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every time the store writes is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _population_from_row(row: Any) -> Population:
    return Population(
        key=row["key"],
        spec=PopulationSpec.model_validate(json.loads(row["spec_json"])),
        spec_hash=row["spec_hash"],
        status=row["status"],
        dns_pending_until=_aware(row["dns_pending_until"]),
    )
