"""`azt3knet dns bootstrap|dyndns|reconcile`: the zone on deSEC outside population runs.
Imports inside functions: see cli/common.py."""

from __future__ import annotations

import typer

from azt3knet_pipeline.cli.common import EX_TEMPFAIL, err, handle_errors, out

dns_app = typer.Typer(help="DNS on deSEC: bootstrap, dynamic DNS, reconcile.", no_args_is_help=True)


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


@dns_app.command("reconcile")
@handle_errors
def dns_reconcile(
    keys: list[str] = typer.Argument(None, help="Population keys (default: all provisioned or dns_pending)."),
) -> None:
    """Re-write the stored desired rrsets of many populations (dns_pending ones included) in ONE bulk write.

    Exits 75 with one line when deSEC defers the write again (the populations stay dns_pending with its time).
    """
    from azt3knet_pipeline.clients.factory import desec_client
    from azt3knet_pipeline.orchestration.instance import get_instance
    from azt3knet_pipeline.orchestration.results import record_dns_reconciled
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
    reconciled = list(store.desired_rrsets(settings.desec_domain, keys or None))
    record_dns_reconciled(get_instance(settings), report.metadata(), keys=reconciled)
    for key in sorted(set(store.dns_pending()) - set(store.desired_rrsets(settings.desec_domain))):
        err.print(f"{key}: DNS pending, its rrsets were never computed; run `azt3knet recreate {key}`", markup=False)
    out.print(
        f"{report.zone}: {report.desired} rrsets desired, {report.changed} changed in {report.writes} write request(s)"
        + (f"; now provisioned: {', '.join(report.provisioned)}" if report.provisioned else ""),
        highlight=False,
    )
