"""What every command shares: the two consoles (data on stdout, messages on stderr), the one-line failure
reports and their exit codes, and how a finished run is summarised.

Function-level imports are deliberate in `cli/` (and only there): each command imports what it uses when it
runs, so `--help`, `--version` and `populate --preview` never load Dagster, SQLAlchemy or the web stack
(tests/integration/test_cli_imports.py keeps it so). Module level holds only Typer and the standard library; Rich
is imported at a console's first use, so a JSONL, CSV or JSON preview (which prints nothing through Rich) never loads
it: a tenth of that command's start-up.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import cached_property, wraps
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from azt3knet_pipeline.cli.failure import run_failure_line, verbose

if TYPE_CHECKING:
    from rich.console import Console


class _LazyConsole:
    """A Rich `Console(**options)` created at its first use; every attribute is the console's own."""

    def __init__(self, **options: Any) -> None:
        self._options = options

    @cached_property
    def _console(self) -> Console:
        from rich.console import Console

        return Console(**self._options)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # copy, pickle and friends probe for these: no console to make for them
            raise AttributeError(name)
        return getattr(self._console, name)


out: Console = _LazyConsole(soft_wrap=True)  # type: ignore[assignment]
err: Console = _LazyConsole(stderr=True, soft_wrap=True)  # type: ignore[assignment]

F = TypeVar("F", bound=Callable[..., Any])

EX_TEMPFAIL = 75  # sysexits.h: a temporary failure, try again later (deSEC deferred the write)
# Metadata entries too bulky (or too local) for a summary line.
HIDDEN_METADATA = frozenset({"path", "preview"})


def fail(message: str, code: int) -> typer.Exit:
    """Print one `error:` line on stderr (the stack trace before it only with --verbose); the exit to raise."""
    if verbose() and sys.exc_info()[0] is not None:
        err.print_exception()
    err.print(f"error: {message}", style="bold red", markup=False, highlight=False)
    return typer.Exit(code)


def fail_run(outcome: Any, settings: Any) -> typer.Exit:
    """One line for a failed run: step, cause, endpoint, where the full log is."""
    return fail(run_failure_line(outcome, settings), 1)


def handle_errors(fn: F) -> F:
    """Each error exits with the code its class states (`azt3knet_pipeline.errors`): bad input → exit 2 with one
    line naming the field and rule; API and runtime failures → exit 1; anything unexpected → exit 1 with one line
    (its stack trace only with --verbose)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if isinstance(exc, _exits()):
                raise
            from pydantic import ValidationError

            from azt3knet_pipeline.errors import BAD_INPUT_EXIT, Azt3knetError, describe_validation_error, exit_code

            code = exit_code(exc)
            if isinstance(exc, ValidationError):
                raise fail(describe_validation_error(exc), code) from None
            if code == BAD_INPUT_EXIT:
                raise fail(str(exc), code) from None
            if isinstance(exc, Azt3knetError):
                raise fail(f"{type(exc).__name__}: {exc}", code) from None
            hint = "" if verbose() else " (run with --verbose for the stack trace)"
            raise fail(f"{type(exc).__name__}: {exc}{hint}", code) from None

    return wrapper  # type: ignore[return-value]


def _exits() -> tuple[type[Exception], ...]:
    """The exceptions that end a command on purpose (Typer's, and Click's when something has imported Click:
    none of its exceptions can exist before, and importing it just to test for them costs every command)."""
    click = sys.modules.get("click")
    if click is None:
        return (typer.Exit, typer.Abort)
    return (typer.Exit, typer.Abort, click.exceptions.Exit, click.exceptions.Abort, click.ClickException)


def quiet_progress(quiet: bool, as_json: bool) -> bool:
    """Progress bars only for a person at a terminal."""
    return quiet or as_json or not err.is_terminal


def scalar_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if isinstance(v, int | float | str | bool) and k not in HIDDEN_METADATA}


def warn_dns_deferred(key: str, metadata: dict[str, dict[str, Any]]) -> None:
    """A run whose DNS write deSEC deferred succeeds; say so in one line (what, until when, who finishes it)."""
    from datetime import datetime

    from azt3knet_pipeline.names import DNS_RECORDS
    from azt3knet_pipeline.services.dns import DnsDeferral

    dns = metadata.get(DNS_RECORDS, {})
    if dns.get("dns_pending_until"):
        until = datetime.fromisoformat(str(dns["dns_pending_until"]).replace("Z", "+00:00"))
        deferral = DnsDeferral(zone=str(dns.get("zone")), keys=(key,), until=until)
        err.print(deferral.line(), markup=False, highlight=False)


def print_assets(summary: dict[str, Any]) -> None:
    for name, meta in summary["assets"].items():
        out.print(f"  {name}: " + ", ".join(f"{k}={v}" for k, v in meta.items()), highlight=False)


def finish_run(outcome: Any, settings: Any) -> None:
    """After a run's summary: the deferred-DNS line if any; a failed run exits 1 with its one line."""
    warn_dns_deferred(outcome.key, outcome.metadata)
    if not outcome.success:
        raise fail_run(outcome, settings)


def report_run(outcome: Any, settings: Any, *, as_json: bool, headline: str | None, **extra: Any) -> None:
    """A finished run's summary: JSON (key, run id, success, `extra`, each asset's scalar metadata), or `headline`
    and one line per asset (nothing when `headline` is None); then `finish_run`."""
    summary = {
        "key": outcome.key,
        "run_id": outcome.run_id,
        "success": outcome.success,
        **extra,
        "assets": {name: scalar_metadata(meta) for name, meta in outcome.metadata.items()},
    }
    if as_json:
        write_json(summary)
    elif headline is not None:
        out.print(headline)
        print_assets(summary)
    finish_run(outcome, settings)


def write_json(value: Any, **options: Any) -> None:
    sys.stdout.write(json.dumps(value, sort_keys=True, **options) + "\n")
