"""DNS cost per population: rrset write requests to deSEC (what deSEC throttles, per domain) and seconds per
reconcile, for populations of 10, 1,000 and 10,000 agents, against the local deSEC/Mailcow stand-ins.

For each size a population is registered, its Mailcow mail domain created (Mailcow makes the DKIM key), and the
real `dns_records` asset materialized through `dns_reconcile_job` in a Dagster instance: first reconcile, then
an unchanged re-materialization. The counts come from the deSEC stand-in's own counters. Mailboxes are not
created by default (what `dns_records` writes does not depend on them); `--full` runs `populate_job` instead
(profiles, mailboxes, DNS, credentials), which is slow for 10,000 agents.

"dns_records s" is the asset step's own duration (one domain read, one zone read, at most one bulk PATCH, the
store update); "run s" is the whole in-process Dagster run (with --full: profiles, mailboxes, DNS, credentials).

`--deferred N` then meets deSEC's hour bucket with N more populations (each run ends `dns_pending`), lets the hour
pass on the stand-in's clock and repairs all N with one `dns reconcile`: write requests and seconds.

Usage: python benchmarks/dns.py [--sizes 10,1000,10000] [--full] [--throttle] [--deferred 50]
Everything lives in a temporary directory; nothing outside it is touched.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,1000,10000", help="Comma-separated agent counts.")
    parser.add_argument("--full", action="store_true", help="Materialize populate_job (creates every mailbox).")
    parser.add_argument(
        "--throttle",
        action="store_true",
        help="Keep deSEC's per-domain write throttle (2/s, 15/min): 429s then count as requests.",
    )
    parser.add_argument(
        "--deferred", type=int, default=0, help="Populations deferred by the hour bucket, then repaired."
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    home = tempfile.mkdtemp(prefix="azt3knet-dns-bench-")
    os.environ.update({"AZT3KNET_HOME": home, "DAGSTER_HOME": os.path.join(home, "dagster")})
    for name in ("AZT3KNET_DATABASE_URL", "AZT3KNET_DAGSTER_POSTGRES_URL", "DYNDNS_CRON"):
        os.environ.pop(name, None)
    from cryptography.fernet import Fernet

    os.environ["SECRET_KEY_FOR_KV_ENC"] = Fernet.generate_key().decode()

    from azt3knet_pipeline.clients.factory import desec_client, mailcow_client
    from azt3knet_pipeline.domain.models import PopulationSpec
    from azt3knet_pipeline.orchestration.instance import get_instance
    from azt3knet_pipeline.orchestration.launch import materialize_population
    from azt3knet_pipeline.sandbox.run import running_sandbox
    from azt3knet_pipeline.services.dns import DnsOutcome, reconcile_stored
    from azt3knet_pipeline.services.mailboxes import domain_spec_for
    from azt3knet_pipeline.services.populations import open_store, register_population
    from azt3knet_pipeline.settings import get_settings

    with running_sandbox() as sandbox:
        os.environ.update(sandbox.env)
        get_settings.cache_clear()
        settings = get_settings()
        desec = sandbox.desec_app.state.sandbox  # type: ignore[attr-defined]
        if not args.throttle:
            desec.set_throttle(enabled=False)
        zone = sandbox.zone

        def zone_writes() -> int:
            return int(desec.counters()["writes_by_domain"].get(zone, 0))

        def add_mail_domain(key: str, count: int, key_size: int) -> str:
            """The population's Mailcow domain (Mailcow makes its DKIM key), as the mailboxes asset would."""
            spec = domain_spec_for(
                settings.mail_domain_for(key), key, count, settings.mailbox_quota_mib, settings.dkim_selector, key_size
            )
            with mailcow_client(settings) as client:
                client.add_domain(spec)
            return spec.domain

        def dns_reconcile() -> tuple[DnsOutcome, int, float]:
            """`azt3knet dns reconcile`: (its report, zone write requests, seconds)."""
            before, start = zone_writes(), time.perf_counter()
            with desec_client(settings) as client:
                report = reconcile_stored(desec=client, store=store, settings=settings)
            return report, zone_writes() - before, time.perf_counter() - start

        instance = get_instance(settings)
        store = open_store(settings)

        def timed_run(key: str, job: str) -> tuple[int, float, float, dict]:
            """(zone write requests, seconds of the dns_records step, seconds of the run, its metadata)."""
            before, start = zone_writes(), time.perf_counter()
            outcome = materialize_population(key, job_name=job, instance=instance)
            seconds = time.perf_counter() - start
            if not outcome.success:
                raise SystemExit(f"{job} for {key} failed: {outcome.error}")
            (step,) = [s for s in instance.get_run_step_stats(outcome.run_id) if s.step_key == "dns_records"]
            step_seconds = (step.end_time or 0.0) - (step.start_time or 0.0)
            return zone_writes() - before, step_seconds, seconds, outcome.metadata.get("dns_records", {})

        job = "populate_job" if args.full else "dns_reconcile_job"
        print(
            f"deSEC stand-in zone {zone}; job {job}; per-domain write throttle "
            f"{'on' if args.throttle else 'off'}; one bulk PATCH per population expected"
        )
        print(
            f"{'agents':>8} {'rrsets':>6} {'writes 1st':>10} {'writes no-op':>12} "
            f"{'dns_records s 1st':>17} {'dns_records s no-op':>19} {'run s 1st':>9} {'run s no-op':>11}"
        )
        for count in sizes:
            key = f"bench-{count}"
            register_population(
                PopulationSpec(count=count, seed=count, country="ES"), key, store=store, instance=instance
            )
            if not args.full:
                domain = add_mail_domain(key, count, settings.dkim_key_size)
                with mailcow_client(settings) as client:
                    client.get_dkim(domain)  # the stand-in makes the RSA key on first read
            first_writes, first_step, first_run, meta = timed_run(key, job)
            noop_writes, noop_step, noop_run, _ = timed_run(key, job)
            print(
                f"{count:>8,} {meta.get('desired', 0):>6} {first_writes:>10} {noop_writes:>12} "
                f"{first_step:>17.3f} {noop_step:>19.3f} {first_run:>9.3f} {noop_run:>11.3f}"
            )

        # Drift in every population at once, healed by `azt3knet dns reconcile` (all populations, one bulk write).
        for count in sizes:
            desec.delete_rrset(zone, f"bench-{count}", "MX")
        report, writes, seconds = dns_reconcile()
        print(
            f"drift in all {len(sizes)} populations healed by one `dns reconcile`: {report.changed} rrsets "
            f"changed in {writes} write request(s), {seconds:.3f} s"
        )
        if args.deferred:
            # deSEC's production buckets, the hour's 100 writes used up: every population's write is deferred.
            desec.set_throttle(
                enabled=True, rates={"dns_api_per_domain_expensive": ["2/s", "15/min", "100/h", "300/day"]}
            )
            desec.spend_throttle("dns_api_per_domain_expensive", zone, "h")
            keys = [f"deferred-{i}" for i in range(args.deferred)]
            start = time.perf_counter()
            for i, key in enumerate(keys):
                register_population(
                    PopulationSpec(count=3, seed=10_000 + i, country="ES"), key, store=store, instance=instance
                )
                add_mail_domain(key, 3, 1024)
                outcome = materialize_population(key, job_name="dns_reconcile_job", instance=instance)
                if not outcome.success or not outcome.metadata["dns_records"].get("dns_pending"):
                    raise SystemExit(f"{key} was not deferred: {outcome.error or outcome.metadata}")
            deferring = time.perf_counter() - start
            pending = store.dns_pending()
            desec.advance_clock(3600)
            report, writes, seconds = dns_reconcile()
            print(
                f"{len(pending)} populations deferred by the hour bucket ({deferring:.3f} s for their runs); after the "
                f"hour one `dns reconcile` wrote {report.changed} rrsets in {writes} write request(s), "
                f"{seconds:.3f} s; {len(report.provisioned)} now provisioned"
            )
        counters = desec.counters()
        print(
            f"stand-in totals: {counters['requests']} requests, {counters['reads']} reads, "
            f"{counters['writes']} writes, {counters['throttled']} throttled"
        )


if __name__ == "__main__":
    main()
