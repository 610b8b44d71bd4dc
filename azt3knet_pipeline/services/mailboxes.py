"""Reconcile a population's Mailcow domain, DKIM key and mailboxes with its desired state."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pandas as pd

from azt3knet_pipeline.clients.http import ApiError
from azt3knet_pipeline.clients.mailcow import (
    DomainSpec,
    MailboxSpec,
    MailcowClient,
    MailcowConflict,
    MailcowMailbox,
    MailcowRequestError,
)
from azt3knet_pipeline.domain.mailbox_plan import (
    ActualMailbox,
    DesiredMailbox,
    MailboxPlan,
    desired_mailboxes,
    is_owned_by,
    plan_mailboxes,
    population_tags,
)
from azt3knet_pipeline.domain.passwords import derive_password
from azt3knet_pipeline.store.crypto import SecretBox
from azt3knet_pipeline.store.repository import Store

log = logging.getLogger(__name__)


class MailboxReconcileError(ApiError):
    """Some mailboxes could not be converged; the run fails and a re-run picks up where it stopped."""


@dataclass
class MailboxReport:
    """Counts of one reconcile (never a secret)."""

    mail_domain: str
    desired: int = 0
    created: int = 0
    adopted: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    domain_created: bool = False
    dkim_created: bool = False
    requests: int = 0
    writes: int = 0
    failures: list[str] = field(default_factory=list)

    def metadata(self) -> dict[str, object]:
        return {
            "mail_domain": self.mail_domain,
            "desired": self.desired,
            "created": self.created,
            "adopted": self.adopted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "domain_created": self.domain_created,
            "dkim_created": self.dkim_created,
            "request_count": self.requests,
            "write_count": self.writes,
        }


def to_actual(mailbox: MailcowMailbox) -> ActualMailbox:
    return ActualMailbox(
        address=mailbox.address,
        name=mailbox.name,
        active=mailbox.active,
        quota_mib=mailbox.quota_mib,
        tags=tuple(mailbox.tags),
    )


def domain_spec_for(
    mail_domain: str, population_key: str, count: int, quota_mib: int, selector: str, key_size: int
) -> DomainSpec:
    """Domain limits that fit the population exactly (Mailcow: defquota ≤ maxquota ≤ quota)."""
    return DomainSpec(
        domain=mail_domain,
        description=f"azt3knet synthetic population {population_key}",
        mailboxes=count,
        aliases=count,
        defquota=quota_mib,
        maxquota=quota_mib,
        quota=quota_mib * count,
        tags=list(population_tags(population_key)),
        key_size=key_size,
        dkim_selector=selector,
    )


def ensure_domain(client: MailcowClient, spec: DomainSpec, report: MailboxReport) -> None:
    """Create the mail domain if missing; raise its limits if the population needs more."""
    existing = client.get_domain(spec.domain)
    if existing is None:
        try:
            client.add_domain(spec)
            report.domain_created = True
        except MailcowConflict:
            existing = client.get_domain(spec.domain)
    if existing is not None and (
        existing.max_mailboxes < spec.mailboxes
        or existing.quota_mib < spec.quota
        or existing.maxquota_mib < spec.maxquota
    ):
        client.edit_domain(
            spec.domain,
            {
                "mailboxes": max(existing.max_mailboxes, spec.mailboxes),
                "aliases": max(existing.max_aliases, spec.aliases),
                "maxquota": max(existing.maxquota_mib, spec.maxquota),
                "quota": max(existing.quota_mib, spec.quota),
            },
        )


def ensure_dkim(client: MailcowClient, domain: str, selector: str, key_size: int, report: MailboxReport) -> None:
    if client.get_dkim(domain) is not None:
        return
    try:
        client.add_dkim(domain, selector=selector, key_size=key_size)
        report.dkim_created = True
    except MailcowRequestError as exc:
        # "dkim_domain_or_sel_invalid" also means "a key already exists" (e.g. a concurrent run made it).
        if exc.key != "dkim_domain_or_sel_invalid" or client.get_dkim(domain) is None:
            raise


def read_plan(
    client: MailcowClient, desired: list[DesiredMailbox], population_key: str, mail_domain: str
) -> MailboxPlan:
    """One list request, then the pure diff. A missing domain means every mailbox is to be created."""
    actual = [to_actual(m) for m in client.list_mailboxes(mail_domain)] if client.get_domain(mail_domain) else []
    return plan_mailboxes(desired, actual, population_key)


def reconcile_mailboxes(
    *,
    client: MailcowClient,
    store: Store,
    box: SecretBox,
    population_key: str,
    mail_domain: str,
    profiles: pd.DataFrame,
    quota_mib: int,
    concurrency: int = 8,
    dkim_selector: str = "dkim",
    dkim_key_size: int = 2048,
    progress: Callable[[int, int], None] | None = None,
) -> MailboxReport:
    """Converge Mailcow to the desired mailboxes. Idempotent: an unchanged population makes one list request
    (plus the domain/DKIM reads) and zero writes. Intent rows are written before any mailbox is created."""
    start_requests, start_writes = client.request_count, client.write_count
    report = MailboxReport(mail_domain=mail_domain)
    desired = desired_mailboxes(profiles, population_key, mail_domain, quota_mib)
    report.desired = len(desired)
    secret = store.derivation_secret(box)
    passwords = {m.address: derive_password(secret, population_key, m.address) for m in desired}

    # Write-ahead: the credential of record exists before the mailbox does.
    store.record_mailbox_intents(
        population_key, ((m.address, m.agent_id, box.encrypt(passwords[m.address])) for m in desired)
    )
    ensure_domain(
        client,
        domain_spec_for(mail_domain, population_key, len(desired), quota_mib, dkim_selector, dkim_key_size),
        report,
    )
    ensure_dkim(client, mail_domain, dkim_selector, dkim_key_size, report)
    actual = [to_actual(m) for m in client.list_mailboxes(mail_domain)]
    plan = plan_mailboxes(desired, actual, population_key)
    report.unchanged = plan.unchanged
    report.failures += [
        f"{address}: taken by a mailbox azt3knet did not create (left alone)" for address in plan.conflicts
    ]
    store.set_mailbox_states(plan.conflicts, "conflict")  # its credential of record would not work: not exported
    wanted = {m.address.lower() for m in desired}
    others = [m for m in actual if m.address.lower() not in wanted]
    if plan.create and others:
        # Mailboxes we do not own (or are about to remove) count against the domain's limits too: make room
        # for the whole population next to them, or the last creates fail on every run.
        spec = domain_spec_for(
            mail_domain, population_key, len(desired) + len(others), quota_mib, dkim_selector, dkim_key_size
        )
        ensure_domain(
            client,
            spec.model_copy(update={"quota": quota_mib * len(desired) + sum(m.quota_mib for m in others)}),
            report,
        )

    done = 0

    def create(mailbox: DesiredMailbox) -> tuple[str, str]:
        spec = MailboxSpec(
            local_part=mailbox.local_part,
            domain=mailbox.domain,
            password=passwords[mailbox.address],
            name=mailbox.name,
            quota=mailbox.quota_mib,
            active=mailbox.active,
            tags=list(mailbox.tags),
        )
        try:
            client.add_mailbox(spec)
            return mailbox.address, "created"
        except MailcowConflict:
            # Created by an earlier attempt whose answer was lost: adopt it and re-assert the password of record.
            password = passwords[mailbox.address]
            client.edit_mailbox(
                [mailbox.address], {"password": password, "password2": password, "tags": list(mailbox.tags)}
            )
            return mailbox.address, "adopted"
        except ApiError as exc:
            return mailbox.address, f"failed: {type(exc).__name__} {exc.key or ''}".strip()

    converged: list[str] = []
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="mailcow") as pool:
        for address, outcome in pool.map(create, plan.create):
            done += 1
            if outcome == "created":
                report.created += 1
                converged.append(address)
            elif outcome == "adopted":
                report.adopted += 1
                converged.append(address)
            else:
                report.failures.append(f"{address}: {outcome}")
            if progress is not None:
                progress(done, len(plan.create))
            if len(converged) >= 500:
                store.set_mailbox_states(converged, "active")
                converged = []
    store.set_mailbox_states(converged, "active")

    for update in _group_updates(plan):
        addresses, changes = update
        try:
            client.edit_mailbox(addresses, changes)
            report.updated += len(addresses)
        except ApiError as exc:
            report.failures.append(
                f"{len(addresses)} mailbox(es) edit {sorted(changes)}: {type(exc).__name__} {exc.key or ''}"
            )

    if plan.remove:
        store.set_mailbox_states(plan.remove, "removing")
        results = client.delete_mailboxes(plan.remove)
        gone = [address for address, result in results.items() if result in {"removed", "missing"}]
        store.set_mailbox_states(gone, "removed")
        report.removed = len(gone)

    # Rows not yet "active" whose mailbox already existed (e.g. a crash after create, before the state write).
    existing = {m.address.lower() for m in actual}
    stale = {row.address for row in store.list_mailboxes(population_key) if row.state != "active"}
    stale -= set(plan.conflicts)
    store.set_mailbox_states(
        [m.address for m in desired if m.address in stale and m.address.lower() in existing], "active"
    )

    report.requests = client.request_count - start_requests
    report.writes = client.write_count - start_writes
    if report.failures:
        raise MailboxReconcileError(
            f"{len(report.failures)} mailbox operation(s) failed in {mail_domain} (first: {report.failures[0]}); "
            "re-run to converge"
        )
    return report


def _group_updates(plan: MailboxPlan) -> list[tuple[list[str], dict]]:
    """Batch edits that carry identical attrs into one edit/mailbox request."""
    groups: dict[str, tuple[list[str], dict]] = {}
    for update in plan.update:
        signature = repr(sorted((k, repr(v)) for k, v in update.changes.items()))
        groups.setdefault(signature, ([], dict(update.changes)))[0].append(update.address)
    return list(groups.values())


@dataclass
class TeardownReport:
    mail_domain: str
    removed: int = 0
    foreign_left: int = 0
    dkim_removed: bool = False
    domain_removed: bool = False


def teardown_mailboxes(*, client: MailcowClient, store: Store, population_key: str, mail_domain: str) -> TeardownReport:
    """Remove the population's tagged mailboxes, its DKIM key and its domain. Untagged mailboxes are never
    touched; if any remain, the domain stays and the report says so."""
    report = TeardownReport(mail_domain=mail_domain)
    if client.get_domain(mail_domain) is not None:
        mailboxes = [to_actual(m) for m in client.list_mailboxes(mail_domain)]
        owned = [m.address for m in mailboxes if is_owned_by(m, population_key)]
        report.foreign_left = len(mailboxes) - len(owned)
        if owned:
            store.set_mailbox_states(owned, "removing")
            results = client.delete_mailboxes(owned)
            report.removed = sum(1 for r in results.values() if r in {"removed", "missing"})
        client.delete_dkim(mail_domain)
        report.dkim_removed = True
        if report.foreign_left == 0:
            client.delete_domain(mail_domain)
            report.domain_removed = True
    store.set_mailbox_states([row.address for row in store.list_mailboxes(population_key)], "removed")
    return report
