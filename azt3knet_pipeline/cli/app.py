"""The `azt3knet` command line (Typer + Rich)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from enum import StrEnum
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import typer
from rich.console import Console
from rich.table import Table

# Commands pay only for what they use: Dagster, pandas, SQLAlchemy, httpx, pydantic and the generator are
# imported inside the commands (and the error handler) that need them, so `--help` and `populate --preview`
# start in a fraction of a second (issue 11; tests/integration/test_cli_imports.py keeps it so).
if TYPE_CHECKING:
    from azt3knet_pipeline.cli.preview import ProfileSource
    from azt3knet_pipeline.domain.models import PopulationSpec

from azt3knet_pipeline.cli.failure import run_failure_line, run_log_config, set_verbose, verbose

app = typer.Typer(
    name="azt3knet",
    help="Deterministic synthetic populations with real mailboxes and DNS. Every profile is synthetic.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        sys.stdout.write(f"azt3knet {version('azt3knet-pipeline')}\n")
        raise typer.Exit()


@app.callback()
def _options(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
    verbose: bool = typer.Option(
        False, "--verbose", help="Show stack traces and Dagster's own log output (default: one line per failure)."
    ),
) -> None:
    """Deterministic synthetic populations with real mailboxes and DNS. Every profile is synthetic."""
    # A server's log is its operator's only view: `api serve` keeps Dagster's warnings.
    set_verbose(verbose or ctx.invoked_subcommand == "api")


populations_app = typer.Typer(help="Inspect registered populations.", no_args_is_help=True)
app.add_typer(populations_app, name="populations")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


def usage_errors() -> tuple[type[Exception], ...]:
    """Exceptions that mean bad input (exit 2). Imported when an error is handled, not at startup."""
    from pydantic import ValidationError

    from azt3knet_pipeline.store.crypto import KeyConfigError
    from azt3knet_pipeline.store.repository import PopulationConflict, PopulationNotFound

    return (ValidationError, ValueError, PopulationNotFound, PopulationConflict, KeyConfigError)


def fail(message: str, code: int) -> typer.Exit:
    """Print one `error:` line on stderr (the stack trace before it only with --verbose); the exit to raise."""
    if verbose() and sys.exc_info()[0] is not None:
        err.print_exception()
    err.print(f"error: {message}", style="bold red", markup=False, highlight=False)
    return typer.Exit(code)


def fail_run(outcome: Any) -> typer.Exit:
    """One line for a failed run: step, cause, endpoint, where the full log is."""
    from azt3knet_pipeline.settings import get_settings

    return fail(run_failure_line(outcome, get_settings()), 1)


def handle_errors(fn: F) -> F:
    """Bad input → exit 2 with one line naming the field and rule; API and runtime failures → exit 1; anything
    unexpected → exit 1 with one line (its stack trace only with --verbose)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:
            from pydantic import ValidationError

            from azt3knet_pipeline.clients.http import ApiError
            from azt3knet_pipeline.errors import describe_validation_error

            if isinstance(exc, ValidationError):
                raise fail(describe_validation_error(exc), 2) from None
            if isinstance(exc, usage_errors()):
                raise fail(str(exc), 2) from None
            if isinstance(exc, ApiError):
                raise fail(f"{type(exc).__name__}: {exc}", 1) from None
            hint = "" if verbose() else " (run with --verbose for the stack trace)"
            raise fail(f"{type(exc).__name__}: {exc}{hint}", 1) from None

    return wrapper  # type: ignore[return-value]


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
    gender: str | None,
    city: str | None,
    age_range: str | None,
    interests: str | None,
    locale: str | None,
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
    quiet_progress = quiet or as_json or not err.is_terminal
    result = populations.populate(
        spec,
        key,
        store=store,
        settings=settings,
        instance=instance,
        launch=ProgressLaunch(instance=instance, store=store, mailboxes=spec.count, console=err, quiet=quiet_progress),
        create_mailboxes=create_mailboxes,
        adopt_domain=adopt_domain,
    )
    outcome, created = result.run, result.registered
    summary = {
        "key": key,
        "registered": created,
        "run_id": outcome.run_id,
        "success": outcome.success,
        "count": spec.count,
        "content_hash": outcome.metadata.get(AGENT_PROFILES, {}).get("content_hash"),
        "assets": {name: _scalar_metadata(meta) for name, meta in outcome.metadata.items()},
    }
    if as_json:
        sys.stdout.write(json.dumps(summary, sort_keys=True) + "\n")
    elif not quiet:
        out.print(
            f"population [bold]{key}[/] ({'registered' if created else 'already registered'}): "
            f"{spec.count} agents, run {outcome.run_id}"
        )
        for name, meta in summary["assets"].items():
            out.print(f"  {name}: " + ", ".join(f"{k}={v}" for k, v in meta.items()), highlight=False)
    _warn_dns_deferred(key, outcome.metadata)
    if not outcome.success:
        raise fail_run(outcome)


def _warn_dns_deferred(key: str, metadata: dict[str, dict[str, Any]]) -> None:
    """A run whose DNS write deSEC deferred succeeds; say so in one line (what, until when, who finishes it)."""
    from datetime import datetime

    from azt3knet_pipeline.names import DNS_RECORDS
    from azt3knet_pipeline.services.dns import DnsDeferral

    dns = metadata.get(DNS_RECORDS, {})
    if dns.get("dns_pending_until"):
        until = datetime.fromisoformat(str(dns["dns_pending_until"]).replace("Z", "+00:00"))
        deferral = DnsDeferral(zone=str(dns.get("zone")), keys=(key,), until=until)
        err.print(deferral.line(), markup=False, highlight=False)


def _scalar_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if isinstance(v, int | float | str | bool) and k not in {"path", "preview"}}


@populations_app.command("list")
@handle_errors
def populations_list(as_json: bool = typer.Option(False, "--json", help="JSON lines for scripts.")) -> None:
    """List registered populations."""
    from azt3knet_pipeline.domain.models import canonical_json
    from azt3knet_pipeline.services import populations
    from azt3knet_pipeline.settings import get_settings

    rows = populations.open_store(get_settings()).list_populations()
    if as_json:
        for population in rows:
            sys.stdout.write(
                canonical_json(
                    {
                        "key": population.key,
                        "status": population.status,
                        "spec_hash": population.spec_hash,
                        "spec": population.spec.canonical(),
                    }
                )
                + "\n"
            )
        return
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
    key: str, as_json: bool = typer.Option(False, "--json", help="One JSON object (for scripts).")
) -> None:
    """Show one population: its spec, status (with the DNS pending time) and latest materializations."""
    from azt3knet_pipeline.services import populations
    from azt3knet_pipeline.settings import get_settings

    settings = get_settings()

    def read_assets(population_key: str) -> dict[str, Any]:
        # Dagster only for a registered population: an unknown key fails before the instance is opened.
        from azt3knet_pipeline.orchestration.instance import get_instance
        from azt3knet_pipeline.orchestration.results import latest_materializations

        return latest_materializations(get_instance(settings), population_key)

    info = populations.describe_population(key, store=populations.open_store(settings), read_assets=read_assets)
    if as_json:
        sys.stdout.write(json.dumps(info, indent=2, sort_keys=True, default=str) + "\n")
        return
    status = info["status"]
    if info.get("dns_pending_until"):
        status += f" (DNS write deferred by deSEC until {info['dns_pending_until']})"
    out.print(f"population [bold]{info['key']}[/]: {status}")
    out.print(f"  generator version: {info['generator_version']}", highlight=False)
    out.print(f"  spec: {json.dumps(info['spec'], sort_keys=True)} (hash {info['spec_hash'][:12]})", highlight=False)
    for name, asset in sorted(info["assets"].items()):
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
    path = write_png(report, png or report_path(settings.home, key))
    if as_json:
        sys.stdout.write(json.dumps({**report.summary(), "key": key, "png": str(path)}, sort_keys=True) + "\n")
        return
    sys.stdout.write(report.markdown() + "\n")
    err.print(f"plot: {path}", highlight=False)


@app.command()
@handle_errors
def demo(
    count: int = typer.Option(25, "--count", help="Agents in the demo population."),
    seed: str = typer.Option("42", "--seed"),
    country: str = typer.Option("ES", "--country"),
    verify_sample: int = typer.Option(10, "--verify-sample", min=0, help="Mailboxes the demo logs in to (0 = all)."),
) -> None:
    """Run a demo population end to end: profiles, mailboxes, DNS and the encrypted credential bundle, on the
    embedded default (SQLite + a local Dagster instance) against local Mailcow/deSEC stand-ins it starts; then log
    in to a sample of the mailboxes and send one message between two agents on a local Dovecot (if installed)."""
    import os

    from azt3knet_pipeline.names import AGENT_PROFILES, CREDENTIAL_EXPORT, DNS_RECORDS, MAILBOXES
    from azt3knet_pipeline.orchestration.instance import get_instance
    from azt3knet_pipeline.orchestration.launch import materialize_population
    from azt3knet_pipeline.sandbox.dovecot import dovecot_missing
    from azt3knet_pipeline.sandbox.run import running_sandbox
    from azt3knet_pipeline.services import populations
    from azt3knet_pipeline.services.verify import verify_with_settings
    from azt3knet_pipeline.settings import get_settings

    spec = build_spec(
        count=count, seed=seed, country=country, gender=None, city=None, age_range=None, interests=None, locale=None
    )
    # The demo keeps its own home so it never mixes stand-in state with a real installation's store.
    home = get_settings().home / "demo"  # AZT3KNET_HOME, else ~/.azt3knet (never $HOME)
    os.environ["AZT3KNET_HOME"] = str(home)
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    os.environ.pop("AZT3KNET_DATABASE_URL", None)
    if not os.environ.get("SECRET_KEY_FOR_KV_ENC"):
        os.environ["SECRET_KEY_FOR_KV_ENC"] = _demo_key(home / "demo.key")
    key = f"demo-{spec.default_key()}"
    no_dovecot = dovecot_missing()
    report = None
    with running_sandbox(state_dir=home / "sandbox", mail_server=no_dovecot is None) as sandbox:
        os.environ.update(sandbox.env)
        get_settings.cache_clear()
        settings = get_settings()
        instance = get_instance(settings)

        def launch(population_key: str, *, job_name: str, run_config: dict[str, Any] | None = None) -> Any:
            config = {**run_log_config(), **(run_config or {})}
            return materialize_population(population_key, instance=instance, job_name=job_name, run_config=config)

        with err.status(f"materializing {key}: profiles → mailboxes → DNS → credentials …"):
            populated = populations.populate(
                spec,
                key,
                store=populations.open_store(settings),
                settings=settings,
                instance=instance,
                launch=launch,
                create_mailboxes=True,
                actor="demo",
            )
        population, outcome = populated.population, populated.run
        mailcow_counts = sandbox.mailcow_app.state.sandbox.counters()  # type: ignore[attr-defined]
        desec_counts = sandbox.desec_app.state.sandbox.counters()  # type: ignore[attr-defined]
        if outcome.success and no_dovecot is None:
            with err.status(f"verifying {key}: IMAPS logins and one message between two agents …"):
                report = verify_with_settings(key, sample=verify_sample, send=True, actor="demo")
    if not outcome.success:
        raise fail_run(outcome)
    # The registered spec (with its generator version), so the table and its hash are the materialized profiles.
    render_population(populations.preview_population(population.spec, key), OutputFormat.table, limit=10)
    meta = outcome.metadata
    out.print(f"demo population [bold]{key}[/]: {spec.count} synthetic agents, run {outcome.run_id}", highlight=False)
    out.print(f"  profiles: content hash {meta.get(AGENT_PROFILES, {}).get('content_hash')}", highlight=False)
    mb = meta.get(MAILBOXES, {})
    out.print(
        f"  mailboxes on {mb.get('mail_domain')}: {mb.get('created')} created, {mb.get('unchanged')} unchanged "
        f"(stand-in saw {mailcow_counts.get('writes')} writes)",
        highlight=False,
    )
    dns = meta.get(DNS_RECORDS, {})
    out.print(
        f"  DNS in {dns.get('zone')}: {dns.get('desired')} rrsets desired, {dns.get('changed')} written in "
        f"{dns.get('write_count')} bulk request(s) (stand-in saw {desec_counts.get('writes')} writes)",
        highlight=False,
    )
    out.print(
        f"  credentials: {meta.get(CREDENTIAL_EXPORT, {}).get('bundle_path')} (Fernet-encrypted, mode 0600)",
        highlight=False,
    )
    if report is None:
        out.print(f"  verify: skipped, Dovecot is not installed ({no_dovecot})", markup=False, highlight=False)
    else:
        _print_verify(report)
    out.print(
        f"Run it again: it converges with zero writes. See it in the Dagster UI: "
        f"DAGSTER_HOME={home / 'dagster'} dagster dev -w workspace.yaml",
        highlight=False,
    )
    if report is not None and not report.ok:
        raise fail(f"demo population {key}: mailbox verification failed (see the lines above)", 1)


def _demo_key(path: Any) -> str:
    """The demo's own Fernet key, made once and kept (mode 0600) beside the demo store."""
    from cryptography.fernet import Fernet

    from azt3knet_pipeline.private_files import ensure_private_dir, write_private

    if path.exists():
        return path.read_text().strip()
    key = Fernet.generate_key().decode()
    ensure_private_dir(path.parent)
    write_private(path, key.encode())
    err.print(f"demo: SECRET_KEY_FOR_KV_ENC is not set; generated a demo-only key in {path}", markup=False)
    return key


@app.command()
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

    report = verify_with_settings(key, sample=sample, send=send)
    if as_json:
        sys.stdout.write(report.model_dump_json() + "\n")
    else:
        _print_verify(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_verify(report: Any) -> None:
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


@app.command()
def sandbox(
    host: str = typer.Option("127.0.0.1", "--host", help="Loopback address to bind."),
    mailcow_port: int = typer.Option(8081, "--mailcow-port"),
    desec_port: int = typer.Option(8082, "--desec-port"),
    zone: str = typer.Option("azt3knet.test", "--zone", help="Zone pre-created on the deSEC stand-in."),
    state_dir: str = typer.Option(None, "--state-dir", help="Keep stand-in state in JSON files here."),
) -> None:
    """Serve the local Mailcow and deSEC stand-ins and, if installed, a Dovecot whose users follow the Mailcow
    stand-in (IMAPS + submission on loopback, self-signed certificate) until interrupted."""
    import signal
    import time
    from pathlib import Path

    from azt3knet_pipeline.sandbox.dovecot import dovecot_missing
    from azt3knet_pipeline.sandbox.run import start_sandbox

    no_dovecot = dovecot_missing()
    if no_dovecot:
        err.print(f"Dovecot is not installed ({no_dovecot}): no mail server, `verify` cannot log in", markup=False)
    running = start_sandbox(
        host=host,
        mailcow_port=mailcow_port,
        desec_port=desec_port,
        zone=zone,
        state_dir=Path(state_dir) if state_dir else None,
        mail_server=no_dovecot is None,
    )
    if running.dovecot is not None:
        err.print(
            f"Dovecot on 127.0.0.1: IMAPS {running.dovecot.imaps_port}, submission {running.dovecot.submission_port} "
            f"(users follow the Mailcow stand-in; log {running.dovecot.log_path})",
            markup=False,
        )
    err.print("stand-ins running; point the pipeline at them with:", markup=False)
    for name, value in running.env.items():
        sys.stdout.write(f"export {name}={value}\n")
    sys.stdout.flush()
    # SIGTERM (service managers, `kill`) must stop Dovecot too, not orphan it: leave through `finally`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()


dns_app = typer.Typer(help="DNS on deSEC: bootstrap, dynamic DNS, reconcile.", no_args_is_help=True)
app.add_typer(dns_app, name="dns")


@dns_app.command("bootstrap")
@handle_errors
def dns_bootstrap(
    ipv4: str = typer.Option(None, "--ipv4", help="Mail host IPv4 (default: detected, see DYNDNS_*)."),
    ipv6: str = typer.Option(None, "--ipv6", help="Mail host IPv6."),
    srv: bool = typer.Option(False, "--srv", help="Also write Mailcow's SRV records."),
) -> None:
    """Write the zone's base records (mail host A/AAAA, MX, SPF, DMARC, autoconfig) in one bulk write."""
    from azt3knet_pipeline.clients.factory import desec_client
    from azt3knet_pipeline.services.dns import bootstrap_dns, detect_public_ips
    from azt3knet_pipeline.settings import get_settings

    settings = get_settings()
    if ipv4 is None and ipv6 is None:
        ipv4, ipv6 = detect_public_ips(settings)
    with desec_client(settings) as client:
        report = bootstrap_dns(desec=client, settings=settings, ipv4=ipv4, ipv6=ipv6, include_srv=srv)
    out.print(
        f"{report.zone}: {report.desired} base rrsets desired, {report.changed} written "
        f"({report.writes} write request(s))",
        highlight=False,
    )


@dns_app.command("dyndns")
@handle_errors
def dns_dyndns() -> None:
    """Update the mail host's A/AAAA to the current public IP, only if it changed."""
    from azt3knet_pipeline.clients.factory import desec_client
    from azt3knet_pipeline.services.dns import detect_public_ips, update_mail_host
    from azt3knet_pipeline.settings import get_settings

    settings = get_settings()
    ipv4, ipv6 = detect_public_ips(settings)
    with desec_client(settings) as client:
        result = update_mail_host(desec=client, settings=settings, ipv4=ipv4, ipv6=ipv6)
    out.print(f"{settings.mail_hostname}: A={ipv4} AAAA={ipv6}; {result.changed} rrset(s) changed", highlight=False)


EX_TEMPFAIL = 75  # sysexits.h: a temporary failure, try again later (deSEC deferred the write)


@dns_app.command("reconcile")
@handle_errors
def dns_reconcile(
    keys: list[str] = typer.Argument(None, help="Population keys (default: all provisioned or dns_pending)."),
) -> None:
    """Re-write the stored desired rrsets of many populations (dns_pending ones included) in ONE bulk write.

    Exits 75 with one line when deSEC defers the write again (the populations stay dns_pending with its time).
    """
    from azt3knet_pipeline.clients.factory import desec_client
    from azt3knet_pipeline.services.dns import reconcile_stored
    from azt3knet_pipeline.services.populations import open_store
    from azt3knet_pipeline.settings import get_settings

    settings = get_settings()
    store = open_store(settings)
    with desec_client(settings) as client:
        report = reconcile_stored(desec=client, store=store, settings=settings, keys=keys or None)
    if report.deferral is not None:
        err.print(report.deferral.line(), markup=False, highlight=False)
        raise typer.Exit(EX_TEMPFAIL)
    from azt3knet_pipeline.orchestration.instance import get_instance
    from azt3knet_pipeline.orchestration.results import record_dns_reconciled

    reconciled = list(store.desired_rrsets(settings.desec_domain, keys or None))
    record_dns_reconciled(get_instance(settings), report.metadata(), keys=reconciled)
    for key in sorted(set(store.dns_pending()) - set(store.desired_rrsets(settings.desec_domain))):
        err.print(f"{key}: DNS pending, its rrsets were never computed; run `azt3knet recreate {key}`", markup=False)
    out.print(
        f"{report.zone}: {report.desired} rrsets desired, {report.changed} changed in {report.writes} write request(s)"
        + (f"; now provisioned: {', '.join(report.provisioned)}" if report.provisioned else ""),
        highlight=False,
    )


@app.command()
@handle_errors
def recreate(
    key: str = typer.Argument(..., help="Population key."),
    as_json: bool = typer.Option(False, "--json"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    adopt_domain: bool = typer.Option(
        False, "--adopt-domain", help="Provision into an existing mail domain azt3knet did not create (tags it)."
    ),
) -> None:
    """Re-materialize a population's partition: converge mailboxes, DKIM and DNS (idempotent)."""
    from azt3knet_pipeline.cli.progress import ProgressLaunch
    from azt3knet_pipeline.orchestration.instance import get_instance
    from azt3knet_pipeline.services import populations
    from azt3knet_pipeline.settings import get_settings

    settings = get_settings()
    store = populations.open_store(settings)
    count = store.require_population(key).spec.count
    instance = get_instance(settings)
    launch = ProgressLaunch(
        instance=instance, store=store, mailboxes=count, console=err, quiet=quiet or as_json or not err.is_terminal
    )
    outcome = populations.recreate(
        key, store=store, settings=settings, instance=instance, launch=launch, adopt_domain=adopt_domain
    )
    _print_outcome(outcome, as_json)


def _print_outcome(outcome: Any, as_json: bool) -> None:
    summary = {
        "key": outcome.key,
        "run_id": outcome.run_id,
        "success": outcome.success,
        "assets": {name: _scalar_metadata(meta) for name, meta in outcome.metadata.items()},
    }
    if as_json:
        sys.stdout.write(json.dumps(summary, sort_keys=True) + "\n")
    else:
        out.print(
            f"population [bold]{outcome.key}[/]: run {outcome.run_id} {'succeeded' if outcome.success else 'FAILED'}"
        )
        for name, meta in summary["assets"].items():
            out.print(f"  {name}: " + ", ".join(f"{k}={v}" for k, v in meta.items()), highlight=False)
    _warn_dns_deferred(outcome.key, outcome.metadata)
    if not outcome.success:
        raise fail_run(outcome)


@app.command()
@handle_errors
def plan(
    key: str = typer.Argument(..., help="Population key."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable plan."),
    adopt_domain: bool = typer.Option(False, "--adopt-domain", help="Plan a recreate with --adopt-domain."),
) -> None:
    """Show every write a recreate would make (Mailcow domain, DKIM, mailboxes; DNS), without writing anything."""
    from azt3knet_pipeline.services import populations
    from azt3knet_pipeline.settings import get_settings

    settings = get_settings()
    result = populations.plan(key, store=populations.open_store(settings), settings=settings, adopt_domain=adopt_domain)
    if as_json:
        sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
        return
    mb = result["mailboxes"]
    out.print(f"plan for [bold]{key}[/] ({result['mail_domain']})", highlight=False)
    if result["blocked"]:
        out.print(f"  [red]recreate would stop before any write: {result['blocked']}[/]", highlight=False)
    for write in result["writes"]["mailcow"]:
        if write["route"] in ("add/domain", "edit/domain", "add/dkim"):
            attrs = f" ({', '.join(write['attrs'])})" if write["attrs"] else ""
            out.print(f"  [yellow]{write['route']} {write['object']}{attrs}[/]", highlight=False)
    for address in mb["to_create"]:
        out.print(f"  [green]+ mailbox {address}[/]", highlight=False)
    for change in mb["to_update"]:
        out.print(f"  [yellow]~ mailbox {change['address']} ({', '.join(change['changes'])})[/]", highlight=False)
    for address in mb["to_remove"]:
        out.print(f"  [red]- mailbox {address}[/]", highlight=False)
    for address in mb["conflicts"]:
        out.print(f"  [red]! {address} is taken by a mailbox azt3knet did not create (left alone)[/]", highlight=False)
    dns = result.get("dns") or {}
    for rrset in dns.get("to_upsert", []):
        out.print(f"  [yellow]~ rrset {rrset['subname'] or '@'} {rrset['type']}[/]", highlight=False)
    for rrset in dns.get("to_delete", []):
        out.print(f"  [red]- rrset {rrset['subname'] or '@'} {rrset['type']}[/]", highlight=False)
    domain_routes = ("add/domain", "edit/domain", "add/dkim")
    domain_writes = sum(1 for w in result["writes"]["mailcow"] if w["route"] in domain_routes)
    out.print(
        f"Plan: {domain_writes} domain/DKIM write(s); {len(mb['to_create'])} to create, {len(mb['to_update'])} to "
        f"update, {len(mb['to_remove'])} to remove, {mb['unchanged']} unchanged mailboxes; "
        f"{len(dns.get('to_upsert', []))} rrsets to write, {len(dns.get('to_delete', []))} to delete."
    )


@app.command("export-credentials")
@handle_errors
def export_credentials(
    key: str = typer.Argument(..., help="Population key."),
    out_path: str = typer.Option(..., "--out", help="File to write (mode 0600); its folder must exist."),
    plaintext: bool = typer.Option(False, "--plaintext", help="Write plaintext JSON (audit-logged)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing regular file (atomically)."),
) -> None:
    """Export a population's credentials: Fernet-encrypted by default, plaintext only with --plaintext.

    Never writes through a symlink, over a special file or folder, or over an existing file without --force."""
    from azt3knet_pipeline.services import populations
    from azt3knet_pipeline.settings import get_settings

    settings = get_settings()
    result = populations.export_credentials(
        key, out_path, store=populations.open_store(settings), settings=settings, plaintext=plaintext, force=force
    )
    kind = "PLAINTEXT" if plaintext else "encrypted"
    out.print(f"wrote {result['mailboxes']} credentials ({kind}) to {result['path']} (mode 0600)", highlight=False)


@app.command()
@handle_errors
def teardown(
    key: str = typer.Argument(..., help="Population key."),
    yes: bool = typer.Option(False, "--yes", help="Apply the plan: delete mailboxes, DKIM, domain and DNS."),
    as_json: bool = typer.Option(False, "--json", help="Print the plan (and with --yes the outcome) as JSON."),
) -> None:
    """Plan the removal of a population's mailboxes, DKIM key, mail domain and DNS records; apply it with --yes.

    Both APIs are read first: if either read fails, nothing is written anywhere (exit 1). The population stays
    registered and recreatable.
    """
    from azt3knet_pipeline.services import populations
    from azt3knet_pipeline.settings import get_settings

    settings = get_settings()
    store = populations.open_store(settings)
    if not yes:
        plan = populations.teardown_plan(key, store=store, settings=settings)
        if as_json:
            sys.stdout.write(json.dumps(plan.to_dict(), sort_keys=True) + "\n")
            return
        out.print(f"teardown plan for [bold]{key}[/] ({plan.mail_domain}):", highlight=False)
        for line in plan.writes() or ["nothing to remove"]:
            out.print(f"  {line}", highlight=False, markup=False)
        for note in plan.notes:
            out.print(f"  note: {note}", highlight=False, markup=False)
        out.print("Nothing was changed; pass --yes to apply.", highlight=False)
        return
    from azt3knet_pipeline.cli.failure import run_log_config
    from azt3knet_pipeline.orchestration.instance import get_instance
    from azt3knet_pipeline.orchestration.launch import materialize_population

    instance = get_instance(settings)
    result = populations.teardown(
        key,
        store=store,
        instance=instance,
        launch=lambda k, *, job_name, run_config=None: materialize_population(
            k, instance=instance, job_name=job_name, run_config={**run_log_config(), **(run_config or {})}
        ),
    )
    if as_json:
        sys.stdout.write(json.dumps(vars(result), sort_keys=True, default=str) + "\n")
    else:
        out.print(
            f"tore down {key}: {result.mailboxes_removed} mailboxes removed, domain "
            f"{'removed' if result.domain_removed else 'kept'}, {result.rrsets_removed} rrsets removed",
            highlight=False,
        )
    for note in result.plan.get("notes", []):
        err.print(f"note: {note}", markup=False, highlight=False)


keys_app = typer.Typer(help="Encryption keys (SECRET_KEY_FOR_KV_ENC).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("rotate")
@handle_errors
def keys_rotate(
    dry_run: bool = typer.Option(False, "--dry-run", help="Check every ciphertext and report; change nothing."),
) -> None:
    """Re-encrypt every stored secret and bundle under the first key of SECRET_KEY_FOR_KV_ENC, all or nothing.

    Every ciphertext must decrypt first; on any failure nothing changes (exit 2, naming what failed)."""
    from azt3knet_pipeline.services import populations
    from azt3knet_pipeline.settings import get_settings

    settings = get_settings()
    report = populations.rotate_keys(store=populations.open_store(settings), settings=settings, dry_run=dry_run)
    counts = ", ".join(f"{report[kind]} {kind}" for kind in ("kv_secret", "agent_mailbox", "bundles"))
    older = f"{report['under_older_keys']} still under an older key"
    if dry_run:
        out.print(f"would re-encrypt {counts} ({older}); nothing changed (dry run)", highlight=False)
    else:
        out.print(f"re-encrypted {counts} (were {older})", highlight=False)


@keys_app.command("generate")
def keys_generate() -> None:
    """Print a new Fernet key (prepend it to SECRET_KEY_FOR_KV_ENC, then run `keys rotate`)."""
    from cryptography.fernet import Fernet

    sys.stdout.write(Fernet.generate_key().decode() + "\n")


api_app = typer.Typer(help="The REST API (see docs/api.md).", no_args_is_help=True)
app.add_typer(api_app, name="api")


@api_app.command("serve")
@handle_errors
def api_serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind."),
    port: int = typer.Option(8000, "--port", help="Port to bind."),
    executor: str = typer.Option(
        None, "--executor", help="auto|daemon|embedded: who executes runs (default: AZT3KNET_API_RUN_EXECUTOR, auto)."
    ),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
) -> None:
    """Serve the REST API with uvicorn. Refuses to start without AZT3KNET_ADMIN_TOKEN."""
    import os

    import uvicorn

    from azt3knet_pipeline.api.security import AdminTokenError, admin_token
    from azt3knet_pipeline.orchestration.launch import EXECUTOR_ENV, executor_mode_from_env
    from azt3knet_pipeline.settings import get_settings

    if executor is not None:
        os.environ[EXECUTOR_ENV] = executor
    try:
        admin_token(get_settings())
        mode = executor_mode_from_env()
    except AdminTokenError as exc:
        raise fail(str(exc), 2) from None
    err.print(
        f"azt3knet API on http://{host}:{port} (runs: {mode}; OpenAPI at /openapi.json)", markup=False, highlight=False
    )
    uvicorn.run("azt3knet_pipeline.api.app:app", host=host, port=port, log_level=log_level, workers=1)


@app.command()
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


def main() -> None:
    """Console-script entry point. Everything the CLI (and `api serve`) creates is private: 0600 / 0700."""
    from azt3knet_pipeline.private_files import restrict_umask

    restrict_umask()
    app()


if __name__ == "__main__":
    main()
