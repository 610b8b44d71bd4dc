"""File modes of the store (issue 15.7) in-process, where no entry point set the umask: a new SQLite store and
its WAL files are 0600 in a 0700 folder, an older world-readable store is tightened on open, and folders that
already existed (an operator's /var/lib, /tmp) keep their mode."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from azt3knet_pipeline.private_files import ensure_private_dir
from azt3knet_pipeline.store.repository import Store


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # what a shell usually has: files 0644, folders 0755
    yield
    os.umask(previous)


def test_a_new_sqlite_store_is_private_even_with_a_loose_umask(tmp_path: Path, loose_umask: None) -> None:
    database = tmp_path / "fresh" / "nested" / "azt3knet.db"
    store = Store.open(f"sqlite:///{database}")
    store.audit("test", "probe", "store", "ok")  # a write, so the WAL files exist
    assert (database.parent / "azt3knet.db-wal").exists()
    for path in (database, database.with_name("azt3knet.db-wal"), database.with_name("azt3knet.db-shm")):
        assert mode(path) == 0o600, path
    assert mode(database.parent) == mode(database.parent.parent) == 0o700
    store.dispose()


def test_an_older_world_readable_store_is_tightened_on_open(tmp_path: Path, loose_umask: None) -> None:
    database = tmp_path / "azt3knet.db"
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE probe (x)")
    connection.commit()
    for path in (database, database.with_name("azt3knet.db-wal"), database.with_name("azt3knet.db-shm")):
        path.chmod(0o644)
    store = Store.open(f"sqlite:///{database}")
    for path in (database, database.with_name("azt3knet.db-wal"), database.with_name("azt3knet.db-shm")):
        assert mode(path) == 0o600, path
    connection.close()
    store.dispose()


def test_existing_folders_keep_their_mode_unless_asked(tmp_path: Path, loose_umask: None) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    ensure_private_dir(shared / "exports")
    assert mode(shared) == 0o755 and mode(shared / "exports") == 0o700
    (shared / "exports").chmod(0o755)
    ensure_private_dir(shared / "exports", tighten_existing=True)
    assert mode(shared / "exports") == 0o700
    link = tmp_path / "link"
    link.symlink_to(shared)
    ensure_private_dir(link, tighten_existing=True)  # a link to a folder is used, never chmod-ed through
    assert mode(shared) == 0o755
