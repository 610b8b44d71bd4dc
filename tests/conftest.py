"""Shared fixtures: an isolated AZT3KNET_HOME/DAGSTER_HOME per test, and a real PostgreSQL database.

The suite runs on several pytest-xdist workers (pyproject's addopts): everything a test shares with the machine
is its own (temp dirs under the worker's basetemp, free ports, database names that carry the worker id).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import hypothesis
import pytest
from helpers_env import isolate_environment, reset_caches

PG_ADMIN_URL = os.environ.get("AZT3KNET_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")

# Workers share the cores with the CLI subprocesses, servers and browsers of other tests: how long one example
# takes says nothing about the code under test, so no example has a deadline and slow data generation is no error.
hypothesis.settings.register_profile("azt3knet", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow])
hypothesis.settings.load_profile("azt3knet")


def worker_id() -> str:
    """The pytest-xdist worker running this process ("gw0", ...), "main" without xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own home, Dagster instance directory and Fernet key; nothing leaks between tests."""
    home = tmp_path / "azt3knet-home"
    isolate_environment(monkeypatch, home)
    yield home
    reset_caches()


@contextmanager
def fresh_databases(*prefixes: str) -> Iterator[list[str]]:
    """One fresh database per prefix on the real PostgreSQL at 127.0.0.1:5432, dropped afterwards; yields URLs."""
    import psycopg2

    # The worker id says whose a leftover database was; the random part keeps names unique within a worker.
    names = [f"{prefix}_{worker_id()}_{uuid.uuid4().hex[:10]}" for prefix in prefixes]
    admin = psycopg2.connect(PG_ADMIN_URL)
    admin.autocommit = True
    with admin.cursor() as cursor:
        for name in names:
            cursor.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield [f"{base}/{name}" for name in names]
    finally:
        with admin.cursor() as cursor:
            for name in names:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                )
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh database on the real PostgreSQL, shared by the session, dropped at its end."""
    with fresh_databases("azt3knet_test") as (url,):
        yield url


@pytest.fixture
def pg_databases() -> Callable[..., AbstractContextManager[list[str]]]:
    """`with pg_databases("a", "b") as (url_a, url_b):` — fresh databases for one test."""
    return fresh_databases


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The project store on SQLite and on the real PostgreSQL (a clean schema per test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    base_url: str = request.getfixturevalue("pg_database")
    from sqlalchemy import create_engine, text

    from azt3knet_pipeline.store.repository import normalise_postgres_url

    schema = f"t_{uuid.uuid4().hex[:10]}"
    engine = create_engine(normalise_postgres_url(base_url))
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{base_url}?options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()
