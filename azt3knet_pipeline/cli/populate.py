"""`azt3knet populate`: preview a population (profiles only, nothing written) or register it and run its
partition; the spec options and the profile renderers the demo shares. Imports inside functions: see cli/common.py."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import typer

from azt3knet_pipeline.cli.common import err, handle_errors, out, quiet_progress, report_run

if TYPE_CHECKING:
    from azt3knet_pipeline.cli.preview import ProfileSource
    from azt3knet_pipeline.domain.models import PopulationSpec


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


def build_spec(
    *,
    count: int | None,
    seed: str | None,
    country: str | None,
    gender: str | None = None,
    city: str | None = None,
    age_range: str | None = None,
    interests: str | None = None,
    locale: str | None = None,
    generator_version: int | None = None,
) -> PopulationSpec:
    """A PopulationSpec from CLI options; missing required options are reported like invalid ones."""
    from azt3knet_pipeline.domain.models import PopulationSpec

    given: dict[str, Any] = {"count": count, "seed": seed, "country": country}
    optional = {
        "gender": gender,
        "city": city,
        "age_range": age_range,
        "interests": interests,
        "locale": locale,
        "generator_version": generator_version,
    }
    given.update({name: value for name, value in optional.items() if value is not None})
    missing = [name for name in ("count", "seed", "country") if given[name] is None]
    if missing:
        raise ValueError(f"{missing[0]}: required (pass --{missing[0]})")
    return PopulationSpec.model_validate(given)


def render_population(source: ProfileSource, fmt: OutputFormat, limit: int | None = None) -> None:
    """Print profiles to stdout in the chosen format (data only on stdout; messages go to stderr). JSONL, CSV and
    JSON stream chunk by chunk; the table also prints the content hash of the whole population."""
    from azt3knet_pipeline.cli import preview

    if fmt is OutputFormat.table:
        from rich.table import Table

        records, content_hash = preview.records_and_hash(source, limit)
        table = Table(title=f"population {source.population_key} (synthetic)", show_lines=False)
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
        err.print(f"content hash {content_hash}", highlight=False)
        return
    writer = {OutputFormat.json: preview.write_json, OutputFormat.jsonl: preview.write_jsonl}.get(
        fmt, preview.write_csv
    )
    preview.prepare_to_stream()
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)  # absent when stdout was replaced by a text-only stream
    try:
        writer(preview.limited(source, limit), buffer.write if buffer else lambda data: sys.stdout.write(data.decode()))
        sys.stdout.flush()
    except BrokenPipeError:
        import os

        # The reader went away (`| head`): stop quietly, and keep Python from failing again on exit's flush.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(1) from None


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
    generator_version: int = typer.Option(
        None,
        "--generator-version",
        help="Generator version. Default: a new population (and a preview) gets the latest, a registered key "
        "keeps its own.",
    ),
    preview: bool = typer.Option(False, "--preview", help="Print profiles only; write nothing anywhere."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="Output format for --preview."),
    limit: int = typer.Option(None, "--limit", min=1, help="With --preview: print only the first N profiles."),
    create_mailboxes: bool = typer.Option(
        False, "--create-mailboxes", help="Also provision mailboxes, DNS and the credential export."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the run summary as JSON (for scripts)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars; errors only (and --json output)."),
    adopt_domain: bool = typer.Option(
        False, "--adopt-domain", help="Provision into an existing mail domain azt3knet did not create (tags it)."
    ),
) -> None:
    """Generate a population: preview it, or register it and materialize its Dagster partition."""
    from azt3knet_pipeline.domain.models import LATEST_GENERATOR_VERSION, validate_population_key

    if preview and generator_version is None:
        # A preview shows what registering these fields would produce: a new population gets the latest version.
        generator_version = LATEST_GENERATOR_VERSION
    spec = build_spec(
        count=count,
        seed=seed,
        country=country,
        gender=gender,
        city=city,
        age_range=age_range,
        interests=interests,
        locale=locale,
        generator_version=generator_version,
    )
    key = validate_population_key(key) if key else spec.default_key()
    if preview:
        from azt3knet_pipeline.domain.generation import stream_population

        render_population(stream_population(spec, key), fmt, limit)
        return
    from azt3knet_pipeline.cli.progress import ProgressLaunch
    from azt3knet_pipeline.names import AGENT_PROFILES
    from azt3knet_pipeline.orchestration.instance import get_instance
    from azt3knet_pipeline.services import populations
    from azt3knet_pipeline.settings import get_settings

    settings = get_settings()
    store = populations.open_store(settings)
    instance = get_instance(settings)
    launch = ProgressLaunch(
        instance=instance, store=store, mailboxes=spec.count, console=err, quiet=quiet_progress(quiet, as_json)
    )
    result = populations.populate(
        spec,
        key,
        store=store,
        settings=settings,
        instance=instance,
        launch=launch,
        create_mailboxes=create_mailboxes,
        adopt_domain=adopt_domain,
    )
    outcome, created = result.run, result.registered
    headline = (
        f"population [bold]{key}[/] ({'registered' if created else 'already registered'}): "
        f"{spec.count} agents, run {outcome.run_id}"
    )
    report_run(
        outcome,
        settings,
        as_json=as_json,
        headline=None if quiet else headline,
        registered=created,
        count=spec.count,
        content_hash=outcome.metadata.get(AGENT_PROFILES, {}).get("content_hash"),
    )
