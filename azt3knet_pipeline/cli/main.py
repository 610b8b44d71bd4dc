"""The `azt3knet` command line (Typer + Rich): the app, its global options, and which module serves which
command. Commands live one group per module (`cli/populate.py`, `cli/populations.py`, ...); see cli/common.py
for why they import inside their functions."""

from __future__ import annotations

import sys

import typer

from azt3knet_pipeline.cli import doctor, lifecycle, populate, sandbox, verify
from azt3knet_pipeline.cli.api import api_app
from azt3knet_pipeline.cli.dns import dns_app
from azt3knet_pipeline.cli.failure import set_verbose
from azt3knet_pipeline.cli.keys import keys_app
from azt3knet_pipeline.cli.populations import populations_app

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


# In the order `azt3knet --help` lists them.
app.add_typer(populations_app, name="populations")
app.command()(populate.populate)
app.command()(sandbox.demo)
app.command()(verify.verify)
app.command()(sandbox.sandbox)
app.add_typer(dns_app, name="dns")
app.command()(lifecycle.recreate)
app.command()(lifecycle.plan)
app.command("export-credentials")(lifecycle.export_credentials)
app.command()(lifecycle.teardown)
app.add_typer(keys_app, name="keys")
app.add_typer(api_app, name="api")
app.command()(doctor.doctor)


def main() -> None:
    """Console-script entry point. Everything the CLI (and `api serve`) creates is private: 0600 / 0700."""
    from azt3knet_pipeline.private_files import restrict_umask

    restrict_umask()
    app()


if __name__ == "__main__":
    main()
