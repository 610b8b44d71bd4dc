"""How the CLI reports failures: one line on stderr naming the step, the cause, the endpoint (without secrets)
and where the full log is; the full log (stack traces included) in a private file. Stack traces on the terminal,
and Dagster's own console output, only with the global `--verbose`."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from azt3knet_pipeline.names import DNS_RECORDS, MAILBOXES

if TYPE_CHECKING:  # the CLI imports this module at start-up: keep it light (tests/integration/test_cli_imports.py)
    from azt3knet_pipeline.settings import Settings

_state = {"verbose": False}

# The endpoint each step talks to, by settings field; steps without one name none.
STEP_ENDPOINTS = {
    MAILBOXES: "mailcow_api_url",
    DNS_RECORDS: "desec_api_url",
    "update_mail_host_ips": "desec_api_url",
}


def set_verbose(verbose: bool) -> None:
    """Set once per invocation by the CLI's global `--verbose`; quiets Dagster's console output otherwise."""
    _state["verbose"] = verbose
    if not verbose:
        # Dagster's Python loggers and its (beta/preview/deprecation) warnings write to stderr on their own.
        logging.getLogger("dagster").setLevel(logging.CRITICAL)
        warnings.filterwarnings("ignore", module=r"dagster(\.|$)")
        warnings.filterwarnings("ignore", message=r".*dagster", category=Warning)


def verbose() -> bool:
    return _state["verbose"]


def run_log_config() -> dict[str, Any]:
    """Run config for CLI runs: Dagster's console logger shows errors (with stack traces) only when verbose."""
    level = "INFO" if verbose() else "CRITICAL"
    return {"loggers": {"console": {"config": {"log_level": level}}}}


def public_url(url: str) -> str:
    """`url` without user info, query or fragment: what an endpoint may show in a message."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def logs_dir(settings: Settings) -> Path:
    return settings.home.expanduser() / "logs"


def write_run_log(settings: Settings, run_id: str) -> Path:
    """Write the run's whole event log (messages, errors with their stack traces) to a 0600 file."""
    from azt3knet_pipeline.orchestration.instance import get_instance
    from azt3knet_pipeline.orchestration.results import run_log_lines
    from azt3knet_pipeline.private_files import ensure_private_dir, write_private

    instance = get_instance(settings)
    try:
        lines = run_log_lines(instance, run_id)
    finally:
        instance.dispose()
    folder = ensure_private_dir(logs_dir(settings))
    return write_private(folder / f"run-{run_id}.log", ("\n".join(lines) + "\n").encode("utf-8"), replace=True)


def run_failure_line(outcome: Any, settings: Settings) -> str:
    """The one line that reports a failed run (`outcome` is an orchestration.results.RunOutcome)."""
    parts = []
    for failure in outcome.failures:
        field = STEP_ENDPOINTS.get(failure.step)
        endpoint = f" (endpoint {public_url(getattr(settings, field))})" if field else ""
        parts.append(f"step {failure.step}: {failure.cause}{endpoint}")
    what = "; ".join(parts) or (outcome.error or "failed")
    try:
        where = f"full log: {write_run_log(settings, outcome.run_id)}"
    except Exception as exc:  # the log is a courtesy: never hide the failure behind a second one
        where = f"full log: `dagster dev` → Runs → {outcome.run_id} (log file not written: {type(exc).__name__})"
    return f"run {outcome.run_id} failed at {what}; {where}"
