"""What the deSEC stand-in can be told (tokens, domains, page size, permissions, throttle rates, fault rates), and
deSEC's constants and messages."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from azt3knet_pipeline.domain.dns import MAX_TTL

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

FAULT_FIELDS = ("error_after_apply_rate", "error_rate", "fault_seed", "timeout_rate", "timeout_seconds")

UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
UNITS |= {"d": 86400, "day": 86400}


def parse_rate(rate: str) -> tuple[int, float]:
    """`"15/min"` → (15, 60.0); also `"2/2min"`, `"3/0.5s"`, `"100/hour"`."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d*\.?\d*)\s*([a-z]+)\s*", rate)
    if not match or match.group(3) not in UNITS or int(match.group(1)) < 1:
        raise ValueError(f"rate {rate!r} is not like '15/min' or '2/2min'")
    multiplier = float(match.group(2)) if match.group(2) else 1.0
    if multiplier <= 0:
        raise ValueError(f"rate {rate!r} has an empty window")
    return int(match.group(1)), multiplier * UNITS[match.group(3)]


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
