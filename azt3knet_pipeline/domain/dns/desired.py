"""Desired rrsets: what a population's mail domain and the zone itself should hold on deSEC. Pure: no I/O.

Every limit (TTL, the zone's minimum TTL, DMARC report address) is an argument: the callers read the settings.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from azt3knet_pipeline.domain.dns.rrset import LABEL_RE, RRset, effective_ttl, sorted_rrsets
from azt3knet_pipeline.domain.dns.txt import quote_txt
from azt3knet_pipeline.domain.models import validate_population_key

MX_PRIORITY = 10

# Mailcow's advanced SRV records (mailcow.md §6): service -> port. Priority 0, weight 1.
MAILCOW_SRV_PORTS: dict[str, int] = {
    "_autodiscover._tcp": 443,
    "_caldavs._tcp": 443,
    "_carddavs._tcp": 443,
    "_imap._tcp": 143,
    "_imaps._tcp": 993,
    "_pop3._tcp": 110,
    "_pop3s._tcp": 995,
    "_sieve._tcp": 4190,
    "_smtps._tcp": 465,
    "_submission._tcp": 587,
    "_submissions._tcp": 465,
}
_DAV_PATH_TXT = ("_caldavs._tcp", "_carddavs._tcp")


def validate_dkim_selector(value: str) -> str:
    """A DKIM selector as deSEC subname labels: lowercased, each label `[a-z0-9_-]{1,63}`."""
    selector = value.strip().lower()
    if not selector or not all(LABEL_RE.fullmatch(label) for label in selector.split(".")):
        raise ValueError(f"DKIM selector {value!r} is not usable as DNS labels")
    return selector


class DkimRecord(BaseModel):
    """Mailcow's DKIM key of one domain: `txt` is `dkim_txt`, plain or already split as `"…" "…"` chunks."""

    model_config = ConfigDict(frozen=True)

    selector: str = "dkim"
    txt: str = Field(min_length=1)

    @field_validator("selector")
    @classmethod
    def _selector(cls, value: str) -> str:
        return validate_dkim_selector(value)

    @classmethod
    def from_mailcow(cls, payload: dict[str, Any]) -> DkimRecord | None:
        """From Mailcow's `GET /api/v1/get/dkim/{domain}` answer; `{}` (no key) gives None."""
        if not payload or not payload.get("dkim_txt"):
            return None
        return cls(selector=payload.get("dkim_selector") or "dkim", txt=payload["dkim_txt"])


def _hostname(value: str, what: str) -> str:
    host = value.strip().lower().rstrip(".")
    labels = host.split(".") if host else []
    if not labels or not all(LABEL_RE.fullmatch(label) for label in labels):
        raise ValueError(f"{what} {value!r} is not a valid DNS name")
    return host


def _spf(mail_hostname: str) -> str:
    return f"v=spf1 mx a:{mail_hostname} -all"


def _dmarc(dmarc_rua: str | None) -> str:
    value = "v=DMARC1; p=reject; adkim=s; aspf=s"
    if dmarc_rua:
        rua = dmarc_rua.strip()
        if not rua.lower().startswith("mailto:"):
            rua = f"mailto:{rua}"
        if any(c in rua for c in ';, "\\'):
            raise ValueError(f"dmarc_rua {dmarc_rua!r} must be one plain mail address")
        value += f"; rua={rua}"
    return value


def _sub(*parts: str) -> str:
    return ".".join(p for p in parts if p)


def desired_population_rrsets(
    *,
    population_key: str,
    mail_hostname: str,
    dkim: DkimRecord | None,
    ttl: int,
    minimum_ttl: int,
    dmarc_rua: str | None = None,
) -> list[RRset]:
    """The rrsets of one population's mail domain `<key>.<zone>`, as subnames relative to the zone."""
    key = validate_population_key(population_key)
    host = _hostname(mail_hostname, "mail_hostname")
    the_ttl = effective_ttl(ttl, minimum_ttl)
    rrsets = [
        RRset(subname=key, type="MX", ttl=the_ttl, records=(f"{MX_PRIORITY} {host}.",)),
        RRset(subname=key, type="TXT", ttl=the_ttl, records=(quote_txt(_spf(host)),)),
        RRset(subname=_sub("_dmarc", key), type="TXT", ttl=the_ttl, records=(quote_txt(_dmarc(dmarc_rua)),)),
        RRset(subname=_sub("autoconfig", key), type="CNAME", ttl=the_ttl, records=(f"{host}.",)),
        RRset(subname=_sub("autodiscover", key), type="CNAME", ttl=the_ttl, records=(f"{host}.",)),
    ]
    if dkim is not None:
        rrsets.append(
            RRset(
                subname=_sub(dkim.selector, "_domainkey", key),
                type="TXT",
                ttl=the_ttl,
                records=(quote_txt(dkim.txt),),
            )
        )
    return sorted_rrsets(rrsets)


def desired_base_rrsets(
    *,
    mail_hostname: str,
    zone: str,
    ipv4: str | None,
    ipv6: str | None,
    ttl: int,
    minimum_ttl: int,
    dmarc_rua: str | None = None,
    dkim: DkimRecord | None = None,
    include_srv: bool = False,
) -> list[RRset]:
    """Bootstrap rrsets of the zone itself: the mail host's A/AAAA and Mailcow's recommended mail records.

    `mail_hostname` must be the zone or inside it. With `include_srv`, the SRV records of mailcow.md §6 (and
    the `"path=/SOGo/dav/"` TXT beside CalDAV/CardDAV) are added.
    """
    the_zone = _hostname(zone, "zone")
    host = _hostname(mail_hostname, "mail_hostname")
    if host != the_zone and not host.endswith("." + the_zone):
        raise ValueError(f"mail_hostname {host!r} is not inside the zone {the_zone!r}")
    host_sub = "" if host == the_zone else host[: -len(the_zone) - 1]
    the_ttl = effective_ttl(ttl, minimum_ttl)
    rrsets: list[RRset] = []
    if ipv4:
        address = ipaddress.ip_address(ipv4.strip())
        if address.version != 4:
            raise ValueError(f"ipv4 {ipv4!r} is not an IPv4 address")
        rrsets.append(RRset(subname=host_sub, type="A", ttl=the_ttl, records=(str(address),)))
    if ipv6:
        address = ipaddress.ip_address(ipv6.strip())
        if address.version != 6:
            raise ValueError(f"ipv6 {ipv6!r} is not an IPv6 address")
        rrsets.append(RRset(subname=host_sub, type="AAAA", ttl=the_ttl, records=(address.compressed,)))
    rrsets += [
        RRset(subname="", type="MX", ttl=the_ttl, records=(f"{MX_PRIORITY} {host}.",)),
        RRset(subname="", type="TXT", ttl=the_ttl, records=(quote_txt(_spf(host)),)),
        RRset(subname="_dmarc", type="TXT", ttl=the_ttl, records=(quote_txt(_dmarc(dmarc_rua)),)),
    ]
    for alias in ("autoconfig", "autodiscover"):
        if alias != host_sub:  # a CNAME cannot share its name with the host's A/AAAA
            rrsets.append(RRset(subname=alias, type="CNAME", ttl=the_ttl, records=(f"{host}.",)))
    if dkim is not None:
        rrsets.append(
            RRset(
                subname=_sub(dkim.selector, "_domainkey"),
                type="TXT",
                ttl=the_ttl,
                records=(quote_txt(dkim.txt),),
            )
        )
    if include_srv:
        for service, port in MAILCOW_SRV_PORTS.items():
            rrsets.append(RRset(subname=service, type="SRV", ttl=the_ttl, records=(f"0 1 {port} {host}.",)))
        for service in _DAV_PATH_TXT:
            rrsets.append(RRset(subname=service, type="TXT", ttl=the_ttl, records=(quote_txt("path=/SOGo/dav/"),)))
    return sorted_rrsets(rrsets)


def population_scope(population_key: str, dkim_selector: str | None) -> set[tuple[str, str]]:
    """The (subname, type) keys one population owns: what teardown deletes and what a diff may delete."""
    key = validate_population_key(population_key)
    scope = {
        (key, "MX"),
        (key, "TXT"),
        (_sub("_dmarc", key), "TXT"),
        (_sub("autoconfig", key), "CNAME"),
        (_sub("autodiscover", key), "CNAME"),
    }
    if dkim_selector:
        scope.add((_sub(validate_dkim_selector(dkim_selector), "_domainkey", key), "TXT"))
    return scope
