"""The Mailcow API routes: `/api/v1/{action}/{category}[/{object}[/{extra}]]` as json_api.php answers them.

A request goes through: ban check, latency, write recording, faults before applying, the `Sec-Fetch-Dest` and
API-key checks, method and access checks, body decoding, then a handler found in `GET_ROUTES` / `WRITE_ROUTES`,
and last the faults that lose an applied request's answer.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from azt3knet_pipeline.sandbox.mailcow.config import ACTIONS, WRITE_ACTIONS
from azt3knet_pipeline.sandbox.mailcow.dkim import add_dkim, delete_dkim, ensure_dkim_key, get_dkim
from azt3knet_pipeline.sandbox.mailcow.domains import add_domain, delete_domains, edit_domain, get_domains
from azt3knet_pipeline.sandbox.mailcow.faults import abort_connection, after_apply, before_apply
from azt3knet_pipeline.sandbox.mailcow.mailboxes import (
    add_mailbox,
    delete_mailboxes,
    edit_mailbox,
    get_mailboxes,
    race_foreign_mailbox,
)
from azt3knet_pipeline.sandbox.mailcow.passwords import edit_password_policy, get_password_policy
from azt3knet_pipeline.sandbox.mailcow.state import Entries, MailcowSandbox

NO_ATTRIBUTES = "Cannot find attributes in post data"


def json_response(data: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(data, separators=(",", ":"), ensure_ascii=False), status_code=status, media_type="application/json"
    )


def _error(status: int, msg: str) -> Response:
    return json_response({"type": "error", "msg": msg}, status)


def _not_found() -> Response:
    return _error(404, "route not found")


def _envelope(entries: Entries, action: str) -> Response:
    if entries:
        return json_response(entries)
    verb = {"add": "add", "edit": "edit"}.get(action, "delete")
    return json_response({"type": "error", "msg": f"Cannot {verb} item"})


@dataclass
class Payload:
    """A decoded POST body: `data` for add, `items` and `attr` for edit, `items` for delete."""

    data: Any = None
    items: list[Any] | None = None
    attr: Any = None


def _as_items(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return _as_items(value["items"]) if "items" in value else list(value.values())
    return [value]


# -- authentication and access


def _key_level(request: Request, sb: MailcowSandbox) -> str | Response | None:
    """ "rw", "ro", None (no key: a session would be needed), or the 401 of a bad key or a refused IP."""
    raw_key = request.headers.get("x-api-key")
    if not raw_key:
        return None
    ip = request.client.host if request.client else ""
    key = re.sub(r"[^a-zA-Z0-9-]", "", raw_key)
    if key and key in sb.config.rw_keys:
        level = "rw"
    elif key and key in sb.config.ro_keys:
        level = "ro"
    else:
        sb.auth_failure(ip)
        return _error(401, "authentication failed")
    if not sb.ip_allowed(ip):
        sb.auth_failure(ip)
        return _error(401, f"api access denied for ip {ip}")
    return level


def _access_refusal(method: str, action: str, level: str | None) -> Response | None:
    if action not in ACTIONS:
        return _not_found()
    if action == "get" and method not in ("GET", "HEAD"):
        return _error(405, "only GET method is allowed")
    if action != "get" and method != "POST":
        return _error(405, "only POST method is allowed")
    if action != "get" and (level == "ro" or (level is None and action in ("edit", "delete", "search"))):
        return _error(403, "API read/write access denied")
    if action == "get" and level is None:
        return Response(b"", status_code=200)  # the get switch needs a session (derived)
    return None


# -- reads

GET_ROUTES: dict[str, Callable[[MailcowSandbox, str, str, list[str] | None], Any]] = {
    "domain": lambda sb, obj, _extra, tags: get_domains(sb, obj or "all", tags),
    "mailbox": lambda sb, obj, extra, tags: get_mailboxes(sb, obj or "all", extra, tags),
    "passwordpolicy": lambda sb, _obj, _extra, _tags: get_password_policy(sb),
    "dkim": lambda sb, obj, _extra, _tags: get_dkim(sb, obj),
}


async def _get(request: Request, sb: MailcowSandbox, category: str, obj: str, extra: str) -> Response:
    handler = GET_ROUTES.get(category)
    if handler is None:
        return _not_found()
    tags_q = request.query_params.get("tags")
    tags = [t for t in tags_q.split(",") if t] if tags_q else None
    if category == "dkim":
        await ensure_dkim_key(sb, obj)
    with sb.lock:
        return json_response(handler(sb, obj, extra, tags))


# -- writes


def _decode_json(raw: bytes, action: str) -> Payload | Response:
    try:
        decoded = json.loads(raw) if raw.strip() else None
    except ValueError:
        decoded = None
    if decoded is None:
        return _error(400, "Request body doesn't contain valid json!")
    if action == "add":
        return Payload(data=decoded)
    if action == "edit":
        if not isinstance(decoded, dict) or "attr" not in decoded:
            return json_response({"type": "error", "msg": NO_ATTRIBUTES})
        return Payload(items=_as_items(decoded.get("items")), attr=decoded.get("attr"))
    return Payload(items=_as_items(decoded))


def _decode_form(raw: bytes, action: str) -> Payload | Response:
    form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
    try:
        attr = json.loads(form["attr"]) if "attr" in form else None
        items = json.loads(form["items"]) if "items" in form else None
    except ValueError:
        return json_response({"type": "error", "msg": NO_ATTRIBUTES})
    if action in ("add", "edit") and attr is None:
        return json_response({"type": "error", "msg": NO_ATTRIBUTES})
    if action in ("edit", "delete") and items is None:
        return json_response({"type": "error", "msg": "Cannot find items in post data"})
    return Payload(data=attr, items=_as_items(items), attr=attr)


async def _decode(request: Request, action: str) -> Payload | Response:
    """The body decoded the way json_api.php does (JSON or a form with `attr` / `items`)."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    payload = _decode_json(raw, action) if content_type == "application/json" else _decode_form(raw, action)
    if isinstance(payload, Response):
        return payload
    if (action == "add" and not isinstance(payload.data, dict)) or (
        action == "edit" and not isinstance(payload.attr, dict)
    ):
        return json_response({"type": "error", "msg": NO_ATTRIBUTES})
    return payload


def _add_mailbox(sb: MailcowSandbox, p: Payload, admin: bool) -> Response:
    if len(str(p.data.get("name") or "")) > 255:
        return Response(b"", status_code=200)  # a database error: the handler throws (contract §7)
    race_foreign_mailbox(sb, p.data)
    return _envelope(add_mailbox(sb, p.data, admin), "add")


def _add_dkim(sb: MailcowSandbox, p: Payload, admin: bool) -> Response:
    if not isinstance(p.data.get("domains", ""), str):
        return Response(b"", status_code=500)  # preg_split() on an array is a PHP TypeError: a 500, no body
    return _envelope(add_dkim(sb, p.data, admin), "add")


WriteHandler = Callable[[MailcowSandbox, Payload, bool], Response]
WRITE_ROUTES: dict[tuple[str, str], WriteHandler] = {
    ("add", "domain"): lambda sb, p, admin: _envelope(add_domain(sb, p.data, admin), "add"),
    ("add", "mailbox"): _add_mailbox,
    ("add", "dkim"): _add_dkim,
    ("edit", "mailbox"): lambda sb, p, admin: _envelope(edit_mailbox(sb, p.items or [], p.attr, admin), "edit"),
    ("edit", "domain"): lambda sb, p, admin: _envelope(edit_domain(sb, p.items or [], p.attr, admin), "edit"),
    ("edit", "passwordpolicy"): lambda sb, p, admin: _envelope(edit_password_policy(sb, p.attr, admin), "edit"),
    ("delete", "mailbox"): lambda sb, p, admin: _envelope(delete_mailboxes(sb, p.items or [], admin), "delete"),
    ("delete", "domain"): lambda sb, p, admin: _envelope(delete_domains(sb, p.items or [], admin), "delete"),
    ("delete", "dkim"): lambda sb, p, admin: _envelope(delete_dkim(sb, p.items or [], admin), "delete"),
}


async def _process(request: Request, sb: MailcowSandbox, action: str, category: str, obj: str, extra: str) -> Response:
    dest = request.headers.get("sec-fetch-dest")
    if dest is not None and dest != "empty":
        return Response(status_code=403)
    level = _key_level(request, sb)
    if isinstance(level, Response):
        return level
    refusal = _access_refusal(request.method.upper(), action, level)
    if refusal is not None:
        return refusal
    if action == "get":
        return await _get(request, sb, category, obj, extra)
    payload = await _decode(request, action)
    if isinstance(payload, Response):
        return payload
    handler = WRITE_ROUTES.get((action, category))
    if handler is None:
        return _not_found()
    with sb.lock:
        return handler(sb, payload, level is not None)


async def api_endpoint(request: Request) -> Response:
    sb: MailcowSandbox = request.app.state.sandbox
    method = request.method.upper()
    action, category, obj, extra = [*request.path_params.get("query", "").split("/", 3), "", "", ""][:4]
    sb.count(method, action, category)
    if sb.is_banned(request.client.host if request.client else ""):
        return abort_connection(request)
    if sb.config.latency_ms:
        await asyncio.sleep(sb.config.latency_ms / 1000)
    if action in WRITE_ACTIONS and method == "POST":
        raw = await request.body()
        try:
            received: Any = json.loads(raw) if raw.strip() else None
        except ValueError:
            received = {"undecodable": len(raw)}
        sb.record_write(method, f"{action}/{category}", received)
    fault = sb.draw_fault(action)
    early = await before_apply(fault, request, sb.config)
    if early is not None:
        return early
    response = await _process(request, sb, action, category, obj, extra)
    return await after_apply(fault, request, sb.config, response)
