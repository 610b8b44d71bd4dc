"""`azt3knet verify`: log in to a sample of a population's mailboxes (and send one message). Imports inside
functions: see cli/common.py."""

from __future__ import annotations

import sys
from typing import Any

import typer

from azt3knet_pipeline.cli.common import handle_errors, out


@handle_errors
def verify(
    key: str = typer.Argument(..., help="Population key."),
    sample: int = typer.Option(
        None, "--sample", min=0, help="Mailboxes to log in to (0 = all; default AZT3KNET_VERIFY_SAMPLE)."
    ),
    send: bool = typer.Option(False, "--send", help="Also send one message between two agents and wait for it."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON (for scripts)."),
) -> None:
    """Log in over IMAPS to a deterministic sample of a population's mailboxes with the stored credentials.

    One line per failure (address and reason: auth refused, TLS, timeout, ...); exit 0 only when every sampled
    mailbox logs in (and, with --send, the message arrives). Passwords are never printed.
    """
    from azt3knet_pipeline.services.verify import verify_with_settings
    from azt3knet_pipeline.settings import get_settings

    report = verify_with_settings(key, settings=get_settings(), sample=sample, send=send)
    if as_json:
        sys.stdout.write(report.model_dump_json() + "\n")
    else:
        print_verify(report)
    if not report.ok:
        raise typer.Exit(1)


def print_verify(report: Any) -> None:
    """One FAIL line per mailbox that did not log in (and for a failed delivery), then the totals."""
    for failure in report.failures:
        out.print(f"FAIL {failure.line()}", markup=False, highlight=False)
    delivery = report.delivery
    if delivery is not None and not delivery.delivered and delivery.failure is not None:
        out.print(f"FAIL delivery {delivery.failure.line()}", markup=False, highlight=False)
    out.print(
        f"{report.population_key}: {report.logged_in}/{report.sampled} sampled mailboxes logged in "
        f"({report.mailboxes} of record) at {report.mail_host} in {report.seconds:.2f}s",
        markup=False,
        highlight=False,
    )
    if delivery is not None and delivery.delivered:
        out.print(
            f"{report.population_key}: message from {delivery.sender} delivered to {delivery.recipient} "
            f"in {delivery.seconds:.2f}s",
            markup=False,
            highlight=False,
        )
