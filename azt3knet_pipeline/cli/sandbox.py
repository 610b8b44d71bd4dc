"""`azt3knet sandbox` (serve the stand-ins) and `azt3knet demo` (a population end to end against them).
Imports inside functions: see cli/common.py."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from azt3knet_pipeline.cli.common import err, fail, fail_run, handle_errors, out
from azt3knet_pipeline.cli.populate import OutputFormat, build_spec, render_population
from azt3knet_pipeline.cli.verify import print_verify


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
    from azt3knet_pipeline.cli.failure import run_log_config
    from azt3knet_pipeline.defs.resources import pinned_settings, pipeline_resources
    from azt3knet_pipeline.names import AGENT_PROFILES, CREDENTIAL_EXPORT, DNS_RECORDS, MAILBOXES
    from azt3knet_pipeline.orchestration.instance import get_instance
    from azt3knet_pipeline.orchestration.launch import materialize_population
    from azt3knet_pipeline.sandbox.dovecot import dovecot_missing
    from azt3knet_pipeline.sandbox.run import running_sandbox
    from azt3knet_pipeline.services import populations
    from azt3knet_pipeline.services.verify import verify_with_settings
    from azt3knet_pipeline.settings import Settings, get_settings

    spec = build_spec(count=count, seed=seed, country=country)
    user_settings = get_settings()
    # The demo keeps its own home so it never mixes stand-in state with a real installation's store.
    home = user_settings.home / "demo"  # AZT3KNET_HOME, else ~/.azt3knet (never $HOME)
    secret_key = user_settings.secret_key_for_kv_enc
    given_key = secret_key.get_secret_value() if secret_key else ""
    demo_key = given_key or _demo_key(home / "demo.key")
    key = f"demo-{spec.default_key()}"
    no_dovecot = dovecot_missing()
    report = None
    with running_sandbox(state_dir=home / "sandbox", mail_server=no_dovecot is None) as sandbox:
        # Settings of its own, given to every step explicitly: the process environment is never changed.
        settings = Settings(
            AZT3KNET_HOME=home,
            DAGSTER_HOME=home / "dagster",
            AZT3KNET_DATABASE_URL=None,
            SECRET_KEY_FOR_KV_ENC=demo_key,
            **sandbox.env,
        )
        instance = get_instance(settings)
        resources = pipeline_resources(pinned_settings(settings))

        def launch(population_key: str, *, job_name: str, run_config: dict[str, Any] | None = None) -> Any:
            config = {**run_log_config(), **(run_config or {})}
            return materialize_population(
                population_key, instance=instance, job_name=job_name, run_config=config, resources=resources
            )

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
                report = verify_with_settings(key, settings=settings, sample=verify_sample, send=True, actor="demo")
    if not outcome.success:
        raise fail_run(outcome, settings)
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
        print_verify(report)
    out.print(
        f"Run it again: it converges with zero writes. See it in the Dagster UI: "
        f"DAGSTER_HOME={home / 'dagster'} dagster dev -w workspace.yaml",
        highlight=False,
    )
    if report is not None and not report.ok:
        raise fail(f"demo population {key}: mailbox verification failed (see the lines above)", 1)


def _demo_key(path: Path) -> str:
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
