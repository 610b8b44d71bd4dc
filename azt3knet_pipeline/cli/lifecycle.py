"""`azt3knet recreate|plan|export-credentials|teardown`: the life of a registered population after `populate`.
Imports inside functions: see cli/common.py."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from azt3knet_pipeline.cli.common import err, handle_errors, out, quiet_progress, report_run, write_json

# Mailcow writes that concern the domain (and its DKIM key) rather than one mailbox.
DOMAIN_ROUTES = ("add/domain", "edit/domain", "add/dkim")


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
        instance=instance, store=store, mailboxes=count, console=err, quiet=quiet_progress(quiet, as_json)
    )
    outcome = populations.recreate(
        key, store=store, settings=settings, instance=instance, launch=launch, adopt_domain=adopt_domain
    )
    verdict = "succeeded" if outcome.success else "FAILED"
    headline = f"population [bold]{outcome.key}[/]: run {outcome.run_id} {verdict}"
    report_run(outcome, settings, as_json=as_json, headline=headline)


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
        write_json(result)
        return
    print_plan(key, result)


def print_plan(key: str, result: dict[str, Any]) -> None:
    mb = result["mailboxes"]
    out.print(f"plan for [bold]{key}[/] ({result['mail_domain']})", highlight=False)
    if result["blocked"]:
        out.print(f"  [red]recreate would stop before any write: {result['blocked']}[/]", highlight=False)
    for write in result["writes"]["mailcow"]:
        if write["route"] in DOMAIN_ROUTES:
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
    domain_writes = sum(1 for w in result["writes"]["mailcow"] if w["route"] in DOMAIN_ROUTES)
    out.print(
        f"Plan: {domain_writes} domain/DKIM write(s); {len(mb['to_create'])} to create, {len(mb['to_update'])} to "
        f"update, {len(mb['to_remove'])} to remove, {mb['unchanged']} unchanged mailboxes; "
        f"{len(dns.get('to_upsert', []))} rrsets to write, {len(dns.get('to_delete', []))} to delete."
    )


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
        planned = populations.teardown_plan(key, store=store, settings=settings)
        if as_json:
            write_json(planned.to_dict())
            return
        out.print(f"teardown plan for [bold]{key}[/] ({planned.mail_domain}):", highlight=False)
        for line in planned.writes() or ["nothing to remove"]:
            out.print(f"  {line}", highlight=False, markup=False)
        for note in planned.notes:
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
