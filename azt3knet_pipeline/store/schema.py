"""The store's schema: alembic migrations to head, serialised across processes."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from azt3knet_pipeline.store.schema_lock import schema_lock

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
STORE_SCHEMA_LOCK = "azt3knet store schema"


def migrate_schema(engine: Engine) -> None:
    """Bring the schema to the newest alembic revision (idempotent). Serialised across processes, so
    concurrent first uses of a fresh store do not race on table creation."""
    # alembic is imported here, not at the top: it is slow to import and only migrating needs it.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    url = engine.url.render_as_string(hide_password=False)
    with schema_lock(url, STORE_SCHEMA_LOCK), engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
