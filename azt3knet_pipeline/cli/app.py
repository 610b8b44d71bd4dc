"""The `azt3knet` command line (Typer + Rich)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from enum import Enum
from functools import wraps
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from azt3knet_pipeline.clients.http import ApiError
from azt3knet_pipeline.domain.generation import GeneratedPopulation
from azt3knet_pipeline.domain.models import PopulationSpec, canonical_json, validate_population_key
from azt3knet_pipeline.errors import describe_validation_error
from azt3knet_pipeline.store.crypto import KeyConfigError
from azt3knet_pipeline.store.repository import PopulationConflict, PopulationNotFound

app = typer.Typer(
    name="azt3knet",
    help="Deterministic synthetic populations with real mailboxes and DNS. Every profile is synthetic.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
populations_app = typer.Typer(help="Inspect registered populations.", no_args_is_help=True)
app.add_typer(populations_app, name="populations")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])

USAGE_ERRORS = (ValidationError, ValueError, PopulationConflict, KeyConfigError)


def fail(message: str, code: int) -> typer.Exit:
    err.print(f"error: {message}", style="bold red", markup=False, highlight=False)
    return typer.Exit(code)


def handle_errors(fn: F) -> F:
    """Bad input → exit 2 with one line naming the field and rule; API and runtime failures → exit 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ValidationError as exc:
            raise fail(describe_validation_error(exc), 2) from None
        except PopulationNotFound as exc:
            raise fail(str(exc), 2) from None
        except USAGE_ERRORS as exc:
            raise fail(str(exc), 2) from None
        except ApiError as exc:
            raise fail(f"{type(exc).__name__}: {exc}", 1) from None

    return wrapper  # type: ignore[return-value]


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


def build_spec(
    *,
    count: int | None,
    seed: str | None,
    country: str | None,
    gender: str | None,
    city: str | None,
    age_range: str | None,
    interests: str | None,
    locale: str | None,
) -> PopulationSpec:
    """A PopulationSpec from CLI options; missing required options are reported like invalid ones."""
    given: dict[str, Any] = {"count": count, "seed": seed, "country": country}
    optional = {"gender": gender, "city": city, "age_range": age_range, "interests": interests, "locale": locale}
    given.update({name: value for name, value in optional.items() if value is not None})
    missing = [name for name in ("count", "seed", "country") if given[name] is None]
    if missing:
        raise ValueError(f"{missing[0]}: required (pass --{missing[0]})")
    return PopulationSpec.model_validate(given)


def render_population(generated: GeneratedPopulation, fmt: OutputFormat, limit: int | None = None) -> None:
    """Print profiles to stdout in the chosen format (data only on stdout; messages go to stderr)."""
    records = generated.records()
    if limit is not None:
        records = records[:limit]
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(records, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
    elif fmt is OutputFormat.jsonl:
        sys.stdout.write("".join(canonical_json(row) + "\n" for row in records))
    elif fmt is OutputFormat.csv:
        frame = generated.frame.head(len(records)).copy()
        for column in ("interests", "behavioral_biases"):
            frame[column] = frame[column].map("|".join)
        sys.stdout.write(frame.to_csv(index=False, lineterminator="\n"))
    else:
        table = Table(title=f"population {generated.population_key} (synthetic)", show_lines=False)
        for column in ("#", "name", "gender", "age", "city", "email local part", "username", "interests"):
            table.add_column(column)
        for row in records:
            table.add_row(
                str(row["index"]),
                row["display_name"],
                row["gender"],
                str(row["age"]),
                row["city"],
                row["email_local_part"],
                row["username"],
                ", ".join(row["interests"]),
            )
        out.print(table)
        err.print(f"content hash {generated.content_hash}", highlight=False)


@app.command()
@handle_errors
def populate(
    count: int = typer.Option(None, "--count", "-n", help="Number of agents (1..AZT3KNET_MAX_POPULATION)."),
    seed: str = typer.Option(None, "--seed", help="Seed: an integer or a short string. Same seed ⇒ same population."),
    country: str = typer.Option(None, "--country", help="ISO 3166-1 alpha-2 code, e.g. ES."),
    gender: str = typer.Option(None, "--gender", help="female|male|non_binary|unspecified (default: mixed)."),
    city: str = typer.Option(None, "--city", help="Put every agent in this city."),
    age_range: str = typer.Option(None, "--age-range", help="LO-HI, e.g. 18-45 (default 18-65)."),
    interests: str = typer.Option(None, "--interests", help="Comma-separated slugs, e.g. hiking,jazz."),
    locale: str = typer.Option(None, "--locale", help="Override the locale derived from the country."),
    key: str = typer.Option(None, "--key", help="Population key (a DNS label). Default: seed-<seed>."),
    preview: bool = typer.Option(False, "--preview", help="Print profiles only; write nothing anywhere."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="Output format for --preview."),
    limit: int = typer.Option(None, "--limit", min=1, help="With --preview: print only the first N profiles."),
    create_mailboxes: bool = typer.Option(
        False, "--create-mailboxes", help="Also provision mailboxes, DNS and the credential export."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON (for scripts)."),
) -> None:
    """Generate a population: preview it, or register it and materialize its Dagster partition."""
    from azt3knet_pipeline import operations

    spec = build_spec(
        count=count, seed=seed, country=country, gender=gender, city=city,
        age_range=age_range, interests=interests, locale=locale,
    )
    key = validate_population_key(key) if key else spec.default_key()
    if preview:
        render_population(operations.preview_population(spec, key), fmt, limit)
        return
    population, created = operations.register_population(spec, key)
    job_name = "populate_job" if create_mailboxes else "profiles_job"
    with err.status(f"materializing {key} ({job_name}) …"):
        outcome = operations.materialize_population(key, job_name=job_name)
    summary = {
        "key": key,
        "registered": created,
        "run_id": outcome.run_id,
        "success": outcome.success,
        "count": spec.count,
        "content_hash": outcome.metadata.get("agent_profiles", {}).get("content_hash"),
        "assets": {name: _scalar_metadata(meta) for name, meta in outcome.metadata.items()},
    }
    if as_json:
        sys.stdout.write(json.dumps(summary, sort_keys=True) + "\n")
    else:
        out.print(f"population [bold]{key}[/] ({'registered' if created else 'already registered'}): "
                  f"{spec.count} agents, run {outcome.run_id}")
        for name, meta in summary["assets"].items():
            out.print(f"  {name}: " + ", ".join(f"{k}={v}" for k, v in meta.items()), highlight=False)
    if not outcome.success:
        raise fail(f"run {outcome.run_id} failed: {outcome.error}", 1)


def _scalar_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if isinstance(v, int | float | str | bool) and k not in {"path", "preview"}}


@populations_app.command("list")
@handle_errors
def populations_list(as_json: bool = typer.Option(False, "--json", help="JSON lines for scripts.")) -> None:
    """List registered populations."""
    from azt3knet_pipeline import operations

    rows = operations.open_store().list_populations()
    if as_json:
        for population in rows:
            sys.stdout.write(canonical_json({
                "key": population.key, "status": population.status, "spec_hash": population.spec_hash,
                "spec": population.spec.canonical(),
            }) + "\n")
        return
    table = Table(title="populations")
    for column in ("key", "status", "count", "country", "seed", "spec hash"):
        table.add_column(column)
    for population in rows:
        spec = population.spec
        table.add_row(population.key, population.status, str(spec.count), spec.country, str(spec.seed),
                      population.spec_hash[:12])
    out.print(table)


@populations_app.command("show")
@handle_errors
def populations_show(key: str) -> None:
    """Show one population: its spec, status and latest materializations."""
    from azt3knet_pipeline import operations

    info = operations.describe_population(key)
    sys.stdout.write(json.dumps(info, indent=2, sort_keys=True, default=str) + "\n")


@app.command()
@handle_errors
def demo(
    count: int = typer.Option(25, "--count", help="Agents in the demo population."),
    seed: str = typer.Option("42", "--seed"),
    country: str = typer.Option("ES", "--country"),
) -> None:
    """Run a demo population end to end on the embedded default (SQLite + local Dagster instance)."""
    from azt3knet_pipeline import operations

    spec = build_spec(count=count, seed=seed, country=country, gender=None, city=None,
                      age_range=None, interests=None, locale=None)
    key = f"demo-{spec.default_key()}"
    population, created = operations.register_population(spec, key, actor="demo")
    with err.status(f"materializing {key} …"):
        outcome = operations.materialize_population(key, job_name="populate_job")
    if not outcome.success:
        raise fail(f"demo run {outcome.run_id} failed: {outcome.error}", 1)
    generated = operations.preview_population(spec, key)
    render_population(generated, OutputFormat.table, limit=10)
    profiles_meta = outcome.metadata.get("agent_profiles", {})
    out.print(f"demo population [bold]{key}[/]: {spec.count} agents, content hash "
              f"{profiles_meta.get('content_hash')}, run {outcome.run_id}", highlight=False)
    out.print("Open the Dagster UI to see it: [bold]dagster dev -w workspace.yaml[/] "
              "(with the same DAGSTER_HOME)", highlight=False)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
