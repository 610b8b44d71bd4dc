"""deSEC objects on the wire: domains as read, rrsets parsed from and shaped for requests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from azt3knet_pipeline.domain.dns import RRset
from azt3knet_pipeline.errors import DesecError


class DesecDomain(BaseModel):
    """A deSEC domain as `GET /domains/{name}/` answers it (`keys` only on create and retrieve)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    minimum_ttl: int
    created: datetime | None = None
    published: datetime | None = None
    touched: datetime | None = None
    keys: tuple[dict[str, Any], ...] = Field(default_factory=tuple)


def item_payload(item: RRset | Mapping[str, Any]) -> dict[str, Any]:
    """A bulk item with `subname` always explicit: `""` for the apex, never `"@"`, never missing."""
    if isinstance(item, RRset):
        return item.to_payload()
    payload = dict(item)
    subname = payload.get("subname")
    if subname is None or subname == "@":
        payload["subname"] = ""
    if isinstance(payload.get("type"), str):
        payload["type"] = payload["type"].upper()
    if "records" in payload and not isinstance(payload["records"], list):
        payload["records"] = list(payload["records"])
    return payload


def parse_rrset(data: Any) -> RRset:
    """An rrset as deSEC answers it (apex subname `""`); anything but an object is a DesecError."""
    if not isinstance(data, dict):
        raise DesecError(f"deSEC returned an rrset that is not an object: {type(data).__name__}")
    return RRset.model_validate(
        {
            "subname": data.get("subname") or "",
            "type": data["type"],
            "ttl": data["ttl"],
            "records": data["records"],
        }
    )
