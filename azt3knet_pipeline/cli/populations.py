"""`azt3knet populations list|show|describe`: inspect registered populations. `list` and `show` answer from the
project store and never load Dagster; only `show --assets` does (tests/integration/test_cli_imports.py). Imports
inside functions: see cli/common.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from azt3knet_pipeline.cli.common import err, handle_errors, out

populations_app = typer.Typer(help="Inspect registered populations.", no_args_is_help=True)


@populations_app.command("list")
@handle_errors
def populations_list(as_json: bool = typer.Option(False, "--json", help="JSON lines for scripts.")) -> None:
    """List registered populations."""
    from azt3knet_pipeline.domain.models import canonical_json
    from azt3knet_pipeline.services.populations import open_store
    from azt3knet_pipeline.settings import get_settings

    rows = open_store(get_settings()).list_populations()
    if as_json:
        for population in rows:
            summary = {
                "key": population.key,
                "status": population.status,
                "spec_hash": population.spec_hash,
                "spec": population.spec.canonical(),
            }
            sys.stdout.write(canonical_json(summary) + "\n")
        return
    from rich.table import Table

    table = Table(title="populations")
    for column in ("key", "status", "count", "country", "seed", "spec hash"):
        table.add_column(column)
    for population in rows:
        spec = population.spec
        table.add_row(
            population.key, population.status, str(spec.count), spec.country, str(spec.seed), population.spec_hash[:12]
        )
    out.print(table)


@populations_app.command("show")
@handle_errors
def populations_show(
    key: str,
    as_json: bool = typer.Option(False, "--json", help="One JSON object (for scripts)."),
    assets: bool = typer.Option(
        False, "--assets", help="Also the latest materialization of each asset (run id, time, metadata): reads Dagster."
    ),
) -> None:
    """Show one population from the project store: its spec, status (with the DNS pending time), mailboxes by
    state, credentials and desired rrsets of record; `--assets` adds its latest materializations."""
    from azt3knet_pipeline.services.populations import describe_population, open_store
    from azt3knet_pipeline.settings import get_settings

    settings = get_settings()

    def read_assets(population_key: str) -> dict[str, Any]:
        # Dagster is loaded only when asked for, and once the store knows the key.
        from azt3knet_pipeline.orchestration.instance import get_instance
        from azt3knet_pipeline.orchestration.results import latest_materializations

        return latest_materializations(get_instance(settings), population_key)

    info = describe_population(key, store=open_store(settings), read_assets=read_assets if assets else None)
    if as_json:
        sys.stdout.write(json.dumps(info, indent=2, sort_keys=True, default=str) + "\n")
        return
    status = info["status"]
    if info.get("dns_pending_until"):
        status += f" (DNS write deferred by deSEC until {info['dns_pending_until']})"
    out.print(f"population [bold]{info['key']}[/]: {status}")
    out.print(f"  generator version: {info['generator_version']}", highlight=False)
    out.print(f"  spec: {json.dumps(info['spec'], sort_keys=True)} (hash {info['spec_hash'][:12]})", highlight=False)
    states = ", ".join(f"{count} {state}" for state, count in info["mailboxes"].items()) or "none"
    out.print(f"  mailboxes: {states}; credentials to export: {info['credentials']}", highlight=False)
    desired = info["desired_rrsets"]
    if desired is not None:
        out.print(
            f"  desired rrsets: {desired['count']} in {desired['zone']} (hash {desired['hash'][:12]}, "
            f"written {desired['updated_at']})",
            highlight=False,
        )
    for name, asset in sorted(info.get("assets", {}).items()):
        out.print(f"  {name}: run {asset['run_id']}", highlight=False)


@populations_app.command("describe")
@handle_errors
def populations_describe(
    key: str,
    png: Path = typer.Option(None, "--png", help="Where to write the plot (default $AZT3KNET_HOME/reports/KEY.png)."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON instead of the table."),
) -> None:
    """How faithful a registered population is: age pyramid vs the country's reference, top places vs their
    population share, gender shares, transliteration coverage; a table plus a PNG plot."""
    from azt3knet_pipeline.services.population_report import population_report, report_path, write_png
    from azt3knet_pipeline.services.populations import open_store
    from azt3knet_pipeline.settings import get_settings

    settings = get_settings()
    population = open_store(settings).require_population(key)
    report = population_report(population.spec, key)
    path = write_png(report, png or report_path(settings.home, key), home=settings.home)
    if as_json:
        sys.stdout.write(json.dumps({**report.summary(), "key": key, "png": str(path)}, sort_keys=True) + "\n")
        return
    sys.stdout.write(report.markdown() + "\n")
    err.print(f"plot: {path}", highlight=False)
