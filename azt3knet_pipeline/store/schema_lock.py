"""Cross-process locks around first-use schema set-up (alembic migrations, Dagster's own storage tables).

Two processes opening a fresh store or a fresh Dagster instance at once would both find no tables and both
create them; one dies. Whoever holds the lock sets the schema up; the others wait, then find it done.
SQLite: an exclusive `flock` on a lock file next to the database (0600, its folder 0700 when we create it).
PostgreSQL: a session advisory lock, which covers every schema of the database and vanishes with the connection.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from azt3knet_pipeline.private_files import ensure_private_dir
from azt3knet_pipeline.store.engine import normalise_postgres_url


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for `pg_advisory_lock`, derived from a readable name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created 0600; missing folders created 0700) until the block ends."""
    ensure_private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


@contextmanager
def postgres_advisory_lock(url: str, name: str) -> Iterator[None]:
    """Hold the PostgreSQL session advisory lock `name` on the database at `url` until the block ends."""
    engine = create_engine(normalise_postgres_url(url), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            key = advisory_key(name)
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()
    finally:
        engine.dispose()


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for in-memory databases)."""
    # SQLAlchemy renders ":memory:" as "%3Amemory%3A": decode, or an in-memory store would lock a file in the cwd.
    path = unquote(make_url(url).database or "")
    return None if not path or path == ":memory:" else Path(path)


@contextmanager
def schema_lock(url: str, name: str) -> Iterator[None]:
    """Serialise schema set-up for the database at `url` across processes (see the module docstring)."""
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path is None:  # in-memory: private to this process
            yield
            return
        with file_lock(path.with_name(path.name + ".lock")):
            yield
        return
    with postgres_advisory_lock(url, name):
        yield
