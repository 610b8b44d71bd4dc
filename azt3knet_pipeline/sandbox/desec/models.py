"""The deSEC stand-in's stored objects (domains, rrsets), their JSON representations, and the replies a handler
raises to answer at once."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.responses import JSONResponse, Response


def now() -> datetime:
    return datetime.now(UTC)


def ts(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class StoredRRset:
    subname: str
    type: str
    ttl: int
    records: list[str]
    created: datetime
    touched: datetime
    seq: int


@dataclass
class StoredDomain:
    name: str
    owner: str
    minimum_ttl: int
    created: datetime
    seq: int
    published: datetime | None = None
    touched: datetime | None = None
    rrsets: dict[tuple[str, str], StoredRRset] = field(default_factory=dict)


def fake_keys(name: str) -> list[dict[str, Any]]:
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


def domain_json(domain: StoredDomain, *, keys: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "created": ts(domain.created),
        "published": ts(domain.published),
        "name": domain.name,
        "minimum_ttl": domain.minimum_ttl,
        "touched": ts(domain.touched),
    }
    if keys:
        data["keys"] = fake_keys(domain.name)
    return data


def rrset_json(domain: StoredDomain, rrset: StoredRRset) -> dict[str, Any]:
    name = f"{rrset.subname}.{domain.name}." if rrset.subname else f"{domain.name}."
    return {
        "created": ts(rrset.created),
        "domain": domain.name,
        "subname": rrset.subname,
        "name": name,
        "records": list(rrset.records),
        "ttl": rrset.ttl,
        "type": rrset.type,
        "touched": ts(rrset.touched),
    }


def type_name(value: Any) -> str:
    return type(value).__name__


class Reply(Exception):
    """Raised inside a handler to answer at once (errors)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=headers)


def fail(status: int, detail: Any, headers: dict[str, str] | None = None) -> Reply:
    body = {"detail": detail} if isinstance(detail, str) else detail
    return Reply(json_response(body, status, headers))


class _NoData:
    def __repr__(self) -> str:
        return "<no data>"


NO_DATA: Any = _NoData()  # a request without a body (unlike a JSON null)
