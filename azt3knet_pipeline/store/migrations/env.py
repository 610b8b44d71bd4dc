"""Alembic environment: run programmatically by `Store.migrate()` on the store's own connection."""

from __future__ import annotations

from alembic import context

from azt3knet_pipeline.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when someone runs the alembic CLI by hand
    from sqlalchemy import create_engine

    from azt3knet_pipeline.settings import get_settings

    engine = create_engine(get_settings().resolved_database_url)
    connection = engine.connect()

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
