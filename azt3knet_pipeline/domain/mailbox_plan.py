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
