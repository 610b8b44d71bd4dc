"""store.schema_lock: which SQLite URLs name a file to lock."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from azt3knet_pipeline.store.repository import Store
from azt3knet_pipeline.store.schema_lock import sqlite_path


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite:///%3Amemory%3A"])
def test_in_memory_urls_name_no_file(url: str) -> None:
    assert sqlite_path(url) is None


def test_file_urls_name_their_file(tmp_path: Path) -> None:
    assert sqlite_path(f"sqlite:///{tmp_path}/store.db?timeout=5") == tmp_path / "store.db"
    assert sqlite_path(f"sqlite:///{tmp_path}/with%20space.db") == tmp_path / "with space.db"


def test_an_in_memory_store_leaves_no_lock_file_in_the_working_directory(tmp_path: Path) -> None:
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        Store.open("sqlite:///:memory:")
    finally:
        os.chdir(cwd)
    assert list(tmp_path.iterdir()) == []
