"""`azt3knet doctor`: one line per check of what the pipeline depends on. Imports inside functions: see
cli/common.py."""

from __future__ import annotations

import sys

import typer

from azt3knet_pipeline.cli.common import out


def doctor(as_json: bool = typer.Option(False, "--json", help="One JSON object (ok, failed, checks).")) -> None:
    """Check settings, key, store, Dagster, Mailcow and deSEC: one line per check, exit 1 on any problem.

    Remote checks make one request each, never retried (Mailcow's fail2ban bans repeated bad keys).
    """
    from azt3knet_pipeline.doctor import print_report, run_checks

    report = run_checks()
    if as_json:
        sys.stdout.write(report.to_json() + "\n")
    else:
        print_report(report, out)
    if not report.ok:
        raise typer.Exit(1)
