"""Check of the Dagster instance: it loads, its storage is the one the settings ask for, and it knows every
registered population."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import make_url

from azt3knet_pipeline.doctor.report import DAGSTER, FAIL, OK, Check, describe_db_url, short_error
from azt3knet_pipeline.names import POPULATION_PARTITIONS_NAME
from azt3knet_pipeline.orchestration.instance import get_instance
from azt3knet_pipeline.settings import Settings


def _same_database(url_a: str | None, url_b: str | None) -> bool:
    if not url_a or not url_b:
        return False
    try:
        a, b = make_url(url_a), make_url(url_b)
    except Exception:
        return False
    if a.get_backend_name() != "postgresql" or b.get_backend_name() != "postgresql":
        return False

    def where(url: Any) -> tuple[Any, ...]:
        return (url.host or "localhost", url.port or 5432, url.database, url.query.get("options"))

    return where(a) == where(b)


def check_dagster(settings: Settings, store_keys: list[str] | None = None) -> Check:
    """The instance loads from DAGSTER_HOME, its storage answers, it is the storage the settings ask for, and
    every population registered in the store is a partition of it (else its runs cannot start)."""
    home = settings.resolved_dagster_home.expanduser()
    if _same_database(settings.database_url, settings.dagster_postgres_url):
        return Check(
            DAGSTER,
            FAIL,
            "AZT3KNET_DAGSTER_POSTGRES_URL and AZT3KNET_DATABASE_URL name the same "
            "database: both keep an `alembic_version` table, so give Dagster its own "
            "database (e.g. .../dagster and .../azt3knet)",
        )
    try:
        instance = get_instance(settings)
        kind = type(instance.run_storage).__name__
        runs = instance.get_runs_count()
        partitions = set(instance.get_dynamic_partitions(POPULATION_PARTITIONS_NAME))
    except ModuleNotFoundError as exc:
        if exc.name == "psycopg":
            return Check(
                DAGSTER,
                FAIL,
                "AZT3KNET_DAGSTER_POSTGRES_URL starts with postgresql://, which SQLAlchemy "
                "2.1 maps to psycopg 3 (not installed): write postgresql+psycopg2://...",
            )
        return Check(DAGSTER, FAIL, f"instance at {home} does not load: {short_error(exc)}")
    except Exception as exc:
        return Check(DAGSTER, FAIL, f"instance at {home} does not load: {type(exc).__name__}: {short_error(exc)}")
    storage = "PostgreSQL" if kind.startswith("Postgres") else "SQLite" if kind.startswith("Sqlite") else kind
    if settings.dagster_postgres_url and storage != "PostgreSQL":
        return Check(
            DAGSTER,
            FAIL,
            f"{home}/dagster.yaml uses {storage} storage although "
            "AZT3KNET_DAGSTER_POSTGRES_URL is set (hand-written dagster.yaml?)",
        )
    where = describe_db_url(settings.dagster_postgres_url) if storage == "PostgreSQL" else f"under {home}"
    missing = sorted(set(store_keys or []) - partitions)
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        return Check(
            DAGSTER,
            FAIL,
            f"{storage} storage ({where}) lacks the partition of {len(missing)} registered "
            f"population(s): {shown}; Dagster storage reset? Re-register them "
            "(docs/operations.md, Restore)",
        )
    return Check(DAGSTER, OK, f"{storage} storage ({where}); {runs} run(s), {len(partitions)} population partition(s)")
