"""Reconcile DNS on deSEC: a population's mail-domain rrsets, the zone's base records, the mail host's IPs.

Every write is one bulk request (deSEC throttles rrset writes per domain: 2/s, 15/min, 100/h, 300/day), and an
unchanged state costs zero writes. The desired rrsets are stored before they are written (write-ahead), and a
write deSEC defers for longer than the client waits leaves the population `dns_pending` with deSEC's time:
`reconcile_stored` (CLI `dns reconcile`, the drift sensor's pending run) writes every pending population in
one bulk request once that time has passed.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from azt3knet_pipeline.clients.desec import DesecClient
from azt3knet_pipeline.clients.http import RetryPolicy, send_with_retry
from azt3knet_pipeline.clients.mailcow import MailcowClient
from azt3knet_pipeline.domain.dns import (
    DkimRecord,
    RRset,
    RRsetDiff,
    desired_base_rrsets,
    desired_population_rrsets,
    diff_rrsets,
    population_scope,
)
from azt3knet_pipeline.errors import ApiError, ConfigurationError, DesecNotFound, DesecThrottled
from azt3knet_pipeline.settings import Settings
from azt3knet_pipeline.store.repository import Store

log = logging.getLogger(__name__)


@dataclass
class DnsOutcome:
    """Counts of one DNS reconcile (never a secret)."""

    zone: str
    desired: int = 0
    changed: int = 0
    upserts: int = 0
    deletes: int = 0
    requests: int = 0
    writes: int = 0
    desired_hash: str = ""
    changes: list[str] = field(default_factory=list)
    deferral: DnsDeferral | None = None
    provisioned: list[str] = field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "zone": self.zone,
            "desired": self.desired,
            "changed": self.changed,
            "upserts": self.upserts,
            "deletes": self.deletes,
            "request_count": self.requests,
            "write_count": self.writes,
            "desired_hash": self.desired_hash,
        }
        if self.deferral is not None:
            meta["dns_pending"] = len(self.deferral.keys)
            meta["dns_pending_until"] = self.deferral.until_text
        return meta


# -- deferred DNS ---------------------------------------------------------------------------------------------

# How long a write-ahead intent may stay unconfirmed before the drift sensor treats the write as lost and repairs
# it (a run that died between storing the desired rrsets and writing them).
WRITE_AHEAD_GRACE = timedelta(minutes=10)
# deSEC's throttle reply always names its wait; nginx's own 429 page does not. Then retry after this long.
UNKNOWN_THROTTLE_WAIT = timedelta(minutes=5)


def utcnow() -> datetime:
    """The time deferrals are measured against (one seam, so tests can let an hour pass)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class DnsDeferral:
    """DNS writes deSEC asked to defer: which populations, until when (UTC)."""

    zone: str
    keys: tuple[str, ...]
    until: datetime

    @property
    def until_text(self) -> str:
        return self.until.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def line(self) -> str:
        """The one line a run or a command ends with."""
        if not self.keys:
            return f"DNS deferred: deSEC throttles requests to {self.zone} until {self.until_text}; nothing was written"
        shown = ", ".join(self.keys[:5]) + (f" and {len(self.keys) - 5} more" if len(self.keys) > 5 else "")
        return (
            f"DNS deferred: deSEC throttles rrset writes to {self.zone}; the rrsets of {shown} are stored and "
            f"pending until {self.until_text} (`azt3knet dns reconcile` or the drift sensor writes them then)"
        )


def defer_dns(store: Store, zone: str, keys: list[str], exc: DesecThrottled) -> DnsDeferral:
    """Record `keys` as `dns_pending` until the time deSEC gave (their desired rrsets are already stored)."""
    wait = timedelta(seconds=exc.retry_after) if exc.retry_after is not None else UNKNOWN_THROTTLE_WAIT
    until = (utcnow() + wait).replace(microsecond=0) + timedelta(seconds=1)  # round up: never before deSEC's time
    store.mark_dns_pending(keys, until)
    deferral = DnsDeferral(zone=zone, keys=tuple(sorted(keys)), until=until)
    store.audit(
        "azt3knet", "dns.deferred", zone, "deferred", {"keys": list(deferral.keys), "until": deferral.until_text}
    )
    return deferral


def due_pending(store: Store, now: datetime | None = None) -> dict[str, datetime | None]:
    """Populations whose deferred DNS write may be retried now (deSEC's time has passed)."""
    return store.dns_pending(due_at=now or utcnow())


def _keys_touched(keys: list[str], diff: RRsetDiff) -> list[str]:
    changed = [*diff.upserts, *diff.deletes]
    return [key for key in keys if any(in_subtree(r, key) for r in changed)]


def in_subtree(rrset: RRset, key: str) -> bool:
    """Whether an rrset of the zone belongs under the population's mail domain `<key>.<zone>`."""
    return rrset.subname == key or rrset.subname.endswith("." + key)


def read_dkim(mailcow: MailcowClient, mail_domain: str) -> DkimRecord | None:
    key = mailcow.get_dkim(mail_domain)
    return None if key is None else DkimRecord(selector=key.selector, txt=key.txt_value)


def desired_rrsets_for(settings: Settings, key: str, dkim: DkimRecord | None, minimum_ttl: int) -> list[RRset]:
    """The population's desired rrsets with the configured mail host and TTL (at least the zone's minimum)."""
    return desired_population_rrsets(
        population_key=key,
        mail_hostname=settings.mail_hostname,
        dkim=dkim,
        ttl=settings.dns_ttl,
        minimum_ttl=minimum_ttl,
    )


def _apply(desec: DesecClient, zone: str, diff: RRsetDiff, outcome: DnsOutcome) -> None:
    outcome.changed = desec.patch_rrsets(zone, diff)  # one bulk PATCH, or nothing for an empty diff
    outcome.upserts, outcome.deletes = len(diff.upserts), len(diff.deletes)
    outcome.changes = [f"~ {r.subname or '@'} {r.type}" for r in diff.upserts] + [
        f"- {r.subname or '@'} {r.type}" for r in diff.deletes
    ]


def population_diff(
    desec: DesecClient, settings: Settings, key: str, dkim: DkimRecord | None
) -> tuple[list[RRset], RRsetDiff]:
    """Desired rrsets and the diff against the zone: one domain read, one (paginated) rrset read."""
    zone = settings.desec_domain
    minimum_ttl = desec.get_domain(zone).minimum_ttl
    desired = desired_rrsets_for(settings, key, dkim, minimum_ttl)
    actual = [r for r in desec.list_rrsets(zone) if in_subtree(r, key)]
    return desired, diff_rrsets(desired, actual, managed=population_scope(key, settings.dkim_selector))


def reconcile_dns(
    *, desec: DesecClient, mailcow: MailcowClient, store: Store, settings: Settings, population_key: str
) -> DnsOutcome:
    """Converge the population's rrsets: MX, SPF, DKIM (from Mailcow), DMARC, autoconfig/autodiscover."""
    start_requests, start_writes = desec.request_count, desec.write_count
    zone = settings.desec_domain
    outcome = DnsOutcome(zone=zone)
    # Intent first: until this reconcile confirms the write, the population is not `provisioned`; if the run
    # dies, the drift sensor repairs it after WRITE_AHEAD_GRACE.
    store.mark_dns_pending([population_key], utcnow() + WRITE_AHEAD_GRACE)
    try:
        dkim = read_dkim(mailcow, settings.mail_domain_for(population_key))
        desired, diff = population_diff(desec, settings, population_key, dkim)
        outcome.desired = len(desired)
        # Write-ahead: the desired rrsets are on record before deSEC is asked, so a deferred or lost write is
        # repaired from the store (`reconcile_stored`) without Mailcow.
        outcome.desired_hash = store.save_desired_rrsets(population_key, zone, [r.to_payload() for r in desired])
        _apply(desec, zone, diff, outcome)
    except DesecThrottled as exc:
        outcome.deferral = defer_dns(store, zone, [population_key], exc)
    else:
        outcome.provisioned = store.mark_dns_written([population_key])
    outcome.requests = desec.request_count - start_requests
    outcome.writes = desec.write_count - start_writes
    return outcome


def reconcile_stored(
    *, desec: DesecClient, store: Store, settings: Settings, keys: list[str] | None = None
) -> DnsOutcome:
    """Converge many populations to their stored desired rrsets in ONE bulk write (one zone read).

    Pending populations among them become `provisioned` once written; if deSEC defers the write, every
    population the write would have changed becomes `dns_pending` with deSEC's time (`outcome.deferral`)."""
    start_requests, start_writes = desec.request_count, desec.write_count
    zone = settings.desec_domain
    outcome = DnsOutcome(zone=zone)
    stored = store.desired_rrsets(zone, keys)
    desired: list[RRset] = []
    scope: set[tuple[str, str]] = set()
    mine: list[RRset] = []
    diff: RRsetDiff | None = None
    try:
        actual = desec.list_rrsets(zone)
        for key, rrsets in sorted(stored.items()):
            desired += [RRset.model_validate(r) for r in rrsets]
            scope |= population_scope(key, settings.dkim_selector)
            mine += [r for r in actual if in_subtree(r, key)]
        outcome.desired = len(desired)
        diff = diff_rrsets(desired, mine, managed=scope)
        _apply(desec, zone, diff, outcome)
    except DesecThrottled as exc:
        # Throttled on the write: the populations it would have changed wait. Throttled on the read (the
        # user's daily limit): nothing is known to be missing, so only those already pending get the new time.
        waiting = (
            _keys_touched(sorted(stored), diff) if diff is not None else [k for k in store.dns_pending() if k in stored]
        )
        outcome.deferral = defer_dns(store, zone, waiting, exc)
    else:
        outcome.provisioned = store.mark_dns_written(sorted(stored))
    outcome.requests = desec.request_count - start_requests
    outcome.writes = desec.write_count - start_writes
    return outcome


def dns_configured(settings: Settings) -> bool:
    return settings.desec_token is not None and bool(settings.desec_token.get_secret_value())


def population_teardown_diff(desec: DesecClient, settings: Settings, population_key: str) -> RRsetDiff:
    """Read only: the deletes that remove the population's rrsets (one paginated read of the zone)."""
    actual = [r for r in desec.list_rrsets(settings.desec_domain) if in_subtree(r, population_key)]
    return diff_rrsets([], actual, managed=population_scope(population_key, settings.dkim_selector))


# -- base records and the mail host's addresses -------------------------------------------------------------


DEDYN_SUFFIX = ".dedyn.io"
DEDYN_UPDATE_URL = "https://update.dedyn.io/"
DYNDNS_ENDPOINT_TTL = 60  # what deSEC's dynDNS update endpoint writes, whatever the zone's minimum (contract §8)


def dyndns_update_url(settings: Settings) -> str | None:
    """The dynDNS update endpoint for the mail host, where the zone is a dynDNS zone: `DESEC_DYNDNS_URL`, or
    deSEC's own for a `*.dedyn.io` zone; None elsewhere (the rrset API then writes the zone's minimum TTL)."""
    if settings.desec_dyndns_url:
        return settings.desec_dyndns_url
    zone = settings.desec_domain.rstrip(".").lower()
    return DEDYN_UPDATE_URL if zone.endswith(DEDYN_SUFFIX) else None


def mail_host_subname(settings: Settings) -> str:
    host, zone = settings.mail_hostname.rstrip(".").lower(), settings.desec_domain.rstrip(".").lower()
    if host == zone:
        return ""
    if not host.endswith("." + zone):
        raise ConfigurationError(f"MAIL_HOSTNAME {host!r} is not inside DESEC_DOMAIN {zone!r}")
    return host[: -len(zone) - 1]


def bootstrap_dns(
    *,
    desec: DesecClient,
    settings: Settings,
    ipv4: str | None,
    ipv6: str | None,
    include_srv: bool = False,
    create_zone: bool = True,
) -> DnsOutcome:
    """Write the zone's base records (mail host A/AAAA, apex MX/SPF/DMARC, autoconfig/autodiscover) in one
    bulk write; idempotent. Creates the zone on deSEC first if it does not exist and `create_zone`."""
    zone = settings.desec_domain
    start_requests, start_writes = desec.request_count, desec.write_count
    outcome = DnsOutcome(zone=zone)
    try:
        domain = desec.get_domain(zone)
    except DesecNotFound:
        if not create_zone:
            raise
        domain = desec.create_domain(zone)
    desired = desired_base_rrsets(
        mail_hostname=settings.mail_hostname,
        zone=zone,
        ipv4=ipv4,
        ipv6=ipv6,
        ttl=settings.dns_ttl,
        minimum_ttl=domain.minimum_ttl,
        include_srv=include_srv,
    )
    host_ips: list[RRset] = []
    if dyndns_update_url(settings):  # the mail host's A/AAAA go through dynDNS (TTL 60), not the bulk write
        subname = mail_host_subname(settings)
        host_ips = [r for r in desired if r.subname == subname and r.type in {"A", "AAAA"}]
        desired = [r for r in desired if r not in host_ips]
    keys = {r.key for r in desired}
    actual = [r for r in desec.list_rrsets(zone) if r.key in keys]
    outcome.desired = len(desired) + len(host_ips)
    _apply(desec, zone, diff_rrsets(desired, actual), outcome)
    if host_ips:
        result = update_mail_host(desec=desec, settings=settings, ipv4=ipv4, ipv6=ipv6)
        outcome.changed += result.changed
        if result.changed:
            outcome.changes.append(f"~ {mail_host_subname(settings) or '@'} A/AAAA (dynDNS, TTL {DYNDNS_ENDPOINT_TTL})")
    outcome.requests = desec.request_count - start_requests
    outcome.writes = desec.write_count - start_writes
    return outcome


@dataclass
class DyndnsOutcome:
    ipv4: str | None
    ipv6: str | None
    changed: int
    writes: int


def detect_public_ips(settings: Settings, *, timeout: float = 10.0) -> tuple[str | None, str | None]:
    """The mail host's public IPv4/IPv6: fixed values win; else the plain-text answer of DYNDNS_IP_SOURCE_URL."""
    ipv4, ipv6 = settings.dyndns_fixed_ipv4, settings.dyndns_fixed_ipv6
    if (ipv4 is None or ipv6 is None) and settings.dyndns_ip_source_url:
        with httpx.Client(timeout=timeout) as http:
            response = send_with_retry(
                lambda: http.get(settings.dyndns_ip_source_url or ""),
                RetryPolicy(max_attempts=3, max_total=30),
                what="public IP lookup",
            )
        if response.status_code != 200:
            raise ApiError(f"public IP lookup answered HTTP {response.status_code}", status=response.status_code)
        text = response.text.strip().split()[0] if response.text.strip() else ""
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise ApiError(f"public IP lookup answered something that is not an IP address: {text[:60]!r}") from None
        if address.version == 4 and ipv4 is None:
            ipv4 = str(address)
        elif address.version == 6 and ipv6 is None:
            ipv6 = address.compressed
    if ipv4 is None and ipv6 is None:
        raise ConfigurationError("no public IP: set DYNDNS_IP_SOURCE_URL or DYNDNS_FIXED_IPV4/DYNDNS_FIXED_IPV6")
    return ipv4, ipv6


def update_mail_host(*, desec: DesecClient, settings: Settings, ipv4: str | None, ipv6: str | None) -> DyndnsOutcome:
    """Point the mail host's A/AAAA at the given addresses; one read, and a write only when something changed.

    In a dynDNS zone (`dyndns_update_url`) the write is one dynDNS update (TTL 60, which the rrset API would
    refuse below the zone's minimum); elsewhere one bulk write at the shortest TTL the zone allows."""
    zone = settings.desec_domain
    subname = mail_host_subname(settings)
    start_writes = desec.write_count
    url = dyndns_update_url(settings)
    if url is not None:
        return _update_mail_host_dyndns(desec, settings, url, subname, ipv4, ipv6)
    minimum_ttl = desec.get_domain(zone).minimum_ttl
    ttl = max(settings.dyndns_ttl, minimum_ttl)  # short as the zone allows: the address may move
    desired = []
    if ipv4:
        desired.append(RRset(subname=subname, type="A", ttl=ttl, records=(ipv4,)))
    if ipv6:
        desired.append(RRset(subname=subname, type="AAAA", ttl=ttl, records=(ipv6,)))
    actual = [r for r in desec.list_rrsets(zone, subname=subname) if r.type in {"A", "AAAA"}]
    # Only records change the answer; keep whatever TTL the operator set on an existing rrset.
    by_key = {r.key: r for r in actual}
    desired = [r.model_copy(update={"ttl": by_key[r.key].ttl}) if r.key in by_key else r for r in desired]
    diff = diff_rrsets(desired, actual)
    changed = desec.patch_rrsets(zone, diff)
    return DyndnsOutcome(ipv4=ipv4, ipv6=ipv6, changed=changed, writes=desec.write_count - start_writes)


def _update_mail_host_dyndns(
    desec: DesecClient, settings: Settings, url: str, subname: str, ipv4: str | None, ipv6: str | None
) -> DyndnsOutcome:
    """One read; one dynDNS update when an address or the TTL differs. A family given as None is preserved."""
    start_writes = desec.write_count
    wanted = {"A": ipv4, "AAAA": ipv6}
    actual = {r.type: r for r in desec.list_rrsets(settings.desec_domain, subname=subname) if r.type in wanted}
    stale = [
        rtype
        for rtype, address in wanted.items()
        if address is not None
        and (
            rtype not in actual
            or actual[rtype].ttl != DYNDNS_ENDPOINT_TTL
            or not actual[rtype].same_as(actual[rtype].model_copy(update={"records": (address,)}))
        )
    ]
    if stale:
        desec.dyndns_update(settings.mail_hostname.rstrip("."), ipv4=ipv4, ipv6=ipv6, url=url)
    return DyndnsOutcome(ipv4=ipv4, ipv6=ipv6, changed=len(stale), writes=desec.write_count - start_writes)
