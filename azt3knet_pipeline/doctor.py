"""`azt3knet doctor`: check every piece the pipeline depends on, one clear line per check.

Checks, in order: the settings parse; the project store is reachable and its schema is at the migrations' head;
SECRET_KEY_FOR_KV_ENC is a valid key (list) and decrypts the store's password-derivation secret; the Dagster
instance loads (and which storage it uses); the Mailcow API answers and accepts the key (one cheap read:
`get/domain/all`); the deSEC API answers, accepts the token and holds DESEC_DOMAIN; MAIL_HOSTNAME lies inside
DESEC_DOMAIN.

Each remote check makes exactly ONE request, never retried: Mailcow's fail2ban bans an address after repeated
bad keys. The store check only reads (it never creates or migrates). Loading the Dagster instance does what
every command does: it creates DAGSTER_HOME and its generated dagster.yaml if they are missing.

Nothing here prints a secret: every detail line is scrubbed of the key, tokens and database passwords.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from azt3knet_pipeline.errors import describe_validation_error
from azt3knet_pipeline.names import POPULATION_PARTITIONS_NAME
from azt3knet_pipeline.settings import Settings

OK, FAIL, SKIP = "ok", "fail", "skip"
MARKS = {OK: "✓", FAIL: "✗", SKIP: "-"}
REMOTE_TIMEOUT = 10.0
DB_CONNECT_TIMEOUT = 5

SETTINGS = "settings"
STORE = "project store"
KEY = "SECRET_KEY_FOR_KV_ENC"
DAGSTER = "Dagster instance"
MAILCOW = "Mailcow API"
DESEC = "deSEC API"
MAIL_HOST = "MAIL_HOSTNAME"
ORDER = (SETTINGS, STORE, KEY, DAGSTER, MAILCOW, DESEC, MAIL_HOST)


@dataclass
class Check:
    """One line of the report: which piece, whether it is fine, and what to do when it is not."""

    name: str
    status: str
    detail: str


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(check.status == OK for check in self.checks)

    @property
    def failed(self) -> list[str]:
        return [check.name for check in self.checks if check.status == FAIL]

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "failed": self.failed, "checks": [asdict(check) for check in self.checks]}

    def lines(self) -> list[str]:
        width = max(len(name) for name in ORDER)
        lines = [f"{MARKS[c.status]} {c.name.ljust(width)}  {c.detail}" for c in self.checks]
        if self.ok:
            lines.append(f"all {len(self.checks)} checks passed")
        else:
            lines.append(f"{len(self.failed)} problem(s): {', '.join(self.failed)}")
        return lines

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)


class _Scrubber:
    """Removes every configured secret from a detail line before it is shown."""

    def __init__(self, settings: Settings | None) -> None:
        from sqlalchemy.engine import make_url

        secrets: set[str] = set()
        if settings is not None:
            for value in (
                settings.secret_key_for_kv_enc,
                settings.mailcow_api_key,
                settings.desec_token,
                settings.admin_token,
            ):
                if value is not None and value.get_secret_value():
                    raw = value.get_secret_value()
                    secrets.add(raw)
                    secrets.update(part.strip() for part in raw.split(",") if part.strip())
            for url in (settings.database_url, settings.dagster_postgres_url):
                try:
                    password = make_url(url).password if url else None
                except Exception:  # an unparsable URL is reported by its own check
                    password = None
                if password:
                    secrets.add(str(password))
        self.secrets = sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def _short(exc: BaseException, limit: int = 240) -> str:
    """The first line of an error (SQLAlchemy appends SQL and links below it), bounded."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = text.removeprefix("(psycopg2.OperationalError) ").strip()
    return text[:limit]


def describe_db_url(url: str) -> str:
    """Where a database URL points, without user or password: `postgresql host:port/db` or the SQLite path."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return "an unparsable URL"
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite {parsed.database}"
    return f"{parsed.get_backend_name()} {parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database}"


# -- the checks -------------------------------------------------------------------------------------------


def check_settings() -> tuple[Check, Settings | None]:
    try:
        settings = Settings()
    except ValidationError as exc:
        return Check(SETTINGS, FAIL, f"environment does not parse: {describe_validation_error(exc)}"), None
    return Check(SETTINGS, OK, f"environment parsed (AZT3KNET_HOME={settings.home})"), settings


@dataclass
class StoreState:
    """What the store check learnt, for the checks after it: an engine (None when there is nothing to read)
    and the registered population keys."""

    engine: Any = None
    keys: list[str] = field(default_factory=list)


def check_store(settings: Settings) -> tuple[Check, StoreState]:
    """Reachable, and the schema at the migrations' head. Read-only: never creates a file or a table."""
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine, select, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    from azt3knet_pipeline.store.repository import MIGRATIONS_DIR, normalise_postgres_url
    from azt3knet_pipeline.store.tables import population

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
        return Check(STORE, FAIL, f"{where}: cannot connect: {_short(exc)}"), empty
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
    import os

    return os.access(path, os.W_OK | os.X_OK)


def check_key(settings: Settings, engine: Any) -> Check:
    """A valid Fernet key (list), and it decrypts the store's password-derivation secret if one exists."""
    from sqlalchemy import select

    from azt3knet_pipeline.clients.factory import secret_box
    from azt3knet_pipeline.store.crypto import DecryptionError, KeyConfigError
    from azt3knet_pipeline.store.repository import DERIVATION_SECRET
    from azt3knet_pipeline.store.tables import kv_secret

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
        return Check(KEY, FAIL, f"valid ({keys}), but the store's secrets could not be read: {_short(exc)}")
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


def _same_database(url_a: str | None, url_b: str | None) -> bool:
    from sqlalchemy.engine import make_url

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
    from azt3knet_pipeline.orchestration.instance import get_instance

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
        return Check(DAGSTER, FAIL, f"instance at {home} does not load: {_short(exc)}")
    except Exception as exc:
        return Check(DAGSTER, FAIL, f"instance at {home} does not load: {type(exc).__name__}: {_short(exc)}")
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


def check_mailcow(settings: Settings) -> Check:
    """ONE read (`get/domain/all`) with the configured key, never retried (fail2ban)."""
    from azt3knet_pipeline.clients.http import RetryPolicy
    from azt3knet_pipeline.clients.mailcow import MailcowAuthError, MailcowClient, MailcowError

    url = settings.mailcow_api_url
    if settings.mailcow_api_key is None or not settings.mailcow_api_key.get_secret_value().strip():
        return Check(
            MAILCOW, FAIL, "MAILCOW_API_KEY is not set (Mailcow → Configuration → Access → API, read-write key)"
        )
    try:
        client = MailcowClient(
            url,
            settings.mailcow_api_key.get_secret_value(),
            verify_tls=settings.mailcow_verify_tls,
            timeout=min(settings.mailcow_timeout, REMOTE_TIMEOUT),
            policy=RetryPolicy(max_attempts=1),
        )
    except Exception as exc:
        return Check(MAILCOW, FAIL, f"MAILCOW_API_URL {url!r} is not usable: {_short(exc)}")
    try:
        with client:
            domains = client.list_domains()
    except MailcowAuthError as exc:
        return Check(
            MAILCOW,
            FAIL,
            f"{url}: key refused ({_short(exc)}); check MAILCOW_API_KEY and Mailcow's API "
            "allow-list (the address it names). One attempt was made: repeated bad keys "
            "trip fail2ban",
        )
    except MailcowError as exc:
        return Check(MAILCOW, FAIL, f"{url}: unreachable or failing: {_short(exc)}")
    except Exception as exc:
        return Check(MAILCOW, FAIL, f"{url}: {type(exc).__name__}: {_short(exc)}")
    tls = "" if settings.mailcow_verify_tls or not url.startswith("https") else "; TLS NOT verified"
    return Check(MAILCOW, OK, f"{url}: key accepted, {len(domains)} domain(s){tls}")


def check_desec(settings: Settings) -> Check:
    """ONE read of `domains/<DESEC_DOMAIN>/` with the configured token, never retried."""
    from azt3knet_pipeline.clients.desec import (
        DesecAuthError,
        DesecClient,
        DesecError,
        DesecNotFound,
        DesecThrottled,
    )
    from azt3knet_pipeline.clients.http import RetryPolicy

    url, domain = settings.desec_api_url, settings.desec_domain
    if settings.desec_token is None or not settings.desec_token.get_secret_value().strip():
        return Check(DESEC, FAIL, "DESEC_TOKEN is not set (deSEC → Token management)")
    try:
        client = DesecClient(
            url,
            settings.desec_token,
            timeout=min(settings.desec_timeout, REMOTE_TIMEOUT),
            policy=RetryPolicy(max_attempts=1),
        )
    except Exception as exc:
        return Check(DESEC, FAIL, f"DESEC_API_URL {url!r} is not usable: {_short(exc)}")
    try:
        with client:
            found = client.get_domain(domain)
    except DesecAuthError as exc:
        return Check(DESEC, FAIL, f"{url}: token refused (HTTP {exc.status}); check DESEC_TOKEN")
    except DesecNotFound:
        return Check(DESEC, FAIL, f"{url}: token accepted, but DESEC_DOMAIN {domain} is not in this account")
    except DesecThrottled:
        return Check(DESEC, FAIL, f"{url}: throttled (HTTP 429); the token was not checked, try again later")
    except DesecError as exc:
        return Check(DESEC, FAIL, f"{url}: unreachable or failing: {_short(exc)}")
    except Exception as exc:
        return Check(DESEC, FAIL, f"{url}: {type(exc).__name__}: {_short(exc)}")
    return Check(DESEC, OK, f"{url}: token accepted, domain {found.name} present")


def check_mail_hostname(settings: Settings) -> Check:
    host = settings.mail_hostname.strip().rstrip(".").lower()
    zone = settings.desec_domain.strip().rstrip(".").lower()
    if host == zone or host.endswith("." + zone):
        return Check(MAIL_HOST, OK, f"{host} is inside DESEC_DOMAIN {zone} (its A/AAAA are ours to keep)")
    return Check(
        MAIL_HOST,
        FAIL,
        f"{host} is not inside DESEC_DOMAIN {zone}: `dns bootstrap` and the dyn-DNS "
        "job cannot write its A/AAAA, and MX records would point outside the zone",
    )


def run_checks() -> Report:
    """Run every check; a check whose prerequisite failed is reported as skipped, never silently dropped."""
    report = Report()
    settings_check, settings = check_settings()
    scrub = _Scrubber(settings)
    report.checks.append(settings_check)
    if settings is None:
        for name in ORDER[1:]:
            report.checks.append(Check(name, SKIP, "not checked: the settings do not parse"))
        return report
    store_check, store = check_store(settings)
    results = [
        store_check,
        check_key(settings, store.engine),
        check_dagster(settings, store.keys),
        check_mailcow(settings),
        check_desec(settings),
        check_mail_hostname(settings),
    ]
    report.checks.extend(Check(c.name, c.status, scrub(c.detail)) for c in results)
    return report


def print_report(report: Report, console: Any) -> None:
    """The text form: one coloured line per check on `console` (a rich Console)."""
    styles = {OK: "green", FAIL: "bold red", SKIP: "yellow"}
    for check, line in zip(report.checks, report.lines(), strict=False):
        console.print(line, style=styles[check.status], markup=False, highlight=False)
    console.print(report.lines()[-1], style="green" if report.ok else "bold red", markup=False, highlight=False)
