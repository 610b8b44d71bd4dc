"""Desired DNS state for populations and the mail host, and diffing against what deSEC holds. Pure: no I/O.

deSEC answers in *canonical* presentation format (names lowercased, long TXT strings split at 255 bytes, IPv6
compressed), which rarely matches what we sent byte for byte. Every comparison therefore goes through
`normalise_record`/`normalise_rrset`, so a presentation difference is never mistaken for drift and never
causes a write.

Subnames are always relative to the deSEC zone (`DESEC_DOMAIN`) and `""` means the zone apex: a population's
mail domain `<key>.<zone>` is a subtree of that zone, not a zone of its own.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from azt3knet_pipeline.domain.models import canonical_json, sha256_hex, validate_population_key

MAX_TTL = 86400
MX_PRIORITY = 10
TXT_STRING_MAX_BYTES = 255

# Types deSEC manages itself: never listed as ours, never written, never diffed.
AUTOMATIC_TYPES = frozenset({"SOA", "RRSIG", "NSEC", "NSEC3", "NSEC3PARAM", "OPT", "KEY"})
# Types whose whole record is one domain name.
_NAME_TYPES = frozenset({"CNAME", "NS", "PTR", "DNAME"})
_TXT_TYPES = frozenset({"TXT", "SPF"})

_LABEL_RE = re.compile(r"^[a-z0-9_-]{1,63}$")
# deSEC's subname pattern (lowercase only); "" is the apex.
SUBNAME_RE = re.compile(r"^([*]|(([*][.])?([a-z0-9_-]{1,63}[.])*[a-z0-9_-]{1,63}))$")

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


class RRset(BaseModel):
    """One deSEC RRset: `subname` relative to the zone (`""` = apex; `"@"` is accepted and stored as `""`)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    subname: str = ""
    type: str
    ttl: int
    records: tuple[str, ...] = Field(default_factory=tuple)

    @field_validator("subname", mode="before")
    @classmethod
    def _apex(cls, value: Any) -> Any:
        if value is None or value == "@":
            return ""
        return value

    @field_validator("type", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @property
    def key(self) -> tuple[str, str]:
        return (self.subname, self.type)

    def normalised(self) -> RRset:
        return normalise_rrset(self)

    def same_as(self, other: RRset) -> bool:
        """Equal up to presentation: key, ttl and the normalised set of records."""
        return self.normalised() == other.normalised()

    def to_payload(self) -> dict[str, Any]:
        """The deSEC body form; `subname` always explicit (`""` for the apex, never `"@"`)."""
        return {"subname": self.subname, "type": self.type, "ttl": self.ttl, "records": list(self.records)}


def validate_dkim_selector(value: str) -> str:
    """A DKIM selector as deSEC subname labels: lowercased, each label `[a-z0-9_-]{1,63}`."""
    selector = value.strip().lower()
    if not selector or not all(_LABEL_RE.fullmatch(label) for label in selector.split(".")):
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


# --- TXT presentation ---------------------------------------------------------------------------------------


def parse_txt_strings(value: str) -> list[bytes] | None:
    """Parse `"a" "b\\"c"` into its character-strings (escapes resolved); None unless the whole value is a
    whitespace-separated sequence of quoted strings."""
    strings: list[bytes] = []
    i, n = 0, len(value)
    while True:
        while i < n and value[i].isspace():
            i += 1
        if i == n:
            return strings if strings else None
        if value[i] != '"':
            return None
        i += 1
        buf = bytearray()
        while i < n and value[i] != '"':
            char = value[i]
            if char == "\\":
                if i + 1 >= n:
                    return None
                digits = value[i + 1 : i + 4]
                if len(digits) == 3 and digits.isascii() and digits.isdigit():
                    code = int(digits)
                    if code > 255:
                        return None
                    buf.append(code)
                    i += 4
                    continue
                buf += value[i + 1].encode("utf-8")
                i += 2
                continue
            buf += char.encode("utf-8")
            i += 1
        if i >= n:
            return None  # unterminated string
        i += 1
        if i < n and not value[i].isspace():
            return None  # `"a"b` is not a sequence of quoted strings
        strings.append(bytes(buf))


def txt_content(value: str) -> bytes:
    """The data of a TXT record: quoted strings are unescaped and joined; anything else is taken verbatim."""
    parsed = parse_txt_strings(value)
    if parsed is not None:
        return b"".join(parsed)
    return value.encode("utf-8")


def _escape(chunk: bytes, *, keep_utf8: bool) -> str:
    if keep_utf8:
        return chunk.decode("utf-8").replace("\\", "\\\\").replace('"', '\\"')
    out = []
    for byte in chunk:
        if byte in (0x22, 0x5C):
            out.append("\\" + chr(byte))
        elif 0x20 <= byte <= 0x7E:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return "".join(out)


def _utf8_chunks(text: str, limit: int) -> list[bytes]:
    """Split text into UTF-8 chunks of at most `limit` bytes without cutting a character in two."""
    chunks: list[bytes] = []
    current = bytearray()
    for char in text:
        encoded = char.encode("utf-8")
        if len(current) + len(encoded) > limit:
            chunks.append(bytes(current))
            current = bytearray()
        current += encoded
    chunks.append(bytes(current))
    return chunks


def quote_txt(value: str) -> str:
    """A TXT value as deSEC wants it: quoted strings of at most 255 bytes, `"` and `\\` escaped.

    A value that already is a sequence of quoted strings (Mailcow's split `dkim_txt`) is unquoted and joined
    first, so quoting is idempotent: `quote_txt(quote_txt(v)) == quote_txt(v)`.
    """
    content = txt_content(value)
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return present_txt([content])
    return " ".join(f'"{_escape(c, keep_utf8=True)}"' for c in _utf8_chunks(text, TXT_STRING_MAX_BYTES))


def _split255(data: bytes) -> list[bytes]:
    return [data[i : i + TXT_STRING_MAX_BYTES] for i in range(0, len(data), TXT_STRING_MAX_BYTES)] or [b""]


def present_txt(strings: Iterable[bytes]) -> str:
    """Canonical presentation of TXT character-strings (as deSEC/dnspython print them): each string split at
    255 bytes, quoted, `"` and `\\` escaped, bytes outside printable ASCII as `\\DDD`."""
    return " ".join(f'"{_escape(chunk, keep_utf8=False)}"' for s in strings for chunk in _split255(s))


# --- normalisation ------------------------------------------------------------------------------------------


def _name(value: str) -> str:
    value = value.strip().lower()
    return value if value.endswith(".") else value + "."


def _int_text(value: str) -> str | None:
    return str(int(value)) if value.isascii() and value.isdigit() else None


def normalise_record(type: str, value: str) -> str:
    """One record in a canonical presentation, so two spellings of the same data compare equal.

    TXT/SPF: strings joined, re-split at 255 bytes, escapes canonical. MX/CNAME/NS/SRV/PTR/DNAME: names
    lowercased with a trailing dot. A/AAAA: canonical address text. Anything else: whitespace collapsed.
    Idempotent: `normalise_record(t, normalise_record(t, v)) == normalise_record(t, v)`.
    """
    rtype = type.strip().upper()
    if rtype in _TXT_TYPES:
        return present_txt([txt_content(value.strip())])
    collapsed = " ".join(value.split())
    try:
        if rtype == "A":
            return str(ipaddress.IPv4Address(collapsed))
        if rtype == "AAAA":
            return ipaddress.IPv6Address(collapsed).compressed
    except ValueError:
        return collapsed
    parts = collapsed.split(" ")
    if rtype in _NAME_TYPES and len(parts) == 1 and parts[0]:
        return _name(parts[0])
    if rtype == "MX" and len(parts) == 2 and _int_text(parts[0]) is not None:
        return f"{_int_text(parts[0])} {_name(parts[1])}"
    if rtype == "SRV" and len(parts) == 4 and all(_int_text(p) is not None for p in parts[:3]):
        return " ".join([*(str(_int_text(p)) for p in parts[:3]), _name(parts[3])])
    return collapsed


def normalise_rrset(rrset: RRset) -> RRset:
    """Lowercase subname, uppercase type, records normalised, de-duplicated and sorted (order is no data)."""
    rtype = rrset.type.upper()
    records = tuple(sorted({normalise_record(rtype, r) for r in rrset.records}))
    return RRset(subname=rrset.subname.strip().lower(), type=rtype, ttl=rrset.ttl, records=records)


def effective_ttl(ttl: int, minimum_ttl: int) -> int:
    """The TTL deSEC will accept: at least the domain's `minimum_ttl`, at most 86400."""
    return min(max(int(ttl), int(minimum_ttl)), MAX_TTL)


# --- desired state ------------------------------------------------------------------------------------------


def _hostname(value: str, what: str) -> str:
    host = value.strip().lower().rstrip(".")
    labels = host.split(".") if host else []
    if not labels or not all(_LABEL_RE.fullmatch(label) for label in labels):
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


def _sorted(rrsets: Iterable[RRset]) -> list[RRset]:
    return sorted(rrsets, key=lambda r: r.key)


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
    return _sorted(rrsets)


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
    return _sorted(rrsets)


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


# --- diffing ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RRsetDiff:
    """What makes `actual` match `desired`: upserts (full rrsets) and deletes (sent with `records: []`)."""

    upserts: list[RRset] = field(default_factory=list)
    deletes: list[RRset] = field(default_factory=list)
    unchanged: int = 0

    @property
    def is_empty(self) -> bool:
        return not self.upserts and not self.deletes

    @property
    def changed(self) -> int:
        return len(self.upserts) + len(self.deletes)

    def to_bulk_payload(self) -> list[dict[str, Any]]:
        """deSEC bulk PATCH/PUT body: explicit `subname` (`""` = apex), `records: []` for a delete."""
        payload = [r.to_payload() for r in self.upserts]
        # A bulk PATCH delete needs only subname and type; leaving the TTL out keeps a delete valid even when
        # the zone's minimum_ttl has since risen above the rrset's TTL.
        payload += [{"subname": r.subname, "type": r.type, "records": []} for r in self.deletes]
        return payload


def _index(rrsets: Iterable[RRset], what: str) -> dict[tuple[str, str], RRset]:
    index: dict[tuple[str, str], RRset] = {}
    for rrset in rrsets:
        normal = normalise_rrset(rrset)
        if normal.key in index:
            raise ValueError(f"{what} rrsets name {normal.key} twice")
        index[normal.key] = normal
    return index


def diff_rrsets(
    desired: Iterable[RRset],
    actual: Iterable[RRset],
    *,
    managed: set[tuple[str, str]] | None = None,
) -> RRsetDiff:
    """Upsert each desired rrset whose records or ttl differ; delete actual rrsets in `managed` that are not
    desired (nothing outside `managed` is ever deleted; `managed=None` deletes nothing). A desired rrset with
    no records means "must not exist". Presentation differences are not differences. Output is sorted."""
    want = _index(desired, "desired")
    have = _index(actual, "actual")
    scope = {(s.lower(), t.upper()) for s, t in (managed or set())}
    upserts: list[RRset] = []
    deletes: list[RRset] = []
    unchanged = 0
    for key, rrset in sorted(want.items()):
        current = have.get(key)
        if not rrset.records:
            if current is not None and current.records:
                deletes.append(current)
            else:
                unchanged += 1
        elif current is not None and current.records == rrset.records and current.ttl == rrset.ttl:
            unchanged += 1
        else:
            upserts.append(rrset)
    for key, current in sorted(have.items()):
        if key in scope and key not in want and key[1] not in AUTOMATIC_TYPES:
            deletes.append(current)
    return RRsetDiff(upserts=upserts, deletes=_sorted(deletes), unchanged=unchanged)


def _in_subtree(subname: str, key: str) -> bool:
    return subname == key or subname.endswith("." + key)


def drift_hash(diff: RRsetDiff) -> str:
    """sha256 of the canonical diff: the same drift always hashes the same."""
    return sha256_hex(canonical_json(diff.to_bulk_payload()))


def drift_for_populations(desired_by_key: dict[str, list[RRset]], actual: list[RRset]) -> dict[str, str]:
    """For each population whose rrsets differ from its desired ones, a stable drift hash; no drift = absent.

    Deleting is considered only within each population's own scope (its desired keys and the fixed keys of
    `population_scope`), so records of other populations and of the zone never count as drift.
    """
    normal_actual = [normalise_rrset(r) for r in actual]
    drift: dict[str, str] = {}
    for key in sorted(desired_by_key):
        desired = desired_by_key[key]
        scope = population_scope(key, None) | {normalise_rrset(r).key for r in desired}
        mine = [r for r in normal_actual if _in_subtree(r.subname, key)]
        diff = diff_rrsets(desired, mine, managed=scope)
        if not diff.is_empty:
            drift[key] = drift_hash(diff)
    return drift
