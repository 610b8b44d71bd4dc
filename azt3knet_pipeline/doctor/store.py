"""Checks of the project store (reachable, schema at head; read-only) and of SECRET_KEY_FOR_KV_ENC against it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from azt3knet_pipeline.clients.factory import secret_box
from azt3knet_pipeline.doctor.report import FAIL, KEY, OK, STORE, Check, describe_db_url, short_error
from azt3knet_pipeline.errors import DecryptionError, KeyConfigError
from azt3knet_pipeline.settings import Settings
from azt3knet_pipeline.store.engine import normalise_postgres_url
from azt3knet_pipeline.store.schema import MIGRATIONS_DIR
from azt3knet_pipeline.store.secrets import DERIVATION_SECRET
from azt3knet_pipeline.store.tables import kv_secret, population

DB_CONNECT_TIMEOUT = 5


@dataclass
class StoreState:
    """What the store check learnt, for the checks after it: an engine (None when there is nothing to read)
    and the registered population keys."""

    engine: Any = None
    keys: list[str] = field(default_factory=list)


def check_store(settings: Settings) -> tuple[Check, StoreState]:
    """Reachable, and the schema at the migrations' head. Read-only: never creates a file or a table."""
    url = settings.resolved_database_url
    where = describe_db_url(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    empty = StoreState()
    keys: list[str] = []
    try:
        parsed = make_url(url)
    except Exception:
        return Check(STORE, FAIL, "AZT3KNET_DATABASE_URL is not a database URL (postgresql://user@host:5432/db)"), empty
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        if parsed.database and parsed.database != ":memory:" and not path.exists():
            parent = next((p for p in [path.parent, *path.parent.parents] if p.exists()), None)
            if parent is None or not _writable(parent):
                return Check(STORE, FAIL, f"{where}: cannot be created ({parent} is not writable)"), empty
            return Check(STORE, OK, f"{where}: not created yet (made and migrated on first use)"), empty
        engine = create_engine(url, poolclass=NullPool)
    else:
        engine = create_engine(
            normalise_postgres_url(url), poolclass=NullPool, connect_args={"connect_timeout": DB_CONNECT_TIMEOUT}
        )
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            current = MigrationContext.configure(conn).get_current_revision()
            if current is not None:
                keys = [row[0] for row in conn.execute(select(population.c.key).order_by(population.c.key))]
    except Exception as exc:
        engine.dispose()
        return Check(STORE, FAIL, f"{where}: cannot connect: {short_error(exc)}"), empty
    if current is None:
        engine.dispose()
        return Check(STORE, OK, f"{where}: reachable, empty (tables are created on first use)"), empty
    state = StoreState(engine, keys)
    if current == head:
        return Check(STORE, OK, f"{where}: reachable, schema at head ({head}), {len(keys)} population(s)"), state
    known = {rev.revision for rev in ScriptDirectory.from_config(config).walk_revisions()}
    if current in known:
        return Check(
            STORE,
            FAIL,
            f"{where}: schema at {current}, this version needs {head}: run any azt3knet "
            "command that opens the store (e.g. `azt3knet populations list`) to migrate",
        ), state
    return Check(
        STORE,
        FAIL,
        f"{where}: schema revision {current} is newer than this azt3knet knows "
        f"(head {head}): upgrade azt3knet on this host",
    ), state


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK | os.X_OK)


def check_key(settings: Settings, engine: Any) -> Check:
    """A valid Fernet key (list), and it decrypts the store's password-derivation secret if one exists."""
    try:
        box = secret_box(settings)
    except KeyConfigError as exc:
        return Check(KEY, FAIL, str(exc))
    keys = f"{box.key_count} key(s), the first encrypts"
    if engine is None:
        return Check(KEY, OK, f"valid ({keys}); no stored secret to test it against yet")
    try:
        with engine.connect() as conn:
            row = conn.execute(select(kv_secret.c.ciphertext).where(kv_secret.c.name == DERIVATION_SECRET)).first()
    except Exception as exc:
        return Check(KEY, FAIL, f"valid ({keys}), but the store's secrets could not be read: {short_error(exc)}")
    finally:
        engine.dispose()
    if row is None:
        return Check(KEY, OK, f"valid ({keys}); the store has no derivation secret yet")
    try:
        box.decrypt(row[0])
    except DecryptionError:
        return Check(
            KEY,
            FAIL,
            f"valid ({keys}) but does NOT decrypt the store's password-derivation secret: "
            "wrong key, or the key that encrypted it was dropped before `azt3knet keys rotate`",
        )
    return Check(KEY, OK, f"valid ({keys}); decrypts the store's password-derivation secret")
