"""Mailbox verification against a real Dovecot: IMAPS logins per second and one delivery's latency.

Provisions `--count` mailboxes (default 1,000) into the Mailcow stand-in (no latency), with the sandbox Dovecot
following it, then verifies every one of them (`sample=0`) once per concurrency in `--concurrency` (default 1,8)
and prints logins/s, and finally one `--send` delivery and the seconds until the recipient's IMAP saw it.

It calls `services.mailboxes.reconcile_mailboxes` and `services.verify.verify_population` directly (no Dagster)
with a Store on a temporary SQLite file. Needs Debian's dovecot-imapd and dovecot-submissiond. Figures only.
Usage: python benchmarks/verify.py [--count 1000] [--concurrency 1,8]
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
from azt3knet_pipeline.sandbox.dovecot import dovecot_missing, start_dovecot
from azt3knet_pipeline.sandbox.mailcow import MailcowSandboxConfig, create_mailcow_app
from azt3knet_pipeline.sandbox.run import SANDBOX_MAILCOW_KEY
from azt3knet_pipeline.services.mailboxes import reconcile_mailboxes
from azt3knet_pipeline.services.verify import verify_population
from azt3knet_pipeline.serving import serve_in_thread
from azt3knet_pipeline.settings import Settings
from azt3knet_pipeline.store.crypto import SecretBox
from azt3knet_pipeline.store.repository import Store

ZONE = "bench.test"
KEY = "bench-verify"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", default="1,8")
    args = parser.parse_args()
    missing = dovecot_missing()
    if missing:
        raise SystemExit(f"Dovecot is not installed: {missing}")
    app = create_mailcow_app(MailcowSandboxConfig(mailcow_hostname=f"mail.{ZONE}"))
    dovecot = start_dovecot(hostname=f"mail.{ZONE}")
    dovecot.follow(app.state.sandbox)
    try:
        with tempfile.TemporaryDirectory() as tmp, serve_in_thread(app) as mailcow:
            store = Store.open(f"sqlite:///{Path(tmp) / 'store.db'}")
            key = Fernet.generate_key().decode()
            box = SecretBox.from_setting(key)
            spec = PopulationSpec(count=args.count, seed="bench-verify", country="ES")
            store.register_population(KEY, spec)
            started = time.perf_counter()
            with MailcowClient(mailcow.url, SANDBOX_MAILCOW_KEY, timeout=60.0) as client:
                reconcile_mailboxes(
                    client=client,
                    store=store,
                    box=box,
                    population_key=KEY,
                    mail_domain=f"{KEY}.{ZONE}",
                    profiles=generate_population(spec, KEY).frame,
                    quota_mib=256,
                    concurrency=8,
                    dkim_key_size=1024,
                )
            elapsed = time.perf_counter() - started
            print(f"provisioned {args.count} mailboxes (Dovecot users following) in {elapsed:.1f}s")
            dovecot.settle()
            settings = Settings(
                SECRET_KEY_FOR_KV_ENC=key,
                MAIL_CONNECT_HOST=dovecot.host,
                AZT3KNET_IMAP_PORT=dovecot.imaps_port,
                AZT3KNET_SUBMISSION_PORT=dovecot.submission_port,
                MAIL_TLS_CA_FILE=str(dovecot.cert_path),
                DESEC_DOMAIN=ZONE,
            )
            for concurrency in (int(c) for c in args.concurrency.split(",")):
                report = verify_population(
                    store=store, box=box, settings=settings, population_key=KEY, sample=0, concurrency=concurrency
                )
                rate = report.sampled / report.seconds
                print(
                    f"concurrency {concurrency}: {report.logged_in}/{report.sampled} IMAPS logins in "
                    f"{report.seconds:.2f}s = {rate:.0f} logins/s"
                )
            report = verify_population(store=store, box=box, settings=settings, population_key=KEY, sample=2, send=True)
            delivery = report.delivery
            assert delivery is not None
            print(
                f"--send: delivered={delivery.delivered} in {delivery.seconds or 0:.3f}s "
                f"(submission + relay + LDA + IMAP poll every 0.5 s)"
            )
            store.dispose()
    finally:
        dovecot.stop()


if __name__ == "__main__":
    main()
