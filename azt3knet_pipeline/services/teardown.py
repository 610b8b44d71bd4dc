"""Teardown of a population as a plan, then an apply.

The plan reads both APIs first (Mailcow: auth, domain, DKIM key, mailboxes; deSEC: the population's rrsets);
a failed read raises before anything is written anywhere. The apply never leaves live mailboxes without DNS:
the agents' mailboxes go first, then the DKIM key and the domain, then the DNS records. While mailboxes that
azt3knet did not create remain in the domain, the domain, its DKIM key and its DNS records stay.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from azt3knet_pipeline.clients.desec import DesecClient
from azt3knet_pipeline.clients.mailcow import MailcowClient
from azt3knet_pipeline.domain.dns import RRsetDiff
from azt3knet_pipeline.domain.mailbox_plan import domain_owned_by, is_owned_by
from azt3knet_pipeline.services.dns import population_teardown_diff
from azt3knet_pipeline.services.mailboxes import is_legacy_owned, remove_mailboxes, to_actual
from azt3knet_pipeline.settings import Settings
from azt3knet_pipeline.store.repository import Store

log = logging.getLogger(__name__)


@dataclass
class TeardownPlan:
    """What `teardown --yes` would do, from one read of each API (never a secret)."""

    key: str
    mail_domain: str
    domain_exists: bool = False
    domain_owned: bool = False
    agent_mailboxes: list[str] = field(default_factory=list)
    foreign_mailboxes: list[str] = field(default_factory=list)
    dkim_present: bool = False
    remove_dkim: bool = False
    remove_domain: bool = False
    dns_configured: bool = False
    zone: str | None = None
    dns: RRsetDiff = field(default_factory=RRsetDiff)
    dns_kept: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "mail_domain": self.mail_domain,
            "mailcow": {
                "domain_exists": self.domain_exists,
                "domain_owned": self.domain_owned,
                "remove_mailboxes": self.agent_mailboxes,
                "foreign_mailboxes_kept": self.foreign_mailboxes,
                "remove_dkim": self.remove_dkim,
                "remove_domain": self.remove_domain,
            },
            "dns": {
                "configured": self.dns_configured,
                "zone": self.zone,
                "remove_rrsets": [{"subname": r.subname, "type": r.type} for r in self.dns.deletes],
                "kept_rrsets": [{"subname": s, "type": t} for s, t in self.dns_kept],
            },
            "notes": self.notes,
        }

    def writes(self) -> list[str]:
        """The writes of the apply, in order (for display)."""
        out = [f"delete mailbox {a}" for a in self.agent_mailboxes]
        if self.remove_dkim:
            out.append(f"delete DKIM key of {self.mail_domain}")
        if self.remove_domain:
            out.append(f"delete domain {self.mail_domain}")
        if self.dns.deletes:
            out.append(f"delete {len(self.dns.deletes)} rrset(s) in {self.zone} (one bulk request)")
        return out


@dataclass
class TeardownApplyOutcome:
    """What the apply did."""

    mailboxes_removed: int = 0
    foreign_left: int = 0
    dkim_removed: bool = False
    domain_removed: bool = False
    rrsets_removed: int = 0


def read_teardown_plan(
    *,
    mailcow: MailcowClient,
    desec: DesecClient | None,
    store: Store,
    settings: Settings,
    population_key: str,
) -> TeardownPlan:
    """Read Mailcow and deSEC and plan the teardown; writes nothing. Any read failure raises."""
    mail_domain = settings.mail_domain_for(population_key)
    plan = TeardownPlan(key=population_key, mail_domain=mail_domain)
    domain = mailcow.get_domain(mail_domain)  # also proves the key works: a 401/403 raises here
    # Without the domain `get/mailbox/all/<domain>` answers every mailbox on the server (contract §7): skip it.
    mailboxes = [to_actual(m) for m in mailcow.list_mailboxes(mail_domain)] if domain is not None else []
    plan.dkim_present = mailcow.get_dkim(mail_domain) is not None
    plan.domain_exists = domain is not None
    plan.agent_mailboxes = sorted(m.address for m in mailboxes if is_owned_by(m, population_key))
    plan.foreign_mailboxes = sorted(m.address for m in mailboxes if not is_owned_by(m, population_key))
    if domain is not None:
        plan.domain_owned = domain_owned_by(domain.tags, population_key) or is_legacy_owned(
            store, population_key, mailboxes
        )
    plan.remove_domain = plan.domain_exists and plan.domain_owned and not plan.foreign_mailboxes
    plan.remove_dkim = plan.remove_domain and plan.dkim_present
    if desec is not None:
        plan.dns_configured = True
        plan.zone = settings.desec_domain
        diff = population_teardown_diff(desec, settings, population_key)
        if plan.domain_exists and not plan.remove_domain:
            # The domain stays live (someone else's mailboxes, or not ours): its MX/SPF/DKIM/DMARC stay too.
            plan.dns_kept = [(r.subname, r.type) for r in diff.deletes]
        else:
            plan.dns = diff
    if plan.domain_exists and not plan.domain_owned:
        plan.notes.append(
            f"{mail_domain} was not created by azt3knet (no tags azt3knet-synthetic + {population_key}): "
            "the domain, its DKIM key and its DNS records are kept"
        )
    elif plan.foreign_mailboxes:
        plan.notes.append(
            f"{len(plan.foreign_mailboxes)} mailbox(es) not created by azt3knet remain in {mail_domain}: only the "
            "agents' mailboxes are removed; the domain, its DKIM key and its DNS records are kept"
        )
    if not plan.dns_configured:
        plan.notes.append("DESEC_TOKEN is not set: DNS records are not read or changed")
    return plan


def apply_teardown(
    plan: TeardownPlan, *, mailcow: MailcowClient, desec: DesecClient | None, store: Store
) -> TeardownApplyOutcome:
    """Apply a teardown plan: agents' mailboxes, then DKIM and domain, then DNS (one bulk request)."""
    outcome = TeardownApplyOutcome(foreign_left=len(plan.foreign_mailboxes))
    outcome.mailboxes_removed = remove_mailboxes(mailcow, store, plan.agent_mailboxes)
    if plan.remove_dkim:
        mailcow.delete_dkim(plan.mail_domain)
        outcome.dkim_removed = True
    if plan.remove_domain:
        mailcow.delete_domain(plan.mail_domain)
        outcome.domain_removed = True
    if desec is not None and plan.zone is not None:
        outcome.rrsets_removed = desec.patch_rrsets(plan.zone, plan.dns)
        store.clear_desired_rrsets(plan.key)  # a torn-down population is never "repaired" by the drift sensor
    store.set_mailbox_states([row.address for row in store.list_mailboxes(plan.key)], "removed")
    return outcome


def teardown_population(
    *,
    mailcow: MailcowClient,
    desec: DesecClient | None,
    store: Store,
    settings: Settings,
    population_key: str,
    actor: str,
) -> tuple[TeardownPlan, TeardownApplyOutcome]:
    """The teardown use case: plan (a failed read raises before any write), apply, mark the population
    `torn_down` and audit it (a failure is audited too, then raised). The population stays registered."""
    store.require_population(population_key)
    try:
        plan = read_teardown_plan(
            mailcow=mailcow, desec=desec, store=store, settings=settings, population_key=population_key
        )
        outcome = apply_teardown(plan, mailcow=mailcow, desec=desec, store=store)
    except Exception as exc:
        store.audit(actor, "population.teardown", population_key, "failed", {"error": type(exc).__name__})
        raise
    store.set_population_status(population_key, "torn_down")
    store.audit(
        actor,
        "population.teardown",
        population_key,
        "ok",
        {
            "mailboxes_removed": outcome.mailboxes_removed,
            "foreign_left": outcome.foreign_left,
            "dkim_removed": outcome.dkim_removed,
            "domain_removed": outcome.domain_removed,
            "rrsets_removed": outcome.rrsets_removed,
        },
    )
    return plan, outcome
