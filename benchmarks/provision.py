"""Mailbox provisioning against the Mailcow stand-in: creation throughput and the cost of a no-op recreate.

1. Creates `--count` mailboxes (default 1,000) from scratch with the stand-in answering every request after
   `--latency-ms` (default 20 ms, a LAN-ish Mailcow), once per concurrency in `--concurrency` (default 1,8),
   and prints mailboxes/s and the requests made.
2. Provisions `--noop-count` mailboxes (default 10,000; created without latency), then recreates them
   unchanged with the latency on, and prints what that recreate asked the server: one domain read, one DKIM
   read, one mailbox list, zero writes, however large the population.

It calls `services.mailboxes.reconcile_mailboxes` directly (no Dagster) with a Store on a temporary SQLite file
and a real `MailcowClient` over loopback HTTP. Figures only, no asserts.
Usage: python benchmarks/provision.py [--count 1000] [--noop-count 10000] [--latency-ms 20] [--concurrency 1,8]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet

from azt3knet_pipeline.clients.mailcow import MailcowClient
from azt3knet_pipeline.domain.generation import generate_population
from azt3knet_pipeline.domain.models import PopulationSpec
from azt3knet_pipeline.sandbox.mailcow import MailcowSandboxConfig, create_mailcow_app
from azt3knet_pipeline.sandbox.run import SANDBOX_MAILCOW_KEY
from azt3knet_pipeline.services.mailboxes import MailboxOutcome, reconcile_mailboxes
from azt3knet_pipeline.serving import serve_in_thread
from azt3knet_pipeline.store.crypto import SecretBox
from azt3knet_pipeline.store.repository import Store

ZONE = "bench.test"
QUOTA_MIB = 256


def reconcile(
    url: str, store: Store, box: SecretBox, key: str, count: int, concurrency: int
) -> tuple[MailboxOutcome, float]:
    spec = PopulationSpec(count=count, seed=f"bench-{key}", country="ES")
    store.register_population(key, spec)
    profiles = generate_population(spec, key).frame
    with MailcowClient(url, SANDBOX_MAILCOW_KEY, timeout=60.0) as client:
        started = time.perf_counter()
        report = reconcile_mailboxes(
            client=client,
            store=store,
            box=box,
            population_key=key,
            mail_domain=f"{key}.{ZONE}",
            profiles=profiles,
            quota_mib=QUOTA_MIB,
            concurrency=concurrency,
            dkim_key_size=1024,
        )
        return report, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000)
    parser.add_argument("--noop-count", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", default="1,8")
    args = parser.parse_args()

    app = create_mailcow_app(MailcowSandboxConfig(mailcow_hostname=f"mail.{ZONE}", dkim_reuse_keys=True))
    sandbox = app.state.sandbox
    server = serve_in_thread(app)
    box = SecretBox([Fernet.generate_key().decode()])
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'bench.db'}")
        try:
            print(f"Mailcow stand-in at {server.url}, {args.latency_ms:g} ms per request; store: SQLite (temp)")
            print(f"\n1. Create {args.count:,} mailboxes from scratch")
            print(f"{'concurrency':>11} {'seconds':>8} {'mailboxes/s':>12} {'requests':>9} {'writes':>7}")
            for concurrency in (int(c) for c in args.concurrency.split(",")):
                sandbox.set_faults(latency_ms=args.latency_ms)
                report, seconds = reconcile(server.url, store, box, f"create-c{concurrency}", args.count, concurrency)
                print(
                    f"{concurrency:>11} {seconds:>8.2f} {report.created / seconds:>12.1f} {report.requests:>9} "
                    f"{report.writes:>7}"
                )

            print(f"\n2. No-op recreate of {args.noop_count:,} mailboxes")
            sandbox.set_faults(latency_ms=0)
            report, seconds = reconcile(server.url, store, box, "noop", args.noop_count, 8)
            print(
                f"   provisioned first (no latency, concurrency 8): {seconds:.1f} s, "
                f"{report.created / seconds:.0f} mailboxes/s"
            )
            sandbox.set_faults(latency_ms=args.latency_ms)
            sandbox.reset_counters()
            report, seconds = reconcile(server.url, store, box, "noop", args.noop_count, 8)
            counters = {k: v for k, v in sorted(sandbox.counters().items()) if k not in {"reads", "writes"}}
            print(
                f"   recreate: {seconds:.2f} s; created={report.created} updated={report.updated} "
                f"removed={report.removed} unchanged={report.unchanged}"
            )
            print(
                f"   client: {report.requests} requests, {report.writes} writes; "
                f"stand-in saw reads={sandbox.counters()['reads']} writes={sandbox.counters()['writes']} {counters}"
            )
        finally:
            store.dispose()
            server.stop()


if __name__ == "__main__":
    main()
