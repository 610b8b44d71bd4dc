"""The domain routes: list (with `owns_qname`), create, get, delete (PATCH/PUT: 405)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from azt3knet_pipeline.sandbox.desec.api import not_allowed
from azt3knet_pipeline.sandbox.desec.config import (
    DOMAIN_NAME_RE,
    MSG_NAME_UNAVAILABLE,
    MSG_NO_PERMISSION,
    MSG_NOT_PERMITTED,
    MSG_REQUIRED,
    SAFE_METHODS,
)
from azt3knet_pipeline.sandbox.desec.models import NO_DATA, domain_json, fail, json_response, type_name
from azt3knet_pipeline.sandbox.desec.pagination import paginate
from azt3knet_pipeline.sandbox.desec.state import DesecSandbox


def _list(sb: DesecSandbox, request: Request, user: str) -> Response:
    mine = sorted((d for d in sb.domains.values() if d.owner == user), key=lambda d: -d.seq)
    qname = request.query_params.get("owns_qname")
    if qname is not None:
        qname = qname.lower().rstrip(".")
        matches = [d for d in mine if qname == d.name or qname.endswith("." + d.name)]
        best = max(matches, key=lambda d: len(d.name), default=None)
        return json_response([domain_json(best, keys=False)] if best else [])
    return paginate(request, [(d.seq, domain_json(d, keys=False)) for d in mine], sb.config.page_size)


def _conflicts(sb: DesecSandbox, name: str, user: str) -> bool:
    """Whether `name` is, contains or lies inside someone else's domain."""
    return any(
        other.name == name or name.endswith("." + other.name) or other.name.endswith("." + name)
        for other in sb.domains.values()
        if other.owner != user
    )


def _checked_name(body: Any) -> str:
    if body is NO_DATA:
        raise fail(400, {"non_field_errors": ["No data provided"]})
    if not isinstance(body, dict):
        raise fail(400, {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type_name(body)}."]})
    name = body.get("name")
    if name is None:
        raise fail(400, {"name": [MSG_REQUIRED]})
    if not isinstance(name, str) or len(name) > 191 or not DOMAIN_NAME_RE.fullmatch(name):
        message = "Ensure this field has no more than 191 characters." if len(str(name)) > 191 else None
        raise fail(400, {"name": [message or "Enter a valid value."]})
    return name


def _create(sb: DesecSandbox, user: str, body: Any) -> Response:
    if not sb.config.perm_create_domain:
        raise fail(403, MSG_NOT_PERMITTED)
    if isinstance(body, dict) and isinstance(body.get("name"), str):
        sb.count_domain_write(body["name"])
    name = _checked_name(body)
    existing = sb.domains.get(name)
    if existing is not None and existing.owner == user:
        raise fail(400, {"name": ["domain with this name already exists."]})
    if "." not in name or name.endswith(".internal") or _conflicts(sb, name, user):
        raise fail(400, {"name": [MSG_NAME_UNAVAILABLE]})
    limit = sb.config.domain_limit
    if limit is not None and sum(1 for d in sb.domains.values() if d.owner == user) >= limit:
        raise fail(403, "Domain limit exceeded. Please contact support to create additional domains.")
    return json_response(sb.add_domain(name, owner=user), 201)


def domains(sb: DesecSandbox, request: Request, user: str, token: str, body: Any) -> Response:
    """`/domains/`: GET lists, POST creates."""
    if request.method in SAFE_METHODS:
        sb.check_throttles([("dns_api_cheap", user), ("user", user)])
        return _list(sb, request, user)
    sb.check_throttles([("dns_api_expensive", user), ("user", user)])
    if request.method != "POST":
        raise not_allowed(request.method)
    return _create(sb, user, body)


def domain(sb: DesecSandbox, request: Request, user: str, token: str, body: Any) -> Response:
    """`/domains/{name}/`: GET shows (with keys), DELETE removes (204 even when absent)."""
    method = request.method
    name = request.path_params["name"]
    scope = "dns_api_cheap" if method in SAFE_METHODS else "dns_api_expensive"
    sb.check_throttles([(scope, user), ("user", user)])
    if method in SAFE_METHODS:
        return json_response(domain_json(sb.owned(name, user, detail=True), keys=True))
    if method != "DELETE":
        raise not_allowed(method)
    if not sb.config.perm_delete_domain:
        raise fail(403, MSG_NOT_PERMITTED)
    stored = sb.domains.get(name)
    if stored is not None and stored.owner == user:
        if stored.rrsets and token in sb.config.read_only_tokens:
            raise fail(403, MSG_NO_PERMISSION)
        del sb.domains[name]
        sb.save()
    return Response(status_code=204)
