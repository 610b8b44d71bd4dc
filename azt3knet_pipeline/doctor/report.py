"""The doctor's report: one line per check (text or JSON), and the helpers every check shares."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.engine import make_url

OK, FAIL, SKIP = "ok", "fail", "skip"
MARKS = {OK: "✓", FAIL: "✗", SKIP: "-"}
REMOTE_TIMEOUT = 10.0

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


def print_report(report: Report, console: Any) -> None:
    """The text form: one coloured line per check on `console` (a rich Console)."""
    styles = {OK: "green", FAIL: "bold red", SKIP: "yellow"}
    for check, line in zip(report.checks, report.lines(), strict=False):
        console.print(line, style=styles[check.status], markup=False, highlight=False)
    console.print(report.lines()[-1], style="green" if report.ok else "bold red", markup=False, highlight=False)


def short_error(exc: BaseException, limit: int = 240) -> str:
    """The first line of an error (SQLAlchemy appends SQL and links below it), bounded."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = text.removeprefix("(psycopg2.OperationalError) ").strip()
    return text[:limit]


def describe_db_url(url: str) -> str:
    """Where a database URL points, without user or password: `postgresql host:port/db` or the SQLite path."""
    try:
        parsed = make_url(url)
    except Exception:
        return "an unparsable URL"
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite {parsed.database}"
    return f"{parsed.get_backend_name()} {parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database}"
