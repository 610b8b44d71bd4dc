"""Reading deSEC's answers: bodies, DRF error shapes, throttle waits, and the status -> error mapping."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from azt3knet_pipeline.clients.http import parse_retry_after
from azt3knet_pipeline.domain.dns import RRset
from azt3knet_pipeline.errors import (
    DesecAuthError,
    DesecError,
    DesecNotFound,
    DesecThrottled,
    DesecValidationError,
)

DETAIL_LIMIT = 500


def body_of(response: httpx.Response) -> Any:
    """The decoded JSON body, or the text when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return response.text


def flatten(value: Any) -> str:
    """A DRF error structure (dicts and lists of messages) as one line, empty parts left out."""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {flatten(v)}" for k, v in value.items() if v not in ({}, [], None, ""))
    if isinstance(value, list | tuple):
        return " ".join(flatten(v) for v in value if v not in ({}, [], None, ""))
    return str(value)


def label(item: RRset | Mapping[str, Any]) -> str:
    """How an item of a request is named in an error message."""
    if isinstance(item, RRset):
        subname, rtype = item.subname, item.type
    else:
        subname, rtype = item.get("subname"), item.get("type")
    shown = subname if subname else "@"
    return f"subname={shown} type={rtype}"


THROTTLE_WAIT_RE = re.compile(r"Expected available in (\d+) seconds?")


def throttle_wait(response: httpx.Response) -> float | None:
    """Seconds a 429 asks to wait: `Retry-After`, else the number in deSEC's throttle message (None: unknown,
    e.g. nginx's own 429 page)."""
    seconds = parse_retry_after(response.headers.get("Retry-After"))
    if seconds is not None:
        return seconds
    match = THROTTLE_WAIT_RE.search(response.text or "")
    return float(match.group(1)) if match else None


def detail_text(body: Any) -> str:
    """DRF's `detail` when there is one, else the whole body flattened."""
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return body["detail"]
    return flatten(body) if not isinstance(body, str) else body.strip()


def raise_for(
    response: httpx.Response,
    *,
    what: str,
    key: str | None = None,
    items: Sequence[RRset | Mapping[str, Any]] | None = None,
    bulk: bool = False,
    scrub: Callable[[str], str],
) -> None:
    """Map a non-2xx response to the error tree; `scrub` removes the token from any text that is kept."""
    status = response.status_code
    if 200 <= status < 300:
        return
    body = body_of(response)
    text = scrub(detail_text(body))[:DETAIL_LIMIT]
    if status == 400:
        raise validation_error(what, body, items=items, bulk=bulk, key=key, scrub=scrub)
    if status == 401:
        raise DesecAuthError(f"{what}: deSEC refused the token (HTTP 401): {text}", status=401, key=key)
    if status == 403:
        lowered = text.lower()
        if "permission" in lowered or "multi-factor" in lowered or "credentials" in lowered:
            raise DesecAuthError(f"{what}: not permitted (HTTP 403): {text}", status=403, key=key, detail=body)
        raise DesecError(f"{what}: forbidden (HTTP 403): {text}", status=403, key=key, detail=body)
    if status == 404:
        raise DesecNotFound(f"{what}: not found (HTTP 404): {text}", status=404, key=key, detail=body)
    if status == 429:
        raise DesecThrottled(
            f"{what}: throttled (HTTP 429): {text}",
            retry_after=throttle_wait(response),
            key=key,
            detail=body,
        )
    raise DesecError(f"{what}: HTTP {status}: {text}", status=status, key=key, detail=body)


def validation_error(
    what: str,
    body: Any,
    *,
    items: Sequence[RRset | Mapping[str, Any]] | None,
    bulk: bool,
    key: str | None,
    scrub: Callable[[str], str],
) -> DesecValidationError:
    """A 400 as a DesecValidationError whose `item_errors` pair each rejected item with its error."""
    item_errors: list[tuple[RRset | dict[str, Any], dict[str, Any]]] = []
    errors: list[str] = []
    positions: list[int] = []
    seq = list(items or [])

    def as_item(item: RRset | Mapping[str, Any]) -> RRset | dict[str, Any]:
        return item if isinstance(item, RRset) else dict(item)

    if isinstance(body, list) and bulk and len(body) == len(seq) and all(isinstance(e, dict) for e in body):
        for position, (item, error) in enumerate(zip(seq, body, strict=True)):
            if error:
                item_errors.append((as_item(item), error))
                positions.append(position)
    elif isinstance(body, list):
        errors = [flatten(e) for e in body]
        if len(seq) == 1:
            item_errors.append((as_item(seq[0]), {"non_field_errors": errors}))
            positions.append(0)
    elif isinstance(body, dict) and not bulk and len(seq) == 1:
        item_errors.append((as_item(seq[0]), body))
        positions.append(0)
    elif isinstance(body, dict):
        errors = [flatten(body)]
    else:
        errors = [str(body).strip()]
    parts = [
        f"item {pos} ({label(item)}): {flatten(err)}" for pos, (item, err) in zip(positions, item_errors, strict=True)
    ]
    if not item_errors:
        parts += errors
    message = scrub(f"{what}: deSEC rejected the request (HTTP 400): " + " | ".join(parts))
    return DesecValidationError(
        message[: DETAIL_LIMIT * 4], key=key, detail=body, item_errors=item_errors, errors=errors
    )
