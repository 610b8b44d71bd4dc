"""Reconcile a population's Mailcow domain, DKIM key and mailboxes with its desired state."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from azt3knet_pipeline.clients.mailcow import (
    DkimKey,
    DomainSpec,
    MailboxSpec,
    MailcowClient,
    MailcowDomain,
    MailcowMailbox,
)
from azt3knet_pipeline.domain.mailbox_plan import (
    SYNTHETIC_TAG,
    ActualDomain,
    ActualMailbox,
    DesiredMailbox,
    DomainPlan,
    MailboxPlan,
    desired_mailboxes,
    domain_owned_by,
    is_owned_by,
    mailbox_writes,
    plan_domain,
    plan_mailboxes,
    population_tags,
)
from azt3knet_pipeline.domain.passwords import derive_password
from azt3knet_pipeline.errors import (
    ApiError,
    DomainNotOwned,
    MailboxReconcileError,
    MailcowConflict,
    MailcowRequestError,
)
from azt3knet_pipeline.store.crypto import SecretBox
from azt3knet_pipeline.store.repository import Store

log = logging.getLogger(__name__)


@dataclass
class MailboxOutcome:
    """Counts of one reconcile (never a secret)."""

    mail_domain: str
    desired: int = 0
    created: int = 0
    adopted: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    domain_created: bool = False
    domain_adopted: bool = False
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
            "domain_adopted": self.domain_adopted,
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


@dataclass
class MailcowPlan:
    """Everything a reconcile would write to Mailcow for one population, from one read of the actual state."""

    domain: DomainPlan
    mailboxes: MailboxPlan
    actual: list[ActualMailbox]
    dkim: DkimKey | None = None
    legacy_owned: bool = False

    def writes(self) -> list[dict[str, Any]]:
        """Planned writes as `{route, object, attrs}` in apply order (what the stand-in records)."""
        return [*self.domain.writes(), *mailbox_writes(self.mailboxes)]


def to_actual_domain(domain: MailcowDomain) -> ActualDomain:
    return ActualDomain(
        name=domain.name,
        max_mailboxes=domain.max_mailboxes,
        max_aliases=domain.max_aliases,
        maxquota_mib=domain.maxquota_mib,
        quota_mib=domain.quota_mib,
        tags=tuple(domain.tags),
    )


def store_created_domain(store: Store, population_key: str) -> bool:
    """Whether an earlier reconcile of this population recorded creating its mail domain (audit log)."""
    for entry in store.audit_entries(target=population_key, limit=10_000):
        if entry.action == "mailboxes.reconcile" and entry.outcome == "ok" and entry.detail:
            try:
                detail = json.loads(entry.detail)
            except ValueError:
                continue
            if isinstance(detail, dict) and detail.get("domain_created") is True:
                return True
    return False


def is_legacy_owned(store: Store, population_key: str, mailboxes: list[ActualMailbox]) -> bool:
    """A domain made by a version of azt3knet that did not tag domains yet: ours when the store recorded
    creating it and every mailbox in it carries this population's tags."""
    return all(is_owned_by(m, population_key) for m in mailboxes) and store_created_domain(store, population_key)


def plan_mailcow(
    client: MailcowClient,
    store: Store,
    desired: list[DesiredMailbox],
    population_key: str,
    mail_domain: str,
    quota_mib: int,
    *,
    adopt_domain: bool = False,
) -> MailcowPlan:
    """Read the domain, its DKIM key and its mailboxes (three reads), then plan every write (pure)."""
    existing = client.get_domain(mail_domain)
    # Without the domain, `get/mailbox/all/<domain>` answers every mailbox on the server (contract §7).
    actual = [to_actual(m) for m in client.list_mailboxes(mail_domain)] if existing is not None else []
    dkim = client.get_dkim(mail_domain)
    mailbox_plan = plan_mailboxes(desired, actual, population_key)
    legacy = False
    if existing is not None and not domain_owned_by(existing.tags, population_key):
        legacy = is_legacy_owned(store, population_key, actual)
    # Creates run before removes, so the domain must hold every mailbox there now plus the new ones.
    current = {m.address.lower(): m.quota_mib for m in actual}
    growth = sum(
        max(0, int(u.changes["quota"]) - current.get(u.address.lower(), 0))
        for u in mailbox_plan.update
        if "quota" in u.changes
    )
    needed_quota = sum(current.values()) + sum(m.quota_mib for m in mailbox_plan.create) + growth
    domain_plan = plan_domain(
        None if existing is None else to_actual_domain(existing),
        name=mail_domain,
        population_key=population_key,
        mailbox_quota_mib=quota_mib,
        needed_mailboxes=max(len(desired), len(actual) + len(mailbox_plan.create)),
        needed_quota_mib=max(quota_mib * len(desired), needed_quota),
        dkim_present=dkim is not None,
        adopt=adopt_domain or legacy,
    )
    return MailcowPlan(domain=domain_plan, mailboxes=mailbox_plan, actual=actual, dkim=dkim, legacy_owned=legacy)


def not_owned_message(mail_domain: str, population_key: str) -> str:
    return (
        f"mail domain {mail_domain} exists on Mailcow but azt3knet did not create it (it lacks the tags "
        f"{SYNTHETIC_TAG} and {population_key}); nothing was written. To provision into it anyway, re-run with "
        "--adopt-domain (API: adopt_domain: true; run config ops.mailboxes.config.adopt_domain)"
    )


def apply_domain_plan(
    client: MailcowClient, plan: DomainPlan, spec: DomainSpec, population_key: str, outcome: MailboxOutcome
) -> None:
    """Create or edit the domain and add its DKIM key, as planned."""
    if plan.create is not None:
        try:
            result = client.add_domain(spec)
            outcome.domain_created = True
            # add/domain generates the key (`dkim_added`), or reuses one left by an earlier delete.
            outcome.dkim_created = result.has("dkim_added")
        except MailcowConflict:
            existing = client.get_domain(spec.domain)  # our own earlier create whose reply was lost?
            if existing is None or not domain_owned_by(existing.tags, population_key):
                raise DomainNotOwned(not_owned_message(spec.domain, population_key)) from None
    if plan.edit:
        client.edit_domain(spec.domain, plan.edit)
        outcome.domain_adopted = plan.adopt
    if plan.add_dkim:
        try:
            client.add_dkim(spec.domain, selector=spec.dkim_selector or "dkim", key_size=spec.key_size or 2048)
            outcome.dkim_created = True
        except MailcowRequestError as exc:
            # "dkim_domain_or_sel_invalid" also means "a key already exists" (e.g. a concurrent run made it).
            if exc.key != "dkim_domain_or_sel_invalid" or client.get_dkim(spec.domain) is None:
                raise


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
    adopt_domain: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> MailboxOutcome:
    """Converge Mailcow to the desired mailboxes. Idempotent: an unchanged population makes three reads (domain,
    DKIM, one mailbox list) and zero writes. Intent rows are written before any mailbox is created. A domain
    azt3knet did not create stops the run before any Mailcow write unless `adopt_domain`."""
    start_requests, start_writes = client.request_count, client.write_count
    outcome = MailboxOutcome(mail_domain=mail_domain)
    desired = desired_mailboxes(profiles, population_key, mail_domain, quota_mib)
    outcome.desired = len(desired)
    plan = plan_mailcow(client, store, desired, population_key, mail_domain, quota_mib, adopt_domain=adopt_domain)
    if plan.domain.not_owned:
        raise DomainNotOwned(not_owned_message(mail_domain, population_key))
    if plan.legacy_owned:
        log.warning("%s: created by an earlier azt3knet without domain tags; tagging it now", mail_domain)

    secret = store.derivation_secret(box)
    passwords = {m.address: derive_password(secret, population_key, m.address) for m in desired}
    # Write-ahead: the credential of record exists before the mailbox does.
    store.record_mailbox_intents(
        population_key, ((m.address, m.agent_id, box.encrypt(passwords[m.address])) for m in desired)
    )
    limits = plan.domain.create
    spec = domain_spec_for(mail_domain, population_key, len(desired), quota_mib, dkim_selector, dkim_key_size)
    if limits is not None:
        spec = spec.model_copy(update={"mailboxes": limits.mailboxes, "aliases": limits.aliases, "quota": limits.quota})
    apply_domain_plan(client, plan.domain, spec, population_key, outcome)

    mailbox_plan = plan.mailboxes
    actual = plan.actual
    outcome.unchanged = mailbox_plan.unchanged
    outcome.failures += [
        f"{address}: taken by a mailbox azt3knet did not create (left alone)" for address in mailbox_plan.conflicts
    ]
    store.set_mailbox_states(mailbox_plan.conflicts, "conflict")  # its credential would not work: not exported
    _create_mailboxes(client, store, mailbox_plan.create, passwords, population_key, concurrency, outcome, progress)
    _apply_updates(client, mailbox_plan, outcome)

    outcome.removed = remove_mailboxes(client, store, mailbox_plan.remove)

    # Rows not yet "active" whose mailbox already existed (e.g. a crash after create, before the state write).
    existing = {m.address.lower() for m in actual}
    stale = {row.address for row in store.list_mailboxes(population_key) if row.state != "active"}
    stale -= set(mailbox_plan.conflicts)
    store.set_mailbox_states(
        [m.address for m in desired if m.address in stale and m.address.lower() in existing], "active"
    )

    outcome.requests = client.request_count - start_requests
    outcome.writes = client.write_count - start_writes
    if outcome.failures:
        raise MailboxReconcileError(
            f"{len(outcome.failures)} mailbox operation(s) failed in {mail_domain} (first: {outcome.failures[0]}); "
            "re-run to converge"
        )
    return outcome


def _create_one(client: MailcowClient, mailbox: DesiredMailbox, password: str, population_key: str) -> str:
    """Create one mailbox; returns "created", "adopted", "conflict" or "failed: ..." (never raises ApiError)."""
    spec = MailboxSpec(
        local_part=mailbox.local_part,
        domain=mailbox.domain,
        password=password,
        name=mailbox.name,
        quota=mailbox.quota_mib,
        active=mailbox.active,
        tags=list(mailbox.tags),
    )
    try:
        try:
            client.add_mailbox(spec)
            return "created"
        except MailcowConflict:
            # It appeared between our list and this create. Ours only if it carries this population's tags
            # (our own earlier create whose reply was lost): then re-assert the password of record. Anyone
            # else's is left exactly as it is.
            found = client.get_mailbox(mailbox.address)
            if found is None or not is_owned_by(to_actual(found), population_key):
                return "conflict"
            client.edit_mailbox(
                [mailbox.address], {"password": password, "password2": password, "tags": list(mailbox.tags)}
            )
            return "adopted"
    except ApiError as exc:
        return f"failed: {type(exc).__name__} {exc.key or ''}".strip()


def _create_mailboxes(
    client: MailcowClient,
    store: Store,
    creates: list[DesiredMailbox],
    passwords: dict[str, str],
    population_key: str,
    concurrency: int,
    outcome: MailboxOutcome,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Create `creates` concurrently, counting into `outcome`; states are recorded in batches of 500 (active) and
    at the end (raced ones: conflict)."""
    done = 0
    raced: list[str] = []
    converged: list[str] = []

    def create(mailbox: DesiredMailbox) -> tuple[str, str]:
        return mailbox.address, _create_one(client, mailbox, passwords[mailbox.address], population_key)

    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="mailcow") as pool:
        for address, result in pool.map(create, creates):
            done += 1
            if result == "created":
                outcome.created += 1
                converged.append(address)
            elif result == "adopted":
                outcome.adopted += 1
                converged.append(address)
            elif result == "conflict":
                raced.append(address)
                outcome.failures.append(f"{address}: taken by a mailbox azt3knet did not create (left alone)")
            else:
                outcome.failures.append(f"{address}: {result}")
            if progress is not None:
                progress(done, len(creates))
            if len(converged) >= 500:
                store.set_mailbox_states(converged, "active")
                converged = []
    store.set_mailbox_states(converged, "active")
    store.set_mailbox_states(raced, "conflict")


def _apply_updates(client: MailcowClient, mailbox_plan: MailboxPlan, outcome: MailboxOutcome) -> None:
    """Send the plan's edits, batched by identical changes; a failed batch is a failure line, not an exception."""
    for addresses, changes in _group_updates(mailbox_plan):
        try:
            client.edit_mailbox(addresses, changes)
            outcome.updated += len(addresses)
        except ApiError as exc:
            outcome.failures.append(
                f"{len(addresses)} mailbox(es) edit {sorted(changes)}: {type(exc).__name__} {exc.key or ''}"
            )


def remove_mailboxes(client: MailcowClient, store: Store, addresses: list[str]) -> int:
    """Delete mailboxes the population owns, recording `removing` first and `removed` after; returns how many
    are gone (an already-missing one counts: Mailcow's delete is not idempotent)."""
    if not addresses:
        return 0
    store.set_mailbox_states(addresses, "removing")
    results = client.delete_mailboxes(addresses)
    gone = [address for address, result in results.items() if result in {"removed", "missing"}]
    store.set_mailbox_states(gone, "removed")
    return len(gone)


def _group_updates(plan: MailboxPlan) -> list[tuple[list[str], dict]]:
    """Batch edits that carry identical attrs into one edit/mailbox request."""
    groups: dict[str, tuple[list[str], dict]] = {}
    for update in plan.update:
        signature = repr(sorted((k, repr(v)) for k, v in update.changes.items()))
        groups.setdefault(signature, ([], dict(update.changes)))[0].append(update.address)
    return list(groups.values())
