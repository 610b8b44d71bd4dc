"""Rrset validation with deSEC's (DRF serializer) semantics: field validation, then the serializer-level
validators, then `validate()`; and the model-level checks raised at save time."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from azt3knet_pipeline.domain.dns import AUTOMATIC_TYPES, MAX_TTL, SUBNAME_RE
from azt3knet_pipeline.sandbox.desec.config import MANAGEABLE_TYPES, MSG_EXISTS, MSG_REQUIRED, MSG_SUBNAME, TYPE_RE
from azt3knet_pipeline.sandbox.desec.models import StoredDomain, StoredRRset, type_name
from azt3knet_pipeline.sandbox.desec.records import canonical_record


class Invalid(Exception):
    """A 400 with `detail` as its body."""

    def __init__(self, detail: Any) -> None:
        super().__init__("invalid")
        self.detail = detail


class _FieldError(Exception):
    def __init__(self, *messages: Any) -> None:
        super().__init__("field")
        self.messages = list(messages)


def _string(value: Any) -> str:
    if value is None:
        raise _FieldError("This field may not be null.")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _FieldError("Not a valid string.")
    return str(value)


def _subname(raw: Any, domain: StoredDomain, instance: StoredRRset | None, method: str) -> str:
    value = _string(raw)
    if len(value) > 178:
        raise _FieldError("Ensure this field has no more than 178 characters.")
    if value and not SUBNAME_RE.fullmatch(value):
        raise _FieldError(MSG_SUBNAME)
    if instance is not None and value != instance.subname:
        raise _FieldError("Can only be written on create.")
    if len(value) + len(domain.name) + 2 > 255:
        raise _FieldError("This field combined with the domain name must not exceed 255 characters.")
    return value


def _type(raw: Any, domain: StoredDomain, instance: StoredRRset | None, method: str) -> str:
    value = _string(raw)
    if not TYPE_RE.fullmatch(value):
        raise _FieldError("Type must be uppercase alphanumeric and start with a letter.")
    if instance is not None and value != instance.type:
        raise _FieldError("Can only be written on create.")
    if value in MANAGEABLE_TYPES:
        return value
    if value in AUTOMATIC_TYPES:
        raise _FieldError(f"You cannot tinker with the {value} RR set. It is managed automatically.")
    if value.startswith("TYPE"):
        raise _FieldError("Generic type format is not supported.")
    raise _FieldError(f"The {value} RR set type is currently unsupported.")


def _ttl(raw: Any, domain: StoredDomain, instance: StoredRRset | None, method: str) -> int:
    ttl: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        ttl = raw
    elif (isinstance(raw, float) and raw.is_integer()) or (isinstance(raw, str) and re.fullmatch(r"\s*-?\d+\s*", raw)):
        ttl = int(raw)
    if ttl is None:
        raise _FieldError("A valid integer is required.")
    if ttl > MAX_TTL:
        raise _FieldError(f"Ensure this value is less than or equal to {MAX_TTL}.")
    if ttl < domain.minimum_ttl:
        raise _FieldError(f"Ensure this value is greater than or equal to {domain.minimum_ttl}.")
    return ttl


def _records(raw: Any, domain: StoredDomain, instance: StoredRRset | None, method: str) -> list[str]:
    if not isinstance(raw, list):
        raise _FieldError(f'Expected a list of items but got type "{type_name(raw)}".')
    if any(not isinstance(r, str) for r in raw):
        raise _FieldError(*({} if isinstance(r, str) else {"non_field_errors": ["Must be a string."]} for r in raw))
    if method == "POST" and not raw:
        raise _FieldError("This field must not be empty when using POST.")
    return list(raw)


_FIELDS: tuple[tuple[str, Callable[[Any, StoredDomain, StoredRRset | None, str], Any]], ...] = (
    ("subname", _subname),
    ("type", _type),
    ("ttl", _ttl),
    ("records", _records),
)


def _fields(
    domain: StoredDomain, item: dict[str, Any], instance: StoredRRset | None, method: str, bulk: bool, partial: bool
) -> dict[str, Any]:
    errors: dict[str, list[Any]] = {}
    attrs: dict[str, Any] = {}
    for name, check in _FIELDS:
        if name in item:
            try:
                attrs[name] = check(item[name], domain, instance, method)
            except _FieldError as exc:
                errors[name] = exc.messages
        elif partial:
            continue
        elif name == "subname" and not bulk and instance is None:
            attrs["subname"] = ""  # a single create may leave out the apex subname
        else:
            errors[name] = [MSG_REQUIRED]
    if errors:
        raise Invalid(errors)
    return attrs


def cname_conflict(positions: str) -> str:
    return (
        f"RRset with conflicting type present at same subname: {positions}. "
        "(No other RRsets are allowed alongside CNAME.)"
    )


def _canonical(domain: StoredDomain, subname: str, rtype: str, records: list[str]) -> list[str]:
    """validate(): canonical presentation, semantic uniqueness, total length."""
    try:
        canonical = [canonical_record(rtype, r) for r in records]
    except ValueError as exc:
        raise Invalid({"non_field_errors": [str(exc)]}) from None
    if len(set(canonical)) != len(canonical):
        raise Invalid({"non_field_errors": ["Duplicate: records must be semantically unique"]})
    qname = f"{subname}.{domain.name}." if subname else f"{domain.name}."
    excess = 32 + len(qname) + sum(12 + len(r) for r in canonical) + 256 - 65535
    if excess > 0:
        raise Invalid({"non_field_errors": [f"Total length of RRset exceeds limit by {excess} bytes."]})
    return canonical


def validate_rrset(
    domain: StoredDomain,
    item: Any,
    *,
    instance: StoredRRset | None,
    method: str,
    bulk: bool,
    partial: bool,
) -> dict[str, Any]:
    """Field validation, then the serializer-level validators, then `validate()`. Raises `Invalid`."""
    if not isinstance(item, dict):
        raise Invalid({"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type_name(item)}."]})
    attrs = _fields(domain, item, instance, method, bulk, partial)
    subname = attrs.get("subname", instance.subname if instance else "")
    rtype = attrs.get("type", instance.type if instance else "")
    # serializer-level validators: unique together (create only), CNAME exclusivity (single requests)
    if instance is None and "subname" in attrs and "type" in attrs and (subname, rtype) in domain.rrsets:
        raise Invalid({"non_field_errors": [MSG_EXISTS]})
    if not bulk and attrs.get("records", [None]) != []:
        others = sorted(
            t for (s, t) in domain.rrsets if s == subname and t != rtype and (t == "CNAME") != (rtype == "CNAME")
        )
        if others:
            raise Invalid({"non_field_errors": [cname_conflict(f"database ({', '.join(others)})")]})
    if "records" in attrs:
        attrs["records"] = _canonical(domain, subname, rtype, attrs["records"])
    return attrs


def clean(subname: str, rtype: str, records: list[str]) -> list[str]:
    """Model-level checks raised at save time: deSEC answers them as a top-level list of strings."""
    problems = []
    if rtype in ("CNAME", "DNAME") and len(records) > 1:
        problems.append(f"{rtype} RRset cannot have multiple records.")
    if rtype in ("CNAME", "DS") and not subname:
        problems.append(f"{rtype} RRset cannot have empty subname.")
    if rtype == "DNSKEY" and subname:
        problems.append("DNSKEY RRset must have empty subname.")
    return problems


def positions(conflicts: dict[str, set[int | None]]) -> str:
    """The positions of conflicting rrsets in a bulk request ("database" for stored ones)."""
    by_position: dict[int | None, list[str]] = {}
    for rtype, where in conflicts.items():
        for position in where:
            by_position.setdefault(position, []).append(rtype)
    parts = [
        f"{p} ({', '.join(sorted(t))})" for p, t in sorted((p, t) for p, t in by_position.items() if p is not None)
    ]
    if None in by_position:
        parts.append(f"database ({', '.join(sorted(by_position[None]))})")
    return ", ".join(parts)
