"""The deSEC RRset and its canonical presentation. Pure: no I/O.

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
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from azt3knet_pipeline.domain.dns.txt import present_txt, txt_content

MAX_TTL = 86400

# Types deSEC manages itself: never listed as ours, never written, never diffed.
AUTOMATIC_TYPES = frozenset({"SOA", "RRSIG", "NSEC", "NSEC3", "NSEC3PARAM", "OPT", "KEY"})
# Types whose whole record is one domain name.
_NAME_TYPES = frozenset({"CNAME", "NS", "PTR", "DNAME"})
_TXT_TYPES = frozenset({"TXT", "SPF"})

LABEL_RE = re.compile(r"^[a-z0-9_-]{1,63}$")
# deSEC's subname pattern (lowercase only); "" is the apex.
SUBNAME_RE = re.compile(r"^([*]|(([*][.])?([a-z0-9_-]{1,63}[.])*[a-z0-9_-]{1,63}))$")


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


def sorted_rrsets(rrsets: Iterable[RRset]) -> list[RRset]:
    """`rrsets` in key order (subname, type): every list the planners return is sorted."""
    return sorted(rrsets, key=lambda r: r.key)


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
