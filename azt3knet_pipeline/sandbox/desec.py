"""A local deSEC stand-in (Starlette ASGI app) that behaves like `shared/contracts/desec.md`, quirks included.

Reproduced: token auth and its 401 bodies; domains (list/create/get/delete, PATCH 405); rrsets with deSEC's
field rules and exact messages, single and bulk (atomic, 400 list aligned with the input, `{}` for valid
items), CNAME exclusivity, canonical record presentation (names lowercased, TXT split at 255 bytes); cursor
pagination (400 + `Link: rel="first"` above the page size); DRF-style sliding-window throttles per scope
(429 + `Retry-After`, long past the hour/day buckets); the dynDNS update endpoint (TTL 60); fault injection;
optional JSON state file.

State is exposed as `app.state.sandbox` (a `DesecSandbox`), with counters and helpers for tests, and over HTTP
under `/_sandbox/` (no auth). The throttle clock is injectable (`create_desec_app(clock=...)`) and can be moved
forward (`advance_clock`, `POST /_sandbox/clock {"advance": 3600}`), and a bucket window can be used up
(`spend_throttle`, `POST /_sandbox/throttle/spend`), so a test can meet deSEC's hour and day limits and let an
hour pass without sleeping.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import hashlib
import ipaddress
import json
import math
import os
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from azt3knet_pipeline.domain.dns_plan import (
    AUTOMATIC_TYPES,
    MAX_TTL,
    SUBNAME_RE,
    RRset,
    parse_txt_strings,
    present_txt,
)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ALL_METHODS = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]
DEFAULT_TOKEN = "sandbox-desec-token"
SANDBOX_ACCOUNT = "sandbox"
DEFAULT_THROTTLE_RATES: dict[str, list[str]] = {
    "dns_api_cheap": ["10/s", "50/min"],
    "dns_api_expensive": ["10/s", "300/min", "1000/h"],
    "dns_api_per_domain_expensive": ["2/s", "15/min", "100/h", "300/day"],
    "dyndns": ["2/2min"],
    "user": ["2000/day"],
}

DOMAIN_NAME_RE = re.compile(r"^(([a-z0-9_-]{1,63})\.)*[a-z0-9-]{1,63}$")
TYPE_RE = re.compile(r"^[A-Z][A-Z0-9]*$")
MANAGEABLE_TYPES = frozenset(
    {
        "A", "AAAA", "AFSDB", "APL", "CAA", "CDNSKEY", "CDS", "CERT", "CNAME", "CSYNC", "DHCID", "DLV",
        "DNAME", "DNSKEY", "DS", "EUI48", "EUI64", "HINFO", "HTTPS", "KX", "L32", "L64", "LOC", "LP", "MX",
        "NAPTR", "NID", "NS", "OPENPGPKEY", "PTR", "RP", "SMIMEA", "SPF", "SRV", "SSHFP", "SVCB", "TLSA",
        "TXT", "URI",
    }
)  # fmt: skip
_NAME_TYPES = frozenset({"CNAME", "NS", "PTR", "DNAME"})
_HEX_TAIL_TYPES = {"DS": 3, "CDS": 3, "DLV": 3, "TLSA": 3, "SMIMEA": 3, "SSHFP": 2}

MSG_REQUIRED = "This field is required."
MSG_FQDN = 'Hostname must be fully qualified (i.e., end in a dot: "example.com.")'
MSG_EXISTS = "Another RRset with the same subdomain and type exists for this domain. (Try modifying it.)"
MSG_SUBNAME = (
    "Subname can only use (lowercase) a-z, 0-9, ., -, and _, may start with a '*.', or just be '*'. "
    "Components may not exceed 63 characters."
)
MSG_NAME_UNAVAILABLE = "This domain name conflicts with an existing domain, or is disallowed by policy."
MSG_NO_PERMISSION = "Insufficient token permissions."
MSG_NOT_PERMITTED = "You do not have permission to perform this action."


# --- configuration ------------------------------------------------------------------------------------------


_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_UNITS |= {"d": 86400, "day": 86400}


def parse_rate(rate: str) -> tuple[int, float]:
    """`"15/min"` → (15, 60.0); also `"2/2min"`, `"3/0.5s"`, `"100/hour"`."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d*\.?\d*)\s*([a-z]+)\s*", rate)
    if not match or match.group(3) not in _UNITS or int(match.group(1)) < 1:
        raise ValueError(f"rate {rate!r} is not like '15/min' or '2/2min'")
    multiplier = float(match.group(2)) if match.group(2) else 1.0
    if multiplier <= 0:
        raise ValueError(f"rate {rate!r} has an empty window")
    return int(match.group(1)), multiplier * _UNITS[match.group(3)]


class SandboxDomain(BaseModel):
    """A domain to pre-create. `owner=None` is the sandbox account (the one the tokens belong to)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    minimum_ttl: int = Field(default=3600, ge=1, le=MAX_TTL)
    owner: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


class DesecSandboxConfig(BaseModel):
    """How the stand-in behaves. Defaults follow the contract; tests shrink page size and throttle windows."""

    model_config = ConfigDict(extra="forbid")

    tokens: list[str] = Field(default_factory=lambda: [DEFAULT_TOKEN])
    read_only_tokens: list[str] = Field(default_factory=list, description="writes → 403 (token policy)")
    account_email: str = "sandbox@example.test"
    domains: list[SandboxDomain] = Field(default_factory=list)
    minimum_ttl: int = Field(default=3600, ge=1, le=MAX_TTL, description="for domains created over the API")
    default_ns: list[str] = Field(default_factory=lambda: ["ns1.desec.io.", "ns2.desec.org."])
    page_size: int = Field(default=500, ge=1)
    domain_limit: int | None = None
    perm_create_domain: bool = True
    perm_delete_domain: bool = True
    throttle_enabled: bool = True
    throttle_rates: dict[str, list[str]] = Field(default_factory=lambda: copy.deepcopy(DEFAULT_THROTTLE_RATES))
    dyndns_ttl: int = 60
    error_rate: float = Field(default=0.0, ge=0, le=1, description="503 before the request is applied")
    error_after_apply_rate: float = Field(default=0.0, ge=0, le=1, description="503 after it was applied")
    timeout_rate: float = Field(default=0.0, ge=0, le=1, description="answer only after timeout_seconds")
    timeout_seconds: float = Field(default=30.0, ge=0)
    fault_seed: int | None = None
    state_file: Path | None = None

    @field_validator("throttle_rates")
    @classmethod
    def _rates(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for rates in value.values():
            for rate in rates:
                parse_rate(rate)
        return value


# --- state --------------------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _ts(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _parse_ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class _RRset:
    subname: str
    type: str
    ttl: int
    records: list[str]
    created: datetime
    touched: datetime
    seq: int


@dataclass
class _Domain:
    name: str
    owner: str
    minimum_ttl: int
    created: datetime
    seq: int
    published: datetime | None = None
    touched: datetime | None = None
    rrsets: dict[tuple[str, str], _RRset] = field(default_factory=dict)


def _fake_keys(name: str) -> list[dict[str, Any]]:
    """A deterministic, well-formed looking CSK (algorithm 13) and its DS values; not a real key."""
    public = base64.b64encode(hashlib.sha512(name.encode()).digest()).decode()
    tag = int.from_bytes(hashlib.sha256(name.encode()).digest()[:2], "big")
    return [
        {
            "dnskey": f"257 3 13 {public}",
            "ds": [
                f"{tag} 13 2 {hashlib.sha256(public.encode()).hexdigest()}",
                f"{tag} 13 4 {hashlib.sha384(public.encode()).hexdigest()}",
            ],
            "flags": 257,
            "keytype": "csk",
            "managed": True,
        }
    ]


class _Throttle:
    """DRF-like sliding windows: all rates of a scope enforced together; a denied request is not recorded."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.history: dict[tuple[str, str], deque[float]] = {}

    def check(self, scope: str, bucket: str, rates: list[tuple[int, float]]) -> float | None:
        """None when allowed (and recorded), else the seconds until a request is allowed again."""
        if not rates:
            return None
        now = self.clock()
        history = self.history.setdefault((scope, bucket), deque())
        longest = max(duration for _, duration in rates)
        while history and history[0] <= now - longest:
            history.popleft()
        waits = []
        for limit, duration in rates:
            window = [t for t in history if t > now - duration]
            if len(window) >= limit:
                waits.append(window[len(window) - limit] + duration - now)
        if waits:
            return max(waits)
        history.append(now)
        return None


class _Reply(Exception):
    """Raised inside a handler to answer at once (errors)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=headers)


def _fail(status: int, detail: Any, headers: dict[str, str] | None = None) -> _Reply:
    body = {"detail": detail} if isinstance(detail, str) else detail
    return _Reply(_json(body, status, headers))


def _throttled_detail(wait: int) -> str:
    unit = "second" if wait == 1 else "seconds"
    return f"Request was throttled. Expected available in {wait} {unit}."


# --- record validation (canonical presentation) -------------------------------------------------------------


def _malformed(rtype: str, what: str) -> ValueError:
    return ValueError(f"Record content for type {rtype} malformed: {what}")


def _target(name: str, rtype: str) -> str:
    if not name.endswith("."):
        raise ValueError(MSG_FQDN)
    if name == ".":
        return name
    labels = name[:-1].split(".")
    if any(not label for label in labels):
        raise _malformed(rtype, "A DNS label is empty.")
    if any(len(label.encode()) > 63 for label in labels):
        raise _malformed(rtype, "A DNS label is > 63 octets long.")
    if len(name.encode()) > 255:
        raise ValueError("Hostname must be no longer than 255 characters")
    return name.lower()


def _uint(text: str, bits: int) -> int:
    try:
        value = int(text, 10)
    except ValueError as exc:
        raise ValueError(f"Cannot parse record contents: {exc}") from None
    if not 0 <= value < 2**bits:
        raise ValueError(f"Cannot parse record contents: {text} is out of range")
    return value


def canonical_record(rtype: str, content: str) -> str:
    """deSEC's canonical presentation of one record, or ValueError with deSEC's message."""
    if rtype in ("TXT", "SPF"):
        strings = parse_txt_strings(content)
        if strings is None:
            raise ValueError(f"Data for {rtype} records must be given using quotation marks.")
        return present_txt(strings)
    tokens = content.split()
    if not tokens:
        raise _malformed(rtype, "unexpected end of input")
    try:
        if rtype == "A":
            return str(ipaddress.IPv4Address(content.strip()))
        if rtype == "AAAA":
            return ipaddress.IPv6Address(content.strip()).compressed
    except ValueError:
        raise _malformed(rtype, "Text input is malformed.") from None
    expected = {"MX": 2, "SRV": 4, **dict.fromkeys(_NAME_TYPES, 1)}.get(rtype)
    if expected is not None and len(tokens) != expected:
        raise _malformed(rtype, "unexpected end of input" if len(tokens) < expected else "expected end of input")
    if rtype in _NAME_TYPES:
        return _target(tokens[0], rtype)
    if rtype == "MX":
        return f"{_uint(tokens[0], 16)} {_target(tokens[1], rtype)}"
    if rtype == "SRV":
        numbers = [str(_uint(t, 16)) for t in tokens[:3]]
        return " ".join([*numbers, _target(tokens[3], rtype)])
    if rtype == "CAA":
        if len(tokens) < 3:
            raise _malformed(rtype, "unexpected end of input")
        value = content.strip().split(None, 2)[2]
        strings = parse_txt_strings(value)
        data = b"".join(strings) if strings is not None else value.encode()
        return f"{_uint(tokens[0], 8)} {tokens[1].lower()} {present_txt([data])}"
    if rtype in _HEX_TAIL_TYPES:
        head = _HEX_TAIL_TYPES[rtype]
        if len(tokens) <= head:
            raise _malformed(rtype, "unexpected end of input")
        digest = "".join(tokens[head:]).lower()
        try:
            binascii.unhexlify(digest)
        except binascii.Error:
            raise ValueError("Cannot parse hexadecimal or base64 record contents") from None
        return " ".join([*(str(_uint(t, 16)) for t in tokens[:head]), digest])
    return " ".join(tokens)


# --- the sandbox --------------------------------------------------------------------------------------------


def _empty_counters() -> dict[str, Any]:
    return {
        "requests": 0,
        "reads": 0,
        "writes": 0,
        "endpoints": {},
        "writes_by_domain": {},
        "throttled": 0,
        "faults": 0,
        "status": {},
    }


class DesecSandbox:
    """The stand-in's state and behaviour; thread-safe (the server thread and tests share it)."""

    def __init__(self, config: DesecSandboxConfig, clock: Callable[[], float] | None = None) -> None:
        self.config = config
        self.lock = threading.RLock()
        self._base_clock = clock or time.monotonic
        self._clock_offset = 0.0
        self.throttle = _Throttle(self.clock)
        self._counters: dict[str, Any] = _empty_counters()
        self.domains: dict[str, _Domain] = {}
        self._seq = 0
        self._rng = random.Random(config.fault_seed)
        self._rates = self._parsed_rates()
        if config.state_file is not None and Path(config.state_file).exists():
            self._load(Path(config.state_file))
        else:
            self.reset(keep_counters=True)

    # -- setup and helpers for tests --

    def clock(self) -> float:
        """The throttle clock: the injected (or monotonic) clock plus whatever `advance_clock` added."""
        return self._base_clock() + self._clock_offset

    def advance_clock(self, seconds: float) -> float:
        """Let `seconds` pass for the throttles without sleeping (an hour, a day). Returns the total advance."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self.lock:
            self._clock_offset += seconds
            return self._clock_offset

    def spend_throttle(self, scope: str, bucket: str, window: str) -> int:
        """Use up one window of a scope's bucket as if that many requests had been made, e.g.
        `("dns_api_per_domain_expensive", zone, "h")`: the zone's 100 rrset writes of the hour are gone, so the
        next write gets 429 with a Retry-After of about an hour (deSEC's hour/day buckets, contract §8).

        The requests are dated just outside every shorter window of the scope, so only this window (and
        longer ones) count them. Returns how many were recorded."""
        duration = _UNITS.get(window)
        if duration is None:
            raise ValueError(f"window {window!r} is not one of {sorted(_UNITS)}")
        with self.lock:
            rates = self._rates.get(scope, [])
            matching = [limit for limit, d in rates if d == duration]
            if not matching:
                raise ValueError(
                    f"scope {scope!r} has no {window!r} rate (rates: {self.config.throttle_rates.get(scope)})"
                )
            shorter = [d for _, d in rates if d < duration]
            at = self.clock() - (max(shorter) + 1 if shorter else 1)
            history = self.throttle.history.setdefault((scope, bucket), deque())
            recorded = max(0, min(matching) - sum(1 for t in history if t > self.clock() - duration))
            history.extend([at] * recorded)
            ordered = sorted(history)
            history.clear()
            history.extend(ordered)
            return recorded

    def _parsed_rates(self) -> dict[str, list[tuple[int, float]]]:
        return {scope: [parse_rate(r) for r in rates] for scope, rates in self.config.throttle_rates.items()}

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def reset(self, *, keep_counters: bool = False) -> None:
        """Back to the configured domains (no state file read), throttle history cleared."""
        with self.lock:
            self.domains = {}
            self.throttle.history.clear()
            if not keep_counters:
                self._counters = _empty_counters()
            for spec in self.config.domains:
                self._add_domain(spec.name, minimum_ttl=spec.minimum_ttl, owner=spec.owner)
            self._save()

    def add_domain(self, name: str, *, minimum_ttl: int | None = None, owner: str | None = None) -> dict[str, Any]:
        """Create a domain out of band (no auth, no throttle), with the default apex NS like deSEC does."""
        with self.lock:
            domain = self._add_domain(name, minimum_ttl=minimum_ttl, owner=owner)
            self._save()
            return self._domain_json(domain, keys=True)

    def _add_domain(self, name: str, *, minimum_ttl: int | None, owner: str | None) -> _Domain:
        with self.lock:
            now = _now()
            domain = _Domain(
                name=name,
                owner=owner or SANDBOX_ACCOUNT,
                minimum_ttl=minimum_ttl or self.config.minimum_ttl,
                created=now,
                seq=self._next_seq(),
                published=now,
                touched=now,
            )
            self.domains[name] = domain
            if self.config.default_ns:
                domain.rrsets[("", "NS")] = _RRset(
                    "", "NS", 3600, list(self.config.default_ns), now, now, self._next_seq()
                )
            return domain

    def rrsets(self, domain: str) -> list[RRset]:
        """The domain's rrsets as stored (canonical presentation), sorted by (subname, type)."""
        with self.lock:
            stored = self.domains[domain].rrsets.values()
            return sorted(
                (RRset(subname=r.subname, type=r.type, ttl=r.ttl, records=tuple(r.records)) for r in stored),
                key=lambda r: r.key,
            )

    def put_rrset(self, domain: str, rrset: RRset) -> None:
        """Write one rrset out of band, bypassing validation and throttles (to simulate drift)."""
        with self.lock:
            zone = self.domains[domain]
            now = _now()
            old = zone.rrsets.get(rrset.key)
            zone.rrsets[rrset.key] = _RRset(
                rrset.subname,
                rrset.type,
                rrset.ttl,
                list(rrset.records),
                old.created if old else now,
                now,
                old.seq if old else self._next_seq(),
            )
            zone.published = zone.touched = now
            self._save()

    def delete_rrset(self, domain: str, subname: str, type: str) -> bool:
        """Delete one rrset out of band (drift). True if it existed."""
        with self.lock:
            zone = self.domains[domain]
            existed = zone.rrsets.pop((subname, type.upper()), None) is not None
            if existed:
                zone.published = zone.touched = _now()
                self._save()
            return existed

    def counters(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._counters)

    def reset_counters(self) -> None:
        with self.lock:
            self._counters = _empty_counters()

    def set_faults(self, **faults: Any) -> None:
        """Update fault injection (`error_rate`, `error_after_apply_rate`, `timeout_rate`, `timeout_seconds`,
        `fault_seed`); the fault RNG is reseeded."""
        with self.lock:
            merged = {**self.config.model_dump(), **faults}
            self.config = DesecSandboxConfig.model_validate(merged)
            self._rng = random.Random(self.config.fault_seed)

    def set_throttle(
        self, *, enabled: bool | None = None, rates: dict[str, list[str]] | None = None, clear: bool = True
    ) -> None:
        """Change throttling at run time (`rates` replaces the scopes it names)."""
        with self.lock:
            update: dict[str, Any] = {}
            if enabled is not None:
                update["throttle_enabled"] = enabled
            if rates is not None:
                update["throttle_rates"] = {**self.config.throttle_rates, **rates}
            self.config = DesecSandboxConfig.model_validate({**self.config.model_dump(), **update})
            self._rates = self._parsed_rates()
            if clear:
                self.throttle.history.clear()

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "seq": self._seq,
                "domains": [
                    {
                        **self._domain_json(d, keys=False),
                        "owner": d.owner,
                        "seq": d.seq,
                        "rrsets": [{**self._rrset_json(d, r), "seq": r.seq} for r in d.rrsets.values()],
                    }
                    for d in self.domains.values()
                ],
            }

    # -- persistence --

    def _save(self) -> None:
        path = self.config.state_file
        if path is None:
            return
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.state(), indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)

    def _load(self, path: Path) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        with self.lock:
            self._seq = int(data.get("seq", 0))
            self.domains = {}
            for d in data.get("domains", []):
                zone = _Domain(
                    name=d["name"],
                    owner=d.get("owner", SANDBOX_ACCOUNT),
                    minimum_ttl=d["minimum_ttl"],
                    created=_parse_ts(d["created"]) or _now(),
                    seq=d["seq"],
                    published=_parse_ts(d.get("published")),
                    touched=_parse_ts(d.get("touched")),
                )
                for r in d.get("rrsets", []):
                    zone.rrsets[(r["subname"], r["type"])] = _RRset(
                        r["subname"],
                        r["type"],
                        r["ttl"],
                        list(r["records"]),
                        _parse_ts(r["created"]) or _now(),
                        _parse_ts(r["touched"]) or _now(),
                        r["seq"],
                    )
                self.domains[zone.name] = zone

    # -- representations --

    @staticmethod
    def _domain_json(domain: _Domain, *, keys: bool) -> dict[str, Any]:
        data: dict[str, Any] = {
            "created": _ts(domain.created),
            "published": _ts(domain.published),
            "name": domain.name,
            "minimum_ttl": domain.minimum_ttl,
            "touched": _ts(domain.touched),
        }
        if keys:
            data["keys"] = _fake_keys(domain.name)
        return data

    @staticmethod
    def _rrset_json(domain: _Domain, rrset: _RRset) -> dict[str, Any]:
        name = f"{rrset.subname}.{domain.name}." if rrset.subname else f"{domain.name}."
        return {
            "created": _ts(rrset.created),
            "domain": domain.name,
            "subname": rrset.subname,
            "name": name,
            "records": list(rrset.records),
            "ttl": rrset.ttl,
            "type": rrset.type,
            "touched": _ts(rrset.touched),
        }

    # -- request plumbing --

    def count(self, method: str, endpoint: str, domain: str | None, *, write: bool | None = None) -> None:
        with self.lock:
            c = self._counters
            c["requests"] += 1
            name = f"{method} {endpoint}"
            c["endpoints"][name] = c["endpoints"].get(name, 0) + 1
            if not (method not in SAFE_METHODS if write is None else write):
                c["reads"] += 1
            else:
                c["writes"] += 1
                if domain:
                    self.count_domain_write(domain)

    def count_domain_write(self, domain: str) -> None:
        with self.lock:
            by_domain = self._counters["writes_by_domain"]
            by_domain[domain] = by_domain.get(domain, 0) + 1

    def count_status(self, status: int) -> None:
        with self.lock:
            key = str(status)
            self._counters["status"][key] = self._counters["status"].get(key, 0) + 1

    def roll_fault(self) -> str | None:
        with self.lock:
            cfg = self.config
            if not (cfg.error_rate or cfg.error_after_apply_rate or cfg.timeout_rate):
                return None
            roll = self._rng.random()
            if roll < cfg.timeout_rate:
                fault = "timeout"
            elif roll < cfg.timeout_rate + cfg.error_rate:
                fault = "error"
            elif roll < cfg.timeout_rate + cfg.error_rate + cfg.error_after_apply_rate:
                fault = "after_apply"
            else:
                return None
            self._counters["faults"] += 1
            return fault

    def user_for(self, token: str) -> str | None:
        if token in self.config.tokens or token in self.config.read_only_tokens:
            return SANDBOX_ACCOUNT
        return None

    def authenticate(self, request: Request) -> tuple[str, str]:
        """(account, token) from `Authorization: Token …`, else a 401 like DRF's TokenAuthentication."""
        header = request.headers.get("authorization", "")
        parts = header.split()
        if not parts or parts[0].lower() != "token":
            raise _fail(
                401,
                "Authentication credentials were not provided.",
                {"WWW-Authenticate": "Token"},
            )
        if len(parts) != 2:
            raise _fail(401, "Invalid token header. No credentials provided.", {"WWW-Authenticate": "Token"})
        user = self.user_for(parts[1])
        if user is None:
            raise _fail(401, "Invalid token.", {"WWW-Authenticate": "Token"})
        return user, parts[1]

    def check_throttles(self, scopes: list[tuple[str, str]], *, text: bool = False) -> None:
        """Check every scope (allowed ones record the request); 429 with the longest wait if one denies."""
        with self.lock:
            if not self.config.throttle_enabled:
                return
            waits = [
                wait
                for scope, bucket in scopes
                if (wait := self.throttle.check(scope, bucket, self._rates.get(scope, []))) is not None
            ]
            if not waits:
                return
            self._counters["throttled"] += 1
        wait = max(1, math.ceil(max(waits)))
        headers = {"Retry-After": str(wait)}
        if text:
            raise _Reply(PlainTextResponse(_throttled_detail(wait), status_code=429, headers=headers))
        raise _fail(429, _throttled_detail(wait), headers)

    def owned(self, name: str, user: str, *, detail: bool = False) -> _Domain:
        """The user's domain, else 404. The domain detail view says "No Domain matches the given query." for a
        name nobody holds and "Not found." for someone else's (contract §8); rrset views always "Not found."."""
        domain = self.domains.get(name)
        if domain is None and detail:
            raise _fail(404, "No Domain matches the given query.")
        if domain is None or domain.owner != user:
            raise _fail(404, "Not found.")
        return domain

    def touch(self, domain: _Domain, *, published: bool) -> None:
        now = _now()
        domain.touched = now
        if published:
            domain.published = now

    # -- pagination --

    def paginate(self, request: Request, rows: list[tuple[int, dict[str, Any]]]) -> Response:
        """deSEC cursor pagination over rows sorted newest first ((seq, object) pairs)."""
        size = self.config.page_size
        params = request.query_params
        if "cursor" not in params:
            if len(rows) > size:
                first = str(request.url.include_query_params(cursor=""))
                detail = (
                    f"Pagination required. You can query up to {size} items at a time ({len(rows)} total). "
                    "Please use the `first` page link (see Link header)."
                )
                raise _fail(400, detail, {"Link": f'<{first}>; rel="first"'})
            return _json([obj for _, obj in rows])
        cursor = params["cursor"]
        if cursor == "":
            start = 0
            end = min(size, len(rows))
        else:
            try:
                decoded = json.loads(base64.urlsafe_b64decode(cursor.encode()).decode())
                position, reverse = int(decoded["p"]), bool(decoded["r"])
            except (ValueError, KeyError, TypeError, binascii.Error):
                raise _fail(404, "Invalid cursor") from None
            if reverse:
                end = sum(1 for seq, _ in rows if seq > position)
                start = max(0, end - size)
            else:
                start = next((i for i, (seq, _) in enumerate(rows) if seq < position), len(rows))
                end = min(start + size, len(rows))
        page = rows[start:end]

        def link(p: int, r: int) -> str:
            token = base64.urlsafe_b64encode(json.dumps({"p": p, "r": r}).encode()).decode()
            return str(request.url.include_query_params(cursor=token))

        links = [f'<{request.url.include_query_params(cursor="")}>; rel="first"']
        if page and start > 0:
            links.append(f'<{link(page[0][0], 1)}>; rel="prev"')
        if page and end < len(rows):
            links.append(f'<{link(page[-1][0], 0)}>; rel="next"')
        return _json([obj for _, obj in page], headers={"Link": ", ".join(links)})


# --- rrset validation (DRF serializer semantics) ------------------------------------------------------------


class _Invalid(Exception):
    def __init__(self, detail: Any) -> None:
        super().__init__("invalid")
        self.detail = detail


def _type_name(value: Any) -> str:
    return type(value).__name__


def _validate_rrset(
    domain: _Domain,
    item: Any,
    *,
    instance: _RRset | None,
    method: str,
    bulk: bool,
    partial: bool,
) -> dict[str, Any]:
    """Field validation, then the serializer-level validators, then `validate()`. Raises `_Invalid`."""
    if not isinstance(item, dict):
        raise _Invalid({"non_field_errors": [f"Invalid data. Expected a dictionary, but got {_type_name(item)}."]})
    errors: dict[str, list[Any]] = {}
    attrs: dict[str, Any] = {}

    def string(name: str) -> str | None:
        value = item[name]
        if value is None:
            errors[name] = ["This field may not be null."]
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            errors[name] = ["Not a valid string."]
            return None
        return str(value)

    # subname
    if "subname" in item:
        value = string("subname")
        if value is not None:
            if len(value) > 178:
                errors["subname"] = ["Ensure this field has no more than 178 characters."]
            elif value and not SUBNAME_RE.fullmatch(value):
                errors["subname"] = [MSG_SUBNAME]
            elif instance is not None and value != instance.subname:
                errors["subname"] = ["Can only be written on create."]
            elif len(value) + len(domain.name) + 2 > 255:
                errors["subname"] = ["This field combined with the domain name must not exceed 255 characters."]
            else:
                attrs["subname"] = value
    elif not partial and (bulk or instance is not None):
        errors["subname"] = [MSG_REQUIRED]
    elif not partial:
        attrs["subname"] = ""
    # type
    if "type" in item:
        value = string("type")
        if value is not None:
            if not TYPE_RE.fullmatch(value):
                errors["type"] = ["Type must be uppercase alphanumeric and start with a letter."]
            elif instance is not None and value != instance.type:
                errors["type"] = ["Can only be written on create."]
            elif value not in MANAGEABLE_TYPES:
                if value in AUTOMATIC_TYPES:
                    errors["type"] = [f"You cannot tinker with the {value} RR set. It is managed automatically."]
                elif value.startswith("TYPE"):
                    errors["type"] = ["Generic type format is not supported."]
                else:
                    errors["type"] = [f"The {value} RR set type is currently unsupported."]
            else:
                attrs["type"] = value
    elif not partial:
        errors["type"] = [MSG_REQUIRED]
    # ttl
    if "ttl" in item:
        raw = item["ttl"]
        ttl: int | None = None
        if isinstance(raw, int) and not isinstance(raw, bool):
            ttl = raw
        elif (isinstance(raw, float) and raw.is_integer()) or (
            isinstance(raw, str) and re.fullmatch(r"\s*-?\d+\s*", raw)
        ):
            ttl = int(raw)
        if ttl is None:
            errors["ttl"] = ["A valid integer is required."]
        elif ttl > MAX_TTL:
            errors["ttl"] = [f"Ensure this value is less than or equal to {MAX_TTL}."]
        elif ttl < domain.minimum_ttl:
            errors["ttl"] = [f"Ensure this value is greater than or equal to {domain.minimum_ttl}."]
        else:
            attrs["ttl"] = ttl
    elif not partial:
        errors["ttl"] = [MSG_REQUIRED]
    # records
    if "records" in item:
        records = item["records"]
        if not isinstance(records, list):
            errors["records"] = [f'Expected a list of items but got type "{_type_name(records)}".']
        elif any(not isinstance(r, str) for r in records):
            errors["records"] = [
                {} if isinstance(r, str) else {"non_field_errors": ["Must be a string."]} for r in records
            ]
        elif method == "POST" and not records:
            errors["records"] = ["This field must not be empty when using POST."]
        else:
            attrs["records"] = list(records)
    elif not partial:
        errors["records"] = [MSG_REQUIRED]
    if errors:
        raise _Invalid(errors)

    subname = attrs.get("subname", instance.subname if instance else "")
    rtype = attrs.get("type", instance.type if instance else "")
    exists = attrs.get("records", [None]) != []
    # serializer-level validators: unique together (create only), CNAME exclusivity (single requests)
    if instance is None and "subname" in attrs and "type" in attrs and (subname, rtype) in domain.rrsets:
        raise _Invalid({"non_field_errors": [MSG_EXISTS]})
    if not bulk and exists:
        others = sorted(
            t for (s, t) in domain.rrsets if s == subname and t != rtype and (t == "CNAME") != (rtype == "CNAME")
        )
        if others:
            raise _Invalid({"non_field_errors": [_cname_conflict(f"database ({', '.join(others)})")]})
    # validate(): canonical presentation, semantic uniqueness, total length
    if "records" in attrs:
        try:
            canonical = [canonical_record(rtype, r) for r in attrs["records"]]
        except ValueError as exc:
            raise _Invalid({"non_field_errors": [str(exc)]}) from None
        if len(set(canonical)) != len(canonical):
            raise _Invalid({"non_field_errors": ["Duplicate: records must be semantically unique"]})
        qname = f"{subname}.{domain.name}." if subname else f"{domain.name}."
        excess = 32 + len(qname) + sum(12 + len(r) for r in canonical) + 256 - 65535
        if excess > 0:
            raise _Invalid({"non_field_errors": [f"Total length of RRset exceeds limit by {excess} bytes."]})
        attrs["records"] = canonical
    return attrs


def _cname_conflict(positions: str) -> str:
    return (
        f"RRset with conflicting type present at same subname: {positions}. "
        "(No other RRsets are allowed alongside CNAME.)"
    )


def _clean(subname: str, rtype: str, records: list[str]) -> list[str]:
    """Model-level checks raised at save time: deSEC answers them as a top-level list of strings."""
    problems = []
    if rtype in ("CNAME", "DNAME") and len(records) > 1:
        problems.append(f"{rtype} RRset cannot have multiple records.")
    if rtype in ("CNAME", "DS") and not subname:
        problems.append(f"{rtype} RRset cannot have empty subname.")
    if rtype == "DNSKEY" and subname:
        problems.append("DNSKEY RRset must have empty subname.")
    return problems


def _positions(conflicts: dict[str, set[int | None]]) -> str:
    by_position: dict[int | None, list[str]] = {}
    for rtype, positions in conflicts.items():
        for position in positions:
            by_position.setdefault(position, []).append(rtype)
    parts = [
        f"{p} ({', '.join(sorted(t))})" for p, t in sorted((p, t) for p, t in by_position.items() if p is not None)
    ]
    if None in by_position:
        parts.append(f"database ({', '.join(sorted(by_position[None]))})")
    return ", ".join(parts)


# --- HTTP layer ---------------------------------------------------------------------------------------------


class _Api:
    def __init__(self, sandbox: DesecSandbox) -> None:
        self.sb = sandbox

    async def _run(
        self,
        request: Request,
        endpoint: str,
        handler: Callable[[Request, str, str, Any], Response],
        *,
        domain: str | None = None,
    ) -> Response:
        """Count, inject faults, authenticate, parse the body, run `handler` under the state lock."""
        sb = self.sb
        method = request.method
        sb.count(method, endpoint, domain)
        fault = sb.roll_fault()
        if fault == "timeout":
            await asyncio.sleep(sb.config.timeout_seconds)
        elif fault == "error":
            return self._finish(_json({"detail": "Service temporarily unavailable (injected fault)."}, 503))
        try:
            user, token = sb.authenticate(request)
            body: Any = None
            if method not in SAFE_METHODS and method != "DELETE":
                body = await self._body(request)
            with sb.lock:
                response = handler(request, user, token, body)
        except _Reply as reply:
            response = reply.response
        if fault == "after_apply":
            response = _json({"detail": "Service temporarily unavailable (injected fault)."}, 503)
        return self._finish(response)

    def _finish(self, response: Response) -> Response:
        self.sb.count_status(response.status_code)
        return response

    @staticmethod
    async def _body(request: Request) -> Any:
        raw = await request.body()
        if not raw.strip():
            return _NO_DATA
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            raise _fail(415, f'Unsupported media type "{media}" in request.')
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise _fail(400, f"JSON parse error - {exc}") from None

    def _write_allowed(self, token: str) -> None:
        if token in self.sb.config.read_only_tokens:
            raise _fail(403, MSG_NO_PERMISSION)

    @staticmethod
    def _not_allowed(method: str) -> _Reply:
        return _fail(405, f'Method "{method}" not allowed.')

    # -- domains --

    async def domains(self, request: Request) -> Response:
        return await self._run(request, "domains", self._domains)

    def _domains(self, request: Request, user: str, token: str, body: Any) -> Response:
        sb, method = self.sb, request.method
        if method in SAFE_METHODS:
            sb.check_throttles([("dns_api_cheap", user), ("user", user)])
            mine = sorted((d for d in sb.domains.values() if d.owner == user), key=lambda d: -d.seq)
            qname = request.query_params.get("owns_qname")
            if qname is not None:
                qname = qname.lower().rstrip(".")
                matches = [d for d in mine if qname == d.name or qname.endswith("." + d.name)]
                best = max(matches, key=lambda d: len(d.name), default=None)
                return _json([sb._domain_json(best, keys=False)] if best else [])
            return sb.paginate(request, [(d.seq, sb._domain_json(d, keys=False)) for d in mine])
        sb.check_throttles([("dns_api_expensive", user), ("user", user)])
        if method != "POST":
            raise self._not_allowed(method)
        if not sb.config.perm_create_domain:
            raise _fail(403, MSG_NOT_PERMITTED)
        if body is _NO_DATA:
            raise _fail(400, {"non_field_errors": ["No data provided"]})
        if not isinstance(body, dict):
            raise _fail(
                400,
                {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {_type_name(body)}."]},
            )
        name = body.get("name")
        if isinstance(name, str):
            sb.count_domain_write(name)
        if name is None:
            raise _fail(400, {"name": [MSG_REQUIRED]})
        if not isinstance(name, str) or len(name) > 191 or not DOMAIN_NAME_RE.fullmatch(name):
            message = "Ensure this field has no more than 191 characters." if len(str(name)) > 191 else None
            raise _fail(400, {"name": [message or "Enter a valid value."]})
        existing = sb.domains.get(name)
        if existing is not None and existing.owner == user:
            raise _fail(400, {"name": ["domain with this name already exists."]})
        if "." not in name or name.endswith(".internal") or self._conflicts(name, user):
            raise _fail(400, {"name": [MSG_NAME_UNAVAILABLE]})
        limit = sb.config.domain_limit
        if limit is not None and sum(1 for d in sb.domains.values() if d.owner == user) >= limit:
            raise _fail(403, "Domain limit exceeded. Please contact support to create additional domains.")
        return _json(sb.add_domain(name, owner=user), 201)

    def _conflicts(self, name: str, user: str) -> bool:
        for other in self.sb.domains.values():
            if other.owner == user:
                continue
            if other.name == name or name.endswith("." + other.name) or other.name.endswith("." + name):
                return True
        return False

    async def domain(self, request: Request) -> Response:
        name = request.path_params["name"]
        return await self._run(request, "domain", self._domain, domain=name)

    def _domain(self, request: Request, user: str, token: str, body: Any) -> Response:
        sb, method = self.sb, request.method
        name = request.path_params["name"]
        scope = "dns_api_cheap" if method in SAFE_METHODS else "dns_api_expensive"
        sb.check_throttles([(scope, user), ("user", user)])
        if method in SAFE_METHODS:
            return _json(sb._domain_json(sb.owned(name, user, detail=True), keys=True))
        if method != "DELETE":
            raise self._not_allowed(method)
        if not sb.config.perm_delete_domain:
            raise _fail(403, MSG_NOT_PERMITTED)
        domain = sb.domains.get(name)
        if domain is not None and domain.owner == user:
            if domain.rrsets and token in sb.config.read_only_tokens:
                raise _fail(403, MSG_NO_PERMISSION)
            del sb.domains[name]
            sb._save()
        return Response(status_code=204)

    # -- rrsets --

    async def rrsets(self, request: Request) -> Response:
        return await self._run(request, "rrsets", self._rrsets, domain=request.path_params["name"])

    def _rrset_scopes(self, request: Request, user: str) -> list[tuple[str, str]]:
        if request.method in SAFE_METHODS:
            return [("dns_api_cheap", user), ("user", user)]
        return [("dns_api_per_domain_expensive", request.path_params["name"]), ("user", user)]

    def _rrsets(self, request: Request, user: str, token: str, body: Any) -> Response:
        sb, method = self.sb, request.method
        sb.check_throttles(self._rrset_scopes(request, user))
        if method not in SAFE_METHODS | {"POST", "PATCH", "PUT"}:
            raise self._not_allowed(method)
        domain = sb.owned(request.path_params["name"], user)
        if method in SAFE_METHODS:
            rtype = request.query_params.get("type")
            if rtype in AUTOMATIC_TYPES:
                raise _fail(403, f"You cannot tinker with the {rtype} RRset.")
            subname = request.query_params.get("subname")
            rows = sorted(
                (
                    (r.seq, sb._rrset_json(domain, r))
                    for r in domain.rrsets.values()
                    if (rtype is None or r.type == rtype) and (subname is None or r.subname == subname)
                ),
                key=lambda row: -row[0],
            )
            return sb.paginate(request, rows)
        self._write_allowed(token)
        if body is _NO_DATA:
            raise _fail(400, {"non_field_errors": ["No data provided"]})
        if isinstance(body, list):
            return self._bulk(domain, method, body)
        if method != "POST":
            raise _fail(400, {"non_field_errors": [f"Expected a list of items but got {_type_name(body)}."]})
        try:
            attrs = _validate_rrset(domain, body, instance=None, method="POST", bulk=False, partial=False)
        except _Invalid as exc:
            raise _fail(400, exc.detail) from None
        problems = _clean(attrs["subname"], attrs["type"], attrs["records"])
        if problems:
            raise _fail(400, problems)
        created = self._create(domain, attrs)
        sb.touch(domain, published=True)
        sb._save()
        return _json(sb._rrset_json(domain, created), 201)

    def _create(self, domain: _Domain, attrs: dict[str, Any]) -> _RRset:
        now = _now()
        rrset = _RRset(attrs["subname"], attrs["type"], attrs["ttl"], attrs["records"], now, now, self.sb._next_seq())
        domain.rrsets[(rrset.subname, rrset.type)] = rrset
        return rrset

    @staticmethod
    def _update(rrset: _RRset, attrs: dict[str, Any]) -> bool:
        """Apply records/ttl; touched always moves. True if anything changed."""
        changed = False
        if "records" in attrs and sorted(attrs["records"]) != sorted(rrset.records):
            rrset.records = attrs["records"]
            changed = True
        if "ttl" in attrs and attrs["ttl"] != rrset.ttl:
            rrset.ttl = attrs["ttl"]
            changed = True
        rrset.touched = _now()
        return changed

    def _bulk(self, domain: _Domain, method: str, data: list[Any]) -> Response:
        sb = self.sb
        if not data:
            return _json([], 201 if method == "POST" else 200)
        errors: list[dict[str, Any]] = [{} for _ in data]
        indices: dict[Any, dict[Any, set[int | None]]] = {}
        for idx, item in enumerate(data):
            if not isinstance(item, dict):
                errors[idx]["non_field_errors"] = f"Expected a dictionary, but got {_type_name(item)}."
                continue
            s, t = item.get("subname"), item.get("type")
            for name, value in (("subname", s), ("type", t)):
                if value is not None and not isinstance(value, str):
                    errors[idx][name] = f"Expected a string, but got {_type_name(value)}."
            if errors[idx]:
                continue
            if s not in indices:
                indices[s] = {rt: {None} for (rs, rt) in domain.rrsets if rs == s}
            indices[s].setdefault(t, set()).add(idx)
        collapsed = copy.deepcopy(indices)
        for idx, item in enumerate(data):
            if not errors[idx] and item.get("records") == []:
                collapsed[item.get("subname")][item.get("type")] -= {idx, None}
        validated: list[tuple[int, dict[str, Any], _RRset | None]] = []
        for idx, item in enumerate(data):
            if errors[idx]:
                continue
            s, t = item.get("subname"), item.get("type")
            same = indices[s][t] - {None}
            if len(same) > 1:
                others = ", ".join(str(i) for i in sorted(same - {idx}))
                errors[idx]["non_field_errors"] = [
                    f"Same subname and type as in position(s) {others}, but must be unique."
                ]
                continue
            if item.get("records") != []:
                conflicts = {k: v for k, v in collapsed[s].items() if (k == "CNAME") != (t == "CNAME") and v}
                if conflicts:
                    errors[idx]["non_field_errors"] = [_cname_conflict(_positions(conflicts))]
                    continue
            known = domain.rrsets.get((s, t)) if method != "POST" else None
            nonempty = item.get("records", None) != []
            partial = method == "PATCH" and not (known is None and nonempty)
            try:
                attrs = _validate_rrset(domain, item, instance=known, method=method, bulk=True, partial=partial)
            except _Invalid as exc:
                detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
                errors[idx].update(detail)
                continue
            attrs.setdefault("subname", s)
            attrs.setdefault("type", t)
            validated.append((idx, attrs, known))
        if any(errors):
            raise _fail(400, errors)
        for _, attrs, known in validated:
            records = attrs.get("records", known.records if known else [])
            if records:
                problems = _clean(attrs["subname"], attrs["type"], records)
                if problems:
                    raise _fail(400, problems)
        published = False
        for _, attrs, known in validated:  # deletions first, as deSEC does
            if known is not None and attrs.get("records") == []:
                del domain.rrsets[(known.subname, known.type)]
                published = True
        result = []
        for _, attrs, known in validated:
            if attrs.get("records") == []:
                continue
            if known is None:
                result.append(self._create(domain, attrs))
                published = True
            else:
                published = self._update(known, attrs) or published
                result.append(known)
        sb.touch(domain, published=published)
        sb._save()
        return _json([sb._rrset_json(domain, r) for r in result], 201 if method == "POST" else 200)

    async def rrset(self, request: Request) -> Response:
        return await self._run(request, "rrset", self._rrset, domain=request.path_params["name"])

    def _rrset(self, request: Request, user: str, token: str, body: Any) -> Response:
        sb, method = self.sb, request.method
        sb.check_throttles(self._rrset_scopes(request, user))
        if method not in SAFE_METHODS | {"PATCH", "PUT", "DELETE"}:
            raise self._not_allowed(method)
        domain = sb.owned(request.path_params["name"], user)
        subname = request.path_params["subname"]
        if subname == "@":
            subname = ""
        elif subname.endswith("..."):
            subname = subname[:-3]
        rtype = request.path_params["type"]
        current = domain.rrsets.get((subname, rtype))
        if method == "DELETE":
            self._write_allowed(token)
            if current is not None:
                del domain.rrsets[(subname, rtype)]
            sb.touch(domain, published=current is not None)
            sb._save()
            return Response(status_code=204)
        if current is None:
            raise _fail(404, "No RRset matches the given query.")
        if method in SAFE_METHODS:
            return _json(sb._rrset_json(domain, current))
        self._write_allowed(token)
        if body is _NO_DATA:
            body = {}
        try:
            attrs = _validate_rrset(
                domain, body, instance=current, method=method, bulk=False, partial=method == "PATCH"
            )
        except _Invalid as exc:
            raise _fail(400, exc.detail) from None
        if attrs.get("records") == []:
            del domain.rrsets[(subname, rtype)]
            sb.touch(domain, published=True)
            sb._save()
            return Response(status_code=204)
        problems = _clean(subname, rtype, attrs.get("records", current.records))
        if problems:
            raise _fail(400, problems)
        changed = self._update(current, attrs)
        sb.touch(domain, published=changed)
        sb._save()
        return _json(sb._rrset_json(domain, current))

    # -- dynDNS --

    async def dyndns(self, request: Request) -> Response:
        sb = self.sb
        sb.count(request.method, "dyndns", None, write=True)
        fault = sb.roll_fault()
        if fault == "timeout":
            await asyncio.sleep(sb.config.timeout_seconds)
        elif fault == "error":
            return self._finish(PlainTextResponse("Service temporarily unavailable.", status_code=503))
        try:
            with sb.lock:
                response = self._dyndns(request)
        except _Reply as reply:
            response = reply.response
        if fault == "after_apply":
            response = PlainTextResponse("Service temporarily unavailable.", status_code=503)
        return self._finish(response)

    def _dyndns_auth(self, request: Request) -> tuple[str, str, str | None]:
        """(account, token, basic-auth username) by Token header, Basic auth, or ?username=&password=."""
        sb = self.sb
        params = request.query_params

        def text(status: int, body: str) -> _Reply:
            return _Reply(PlainTextResponse(body, status_code=status))

        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        username: str | None
        if scheme.lower() == "token":
            user = sb.user_for(credentials.strip())
            if user is None:
                raise text(401, "Invalid token.")
            return user, credentials.strip(), None
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode()
                username, _, password = decoded.partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise text(401, "badauth") from None
            basic_user = username
        elif "username" in params or "password" in params:
            username, password = params.get("username", ""), params.get("password", "")
            basic_user = None
        else:
            raise text(401, "No username URL parameter provided.")
        user = sb.user_for(password)
        if user is None:
            raise text(401, "badauth")
        name = username.lower().rstrip(".")
        if name and name != sb.config.account_email.lower() and self._domain_for(name, user) is None:
            raise text(401, "badauth")
        return user, password, basic_user

    def _domain_for(self, qname: str, user: str) -> _Domain | None:
        matches = [
            d for d in self.sb.domains.values() if d.owner == user and (qname == d.name or qname.endswith("." + d.name))
        ]
        return max(matches, key=lambda d: len(d.name), default=None)

    def _dyndns(self, request: Request) -> Response:
        sb = self.sb
        params = request.query_params
        user, token, basic_user = self._dyndns_auth(request)

        def text(status: int, body: str) -> _Reply:
            return _Reply(PlainTextResponse(body, status_code=status))

        qname: str | None = None
        if params.get("hostname") not in (None, "", "YES"):
            qname = params["hostname"]
        elif "host_id" in params:
            qname = params["host_id"]
        elif basic_user and "@" not in basic_user:
            qname = basic_user
        elif "username" in params and "@" not in params["username"]:
            qname = params["username"]
        if qname is None:
            mine = [d for d in sb.domains.values() if d.owner == user]
            if len(mine) > 1:
                raise text(400, "Request does not properly specify domain for update.")
            if not mine:
                raise text(404, "nohost")
            qname = mine[0].name
        names = [n.strip().lower().rstrip(".") for n in qname.split(",") if n.strip()]
        domains = [self._domain_for(n, user) for n in names]
        if not names or any(d is None for d in domains):
            raise text(404, "nohost")
        if len({d.name for d in domains if d is not None}) > 1:
            raise text(400, "Cannot update subdomains from more than one domain.")
        domain = domains[0]
        assert domain is not None
        sb.count_domain_write(domain.name)
        if token in sb.config.read_only_tokens:
            raise text(403, MSG_NO_PERMISSION)
        sb.check_throttles([("dyndns", domain.name), ("user", user)], text=True)
        client_ip = request.client.host if request.client else ""
        wanted = {
            "A": self._find_ip(params, ("myip", "myipv4", "ip"), ".", client_ip),
            "AAAA": self._find_ip(params, ("myipv6", "ipv6", "myip", "ip"), ":", client_ip),
        }
        subnames = [n[: -len(domain.name) - 1] if n != domain.name else "" for n in names]
        plan: list[tuple[str, str, list[str] | None]] = []
        problems: list[str] = []
        for subname in subnames:
            for rtype, value in wanted.items():
                if value == "preserve":
                    continue
                current = domain.rrsets.get((subname, rtype))
                try:
                    records = self._addresses(rtype, value, current)
                except ValueError as exc:
                    problems.append(f"{rtype}: {exc}")
                    continue
                plan.append((subname, rtype, records))
        if problems:
            raise text(400, "\n".join(f"- records: Record content malformed ({p})" for p in problems))
        changed = False
        for subname, rtype, records in plan:
            current = domain.rrsets.get((subname, rtype))
            if not records:
                if current is not None:
                    del domain.rrsets[(subname, rtype)]
                    changed = True
            elif current is None:
                attrs = {"subname": subname, "type": rtype, "ttl": sb.config.dyndns_ttl, "records": records}
                self._create(domain, attrs)
                changed = True
            else:
                changed = self._update(current, {"records": records, "ttl": sb.config.dyndns_ttl}) or changed
        sb.touch(domain, published=changed)
        sb._save()
        return PlainTextResponse("good")

    @staticmethod
    def _find_ip(params: Any, names: tuple[str, ...], separator: str, client_ip: str) -> str | None:
        for name in names:
            if name not in params:
                continue
            value = params[name].strip()
            if not value:
                return None
            if value == "preserve" or separator in value:
                return value
        return client_ip if separator in client_ip else None

    @staticmethod
    def _addresses(rtype: str, value: str | None, current: _RRset | None) -> list[str]:
        """Addresses to write: a comma list; a prefix (`1.2.3.0/24`) replaces only that part of the old."""
        if not value:
            return []
        version = 4 if rtype == "A" else 6
        out: list[str] = []
        for part in (p.strip() for p in value.split(",") if p.strip()):
            if "/" in part:
                network = ipaddress.ip_network(part, strict=False)
                if network.version != version or current is None or not current.records:
                    raise ValueError(f"cannot apply prefix {part}")
                mask = int(network.netmask)
                base = int(ipaddress.ip_address(current.records[0]))
                address = ipaddress.ip_address((base & ~mask) | (int(network.network_address) & mask))
            else:
                address = ipaddress.ip_address(part)
            if address.version != version:
                raise ValueError(f"{part} is not an IPv{version} address")
            out.append(str(address))
        return out

    # -- debug routes (no auth) --

    async def debug_counters(self, request: Request) -> Response:
        return _json(self.sb.counters())

    async def debug_counters_reset(self, request: Request) -> Response:
        self.sb.reset_counters()
        return _json({"ok": True})

    async def debug_faults(self, request: Request) -> Response:
        data = await _debug_body(request)
        allowed = {"error_rate", "error_after_apply_rate", "timeout_rate", "timeout_seconds", "fault_seed"}
        unknown = set(data) - allowed
        if unknown:
            return _json({"detail": f"unknown fault settings: {sorted(unknown)}"}, 400)
        try:
            self.sb.set_faults(**data)
        except ValueError as exc:
            return _json({"detail": str(exc)}, 400)
        cfg = self.sb.config
        return _json({k: getattr(cfg, k) for k in sorted(allowed)})

    async def debug_state(self, request: Request) -> Response:
        return _json(self.sb.state())

    async def debug_reset(self, request: Request) -> Response:
        self.sb.reset()
        return _json({"ok": True})

    async def debug_clock(self, request: Request) -> Response:
        data = await _debug_body(request)
        try:
            total = self.sb.advance_clock(float(data.get("advance", 0)))
        except (TypeError, ValueError) as exc:
            return _json({"detail": str(exc)}, 400)
        return _json({"advanced": total})

    async def debug_throttle_spend(self, request: Request) -> Response:
        data = await _debug_body(request)
        try:
            recorded = self.sb.spend_throttle(str(data["scope"]), str(data["bucket"]), str(data["window"]))
        except (KeyError, ValueError) as exc:
            return _json({"detail": f"need scope, bucket and window: {exc}"}, 400)
        return _json({"recorded": recorded})

    async def debug_throttle(self, request: Request) -> Response:
        data = await _debug_body(request)
        try:
            self.sb.set_throttle(enabled=data.get("enabled"), rates=data.get("rates"), clear=data.get("clear", True))
        except ValueError as exc:
            return _json({"detail": str(exc)}, 400)
        return _json({"enabled": self.sb.config.throttle_enabled, "rates": self.sb.config.throttle_rates})


class _NoData:
    def __repr__(self) -> str:
        return "<no data>"


_NO_DATA = _NoData()


async def _debug_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    data = json.loads(raw) if raw.strip() else {}
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


async def _not_found(request: Request, exc: Exception) -> Response:
    return _json({"detail": "Not found."}, 404)


def create_desec_app(
    config: DesecSandboxConfig | None = None, *, clock: Callable[[], float] | None = None
) -> Starlette:
    """The deSEC stand-in as an ASGI app; `app.state.sandbox` is its `DesecSandbox`."""
    sandbox = DesecSandbox(config or DesecSandboxConfig(), clock=clock)
    api = _Api(sandbox)
    routes = [
        Route("/api/v1/domains/", api.domains, methods=ALL_METHODS),
        Route("/api/v1/domains/{name}/", api.domain, methods=ALL_METHODS),
        Route("/api/v1/domains/{name}/rrsets/", api.rrsets, methods=ALL_METHODS),
        Route("/api/v1/domains/{name}/rrsets/{subname}/{type}/", api.rrset, methods=ALL_METHODS),
        Route("/api/v1/dyndns/update", api.dyndns, methods=["GET"]),
        Route("/api/v1/dyndns/update/", api.dyndns, methods=["GET"]),
        Route("/update", api.dyndns, methods=["GET"]),
        Route("/nic/update", api.dyndns, methods=["GET"]),
        Route("/_sandbox/counters", api.debug_counters, methods=["GET"]),
        Route("/_sandbox/counters/reset", api.debug_counters_reset, methods=["POST"]),
        Route("/_sandbox/faults", api.debug_faults, methods=["POST"]),
        Route("/_sandbox/state", api.debug_state, methods=["GET"]),
        Route("/_sandbox/reset", api.debug_reset, methods=["POST"]),
        Route("/_sandbox/throttle", api.debug_throttle, methods=["POST"]),
        Route("/_sandbox/throttle/spend", api.debug_throttle_spend, methods=["POST"]),
        Route("/_sandbox/clock", api.debug_clock, methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={404: _not_found})
    app.router.redirect_slashes = False
    app.state.sandbox = sandbox
    return app
