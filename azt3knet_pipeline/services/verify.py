"""Use case: prove a population's mailboxes work.

IMAPS login with the credentials of record for a deterministic sample of the population's mailboxes; optionally one
agent submits a message to another (submission, STARTTLS, AUTH) and the recipient's IMAP must see it within a bound.
Passwords are decrypted only inside a probe and never leave it: reports, metadata and the audit log hold addresses,
reasons and counts.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.utils import make_msgid

from pydantic import BaseModel

from azt3knet_pipeline.clients.factory import secret_box
from azt3knet_pipeline.clients.mail import MailEndpoint, imap_login, submit, wait_for_message
from azt3knet_pipeline.domain.sampling import deterministic_sample
from azt3knet_pipeline.errors import MailProbeError, NothingToVerify
from azt3knet_pipeline.settings import Settings
from azt3knet_pipeline.store.crypto import SecretBox
from azt3knet_pipeline.store.repository import MailboxRow, Store


class MailboxFailure(BaseModel):
    """One mailbox that did not pass, with the reason (see clients.mail.REASONS)."""

    address: str
    reason: str
    detail: str = ""

    def line(self) -> str:
        return f"{self.address}: {self.reason}" + (f" ({self.detail})" if self.detail else "")


class Delivery(BaseModel):
    """The --send probe: did a message submitted by `sender` reach `recipient`'s INBOX, and how fast."""

    sender: str | None = None
    recipient: str | None = None
    delivered: bool = False
    seconds: float | None = None
    failure: MailboxFailure | None = None


class VerifyReport(BaseModel):
    population_key: str
    mail_host: str
    mailboxes: int
    sampled: int
    logged_in: int
    failures: list[MailboxFailure]
    delivery: Delivery | None = None
    seconds: float

    @property
    def ok(self) -> bool:
        """Every sampled mailbox logged in (and, when asked, the message arrived)."""
        delivered = self.delivery is None or self.delivery.delivered
        return self.sampled > 0 and self.logged_in == self.sampled and delivered

    def metadata(self) -> dict[str, int | float | str | bool]:
        """Counts for Dagster metadata and the audit log (addresses of failures, no secrets)."""
        reasons = Counter(f.reason for f in self.failures)
        meta: dict[str, int | float | str | bool] = {
            "mail_host": self.mail_host,
            "mailboxes": self.mailboxes,
            "sampled": self.sampled,
            "logged_in": self.logged_in,
            "failed": len(self.failures),
            **{f"failed_{reason.replace(' ', '_').lower()}": n for reason, n in sorted(reasons.items())},
            "seconds": round(self.seconds, 3),
        }
        if self.failures:
            meta["failed_addresses"] = ", ".join(f.address for f in self.failures[:20])
        if self.delivery is not None:
            meta["delivered"] = self.delivery.delivered
            if self.delivery.seconds is not None:
                meta["delivery_seconds"] = round(self.delivery.seconds, 3)
        return meta


def verify_population(
    *,
    store: Store,
    box: SecretBox,
    settings: Settings,
    population_key: str,
    sample: int | None = None,
    send: bool = False,
    concurrency: int = 8,
    actor: str = "cli",
) -> VerifyReport:
    """Log in to a deterministic sample (`sample` mailboxes; 0 = all; None = AZT3KNET_VERIFY_SAMPLE) over IMAPS,
    optionally deliver one message between two agents, audit the outcome and return the report."""
    started = time.monotonic()
    store.require_population(population_key)
    rows = {row.address: row for row in store.list_mailboxes(population_key) if row.state == "active"}
    if not rows:
        raise NothingToVerify(f"population {population_key} has no active mailboxes to verify (provision it first)")
    chosen = deterministic_sample(rows, population_key, settings.verify_sample if sample is None else sample)
    endpoint = MailEndpoint.from_settings(settings)

    def probe(address: str) -> MailboxFailure | None:
        try:
            imap_login(endpoint, address, box.decrypt(rows[address].password_ciphertext))
        except MailProbeError as exc:
            return MailboxFailure(address=address, reason=exc.reason, detail=exc.detail)
        return None

    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(chosen)))) as pool:
        failures = [f for f in pool.map(probe, chosen) if f is not None]
    delivery = None
    if send:
        failed = {f.address for f in failures}
        candidates = [a for a in deterministic_sample(rows, population_key, 0) if a not in failed]
        delivery = _deliver(endpoint, settings, rows, candidates[:2], box, population_key)
    report = VerifyReport(
        population_key=population_key,
        mail_host=f"{endpoint.host} (IMAPS {endpoint.imap_port})",
        mailboxes=len(rows),
        sampled=len(chosen),
        logged_in=len(chosen) - len(failures),
        failures=failures,
        delivery=delivery,
        seconds=time.monotonic() - started,
    )
    store.audit(actor, "mailboxes.verify", population_key, "ok" if report.ok else "failed", report.metadata())
    return report


def verify_with_settings(
    population_key: str, *, settings: Settings, sample: int | None = None, send: bool = False, actor: str = "cli"
) -> VerifyReport:
    """`verify_population` with the store, key and mail settings of `settings` (CLI, demo)."""
    store = Store.open(settings.resolved_database_url)
    try:
        return verify_population(
            store=store,
            box=secret_box(settings),
            settings=settings,
            population_key=population_key,
            sample=sample,
            send=send,
            actor=actor,
        )
    finally:
        store.dispose()


def _deliver(
    endpoint: MailEndpoint,
    settings: Settings,
    rows: dict[str, MailboxRow],
    pair: list[str],
    box: SecretBox,
    population_key: str,
) -> Delivery:
    if len(pair) < 2:
        return Delivery(
            failure=MailboxFailure(address=population_key, reason="not enough mailboxes", detail="need two that log in")
        )
    sender, recipient = pair
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = f"azt3knet delivery check {uuid.uuid4().hex[:12]}"
    message["Message-ID"] = make_msgid("azt3knet-verify", domain=settings.mail_domain_for(population_key))
    message.set_content(f"Synthetic delivery check of population {population_key}; it removes itself when seen.\n")
    try:
        submit(endpoint, sender, box.decrypt(rows[sender].password_ciphertext), message)
    except MailProbeError as exc:
        failure = MailboxFailure(address=sender, reason=exc.reason, detail=f"submission: {exc.detail}".rstrip(": "))
        return Delivery(sender=sender, recipient=recipient, failure=failure)
    try:
        seconds = wait_for_message(
            endpoint,
            recipient,
            box.decrypt(rows[recipient].password_ciphertext),
            message["Message-ID"],
            within=settings.verify_delivery_timeout,
        )
    except MailProbeError as exc:
        failure = MailboxFailure(address=recipient, reason=exc.reason, detail=exc.detail)
        return Delivery(sender=sender, recipient=recipient, failure=failure)
    return Delivery(sender=sender, recipient=recipient, delivered=True, seconds=seconds)
