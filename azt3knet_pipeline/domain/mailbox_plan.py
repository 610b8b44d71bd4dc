"""Desired mailboxes of a population and the difference to what Mailcow has (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

SYNTHETIC_TAG = "azt3knet-synthetic"


@dataclass(frozen=True)
class DesiredMailbox:
    address: str
    local_part: str
    domain: str
    name: str
    agent_id: str
    quota_mib: int
    active: bool = True
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ActualMailbox:
    """What the plan needs to know of an existing mailbox (adapters convert their models to this)."""

    address: str
    name: str
    active: bool
    quota_mib: int
    tags: tuple[str, ...]


@dataclass(frozen=True)
class MailboxUpdate:
    address: str
    changes: Mapping[str, Any]  # Mailcow edit/mailbox attr (tags are *added* by Mailcow, never replaced)


@dataclass
class MailboxPlan:
    """What a reconcile would do. `remove` holds only mailboxes tagged for this population."""

    create: list[DesiredMailbox] = field(default_factory=list)
    update: list[MailboxUpdate] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    unchanged: int = 0
    # Desired addresses already taken by a mailbox we do not own: never touched, reported as a failure.
    conflicts: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.create or self.update or self.remove)

    def summary(self) -> dict[str, int]:
        return {
            "create": len(self.create),
            "update": len(self.update),
            "remove": len(self.remove),
            "unchanged": self.unchanged,
            "conflicts": len(self.conflicts),
        }


def population_tags(population_key: str) -> tuple[str, ...]:
    return (SYNTHETIC_TAG, population_key)


def desired_mailboxes(
    profiles: pd.DataFrame, population_key: str, mail_domain: str, quota_mib: int
) -> list[DesiredMailbox]:
    """One mailbox per agent: `<email_local_part>@<mail_domain>`, tagged synthetic + population key."""
    tags = population_tags(population_key)
    return [
        DesiredMailbox(
            address=f"{local}@{mail_domain}",
            local_part=local,
            domain=mail_domain,
            name=name,
            agent_id=agent_id,
            quota_mib=quota_mib,
            tags=tags,
        )
        for local, name, agent_id in zip(
            profiles["email_local_part"], profiles["display_name"], profiles["id"], strict=True
        )
    ]


def is_owned_by(mailbox: ActualMailbox, population_key: str) -> bool:
    """Only mailboxes carrying both our synthetic tag and the population key are ever removed."""
    return SYNTHETIC_TAG in mailbox.tags and population_key in mailbox.tags


def plan_mailboxes(
    desired: Sequence[DesiredMailbox], actual: Iterable[ActualMailbox], population_key: str
) -> MailboxPlan:
    """Create the missing, correct drift (name, active, quota, missing tags), remove what we own and no longer want."""
    plan = MailboxPlan()
    by_address = {mailbox.address.lower(): mailbox for mailbox in actual}
    wanted = set()
    for mailbox in desired:
        key = mailbox.address.lower()
        wanted.add(key)
        existing = by_address.get(key)
        if existing is None:
            plan.create.append(mailbox)
            continue
        if SYNTHETIC_TAG not in existing.tags and population_key not in existing.tags:
            # Someone else's mailbox sits at this address: adopting it would hand out a password that does not
            # work and let teardown delete it. Leave it alone and say so.
            plan.conflicts.append(mailbox.address)
            continue
        changes: dict[str, Any] = {}
        if existing.name != mailbox.name:
            changes["name"] = mailbox.name
        if existing.active != mailbox.active:
            changes["active"] = 1 if mailbox.active else 0
        if existing.quota_mib != mailbox.quota_mib:
            changes["quota"] = mailbox.quota_mib
        missing_tags = [tag for tag in mailbox.tags if tag not in existing.tags]
        if missing_tags:
            changes["tags"] = missing_tags
        if changes:
            plan.update.append(MailboxUpdate(address=mailbox.address, changes=changes))
        else:
            plan.unchanged += 1
    plan.remove = sorted(
        mailbox.address
        for key, mailbox in by_address.items()
        if key not in wanted and is_owned_by(mailbox, population_key)
    )
    return plan


# -- the mail domain ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActualDomain:
    """What the domain plan needs to know of an existing Mailcow domain (quotas in MiB)."""

    name: str
    max_mailboxes: int
    max_aliases: int
    maxquota_mib: int
    quota_mib: int
    tags: tuple[str, ...]


@dataclass(frozen=True)
class DomainLimits:
    """Limits of a new domain (MiB); Mailcow requires defquota <= maxquota <= quota."""

    mailboxes: int
    aliases: int
    defquota: int
    maxquota: int
    quota: int


@dataclass
class DomainPlan:
    """The Mailcow writes for a population's domain: at most one add/domain (which also generates the DKIM key),
    one edit/domain (limits raised and/or our tags added) and one add/dkim.

    `not_owned`: the domain exists without our tags and adoption was not requested; nothing may be written.
    """

    name: str
    exists: bool
    owned: bool
    create: DomainLimits | None = None
    edit: dict[str, Any] = field(default_factory=dict)
    add_dkim: bool = False
    dkim_reused: bool = False  # a key left by an earlier delete/domain: add/domain reuses it (contract §7)
    adopt: bool = False
    not_owned: bool = False

    def writes(self) -> list[dict[str, Any]]:
        """The planned writes as `{route, object, attrs}` (what the stand-in records, in apply order)."""
        out: list[dict[str, Any]] = []
        if self.create is not None:
            out.append({"route": "add/domain", "object": self.name, "attrs": []})
        if self.edit:
            out.append({"route": "edit/domain", "object": self.name, "attrs": sorted(self.edit)})
        if self.add_dkim:
            out.append({"route": "add/dkim", "object": self.name, "attrs": []})
        return out


def domain_owned_by(tags: Iterable[str], population_key: str) -> bool:
    """The project owns a Mailcow domain only when it carries our synthetic tag and the population key."""
    tags = set(tags)
    return SYNTHETIC_TAG in tags and population_key in tags


def plan_domain(
    existing: ActualDomain | None,
    *,
    name: str,
    population_key: str,
    mailbox_quota_mib: int,
    needed_mailboxes: int,
    needed_quota_mib: int,
    dkim_present: bool,
    adopt: bool = False,
) -> DomainPlan:
    """Create the domain with limits that fit, or raise the limits of ours; a domain without our tags is
    adopted (tagged) only when `adopt` says so, otherwise the plan is `not_owned` and holds no write."""
    if existing is None:
        limits = DomainLimits(
            mailboxes=needed_mailboxes,
            aliases=needed_mailboxes,
            defquota=mailbox_quota_mib,
            maxquota=mailbox_quota_mib,
            quota=max(needed_quota_mib, mailbox_quota_mib),
        )
        return DomainPlan(name=name, exists=False, owned=True, create=limits, dkim_reused=dkim_present)
    owned = domain_owned_by(existing.tags, population_key)
    plan = DomainPlan(name=name, exists=True, owned=owned)
    if not owned and not adopt:
        plan.not_owned = True
        return plan
    if not owned:
        plan.adopt = True
        plan.edit["tags"] = [t for t in population_tags(population_key) if t not in existing.tags]
    if (
        existing.max_mailboxes < needed_mailboxes
        or existing.quota_mib < needed_quota_mib
        or existing.maxquota_mib < mailbox_quota_mib
    ):
        plan.edit.update(
            {
                "mailboxes": max(existing.max_mailboxes, needed_mailboxes),
                "aliases": max(existing.max_aliases, needed_mailboxes),
                "maxquota": max(existing.maxquota_mib, mailbox_quota_mib),
                "quota": max(existing.quota_mib, needed_quota_mib),
            }
        )
    plan.add_dkim = not dkim_present
    return plan


def mailbox_writes(plan: MailboxPlan) -> list[dict[str, Any]]:
    """The planned mailbox writes as `{route, object, attrs}`, one per mailbox (edits may share a request)."""
    out = [{"route": "add/mailbox", "object": m.address, "attrs": []} for m in plan.create]
    out += [{"route": "edit/mailbox", "object": u.address, "attrs": sorted(u.changes)} for u in plan.update]
    out += [{"route": "delete/mailbox", "object": address, "attrs": []} for address in plan.remove]
    return out
