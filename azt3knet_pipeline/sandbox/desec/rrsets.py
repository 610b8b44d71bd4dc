"""The rrset routes: `/rrsets/` (list with filters and pagination, single create, atomic bulk POST/PUT/PATCH) and
`/rrsets/{subname}/{type}/` (get, PUT, PATCH, DELETE)."""

from __future__ import annotations

import copy
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from azt3knet_pipeline.domain.dns import AUTOMATIC_TYPES
from azt3knet_pipeline.sandbox.desec.api import not_allowed, write_allowed
from azt3knet_pipeline.sandbox.desec.config import SAFE_METHODS
from azt3knet_pipeline.sandbox.desec.models import (
    NO_DATA,
    StoredDomain,
    StoredRRset,
    fail,
    json_response,
    rrset_json,
    type_name,
)
from azt3knet_pipeline.sandbox.desec.pagination import paginate
from azt3knet_pipeline.sandbox.desec.state import DesecSandbox
from azt3knet_pipeline.sandbox.desec.validation import Invalid, clean, cname_conflict, positions, validate_rrset

Validated = list[tuple[int, dict[str, Any], StoredRRset | None]]


def _scopes(request: Request, user: str) -> list[tuple[str, str]]:
    if request.method in SAFE_METHODS:
        return [("dns_api_cheap", user), ("user", user)]
    return [("dns_api_per_domain_expensive", request.path_params["name"]), ("user", user)]


def _route_domain(sb: DesecSandbox, request: Request, user: str, writes: set[str]) -> StoredDomain:
    """The domain an rrset route names, after deSEC's checks in its order: throttles, method (reads or `writes`),
    ownership."""
    sb.check_throttles(_scopes(request, user))
    if request.method not in SAFE_METHODS | writes:
        raise not_allowed(request.method)
    return sb.owned(request.path_params["name"], user)


def _list(sb: DesecSandbox, request: Request, domain: StoredDomain) -> Response:
    rtype = request.query_params.get("type")
    if rtype in AUTOMATIC_TYPES:
        raise fail(403, f"You cannot tinker with the {rtype} RRset.")
    subname = request.query_params.get("subname")
    rows = sorted(
        (
            (r.seq, rrset_json(domain, r))
            for r in domain.rrsets.values()
            if (rtype is None or r.type == rtype) and (subname is None or r.subname == subname)
        ),
        key=lambda row: -row[0],
    )
    return paginate(request, rows, sb.config.page_size)


def _create_one(sb: DesecSandbox, domain: StoredDomain, body: Any) -> Response:
    try:
        attrs = validate_rrset(domain, body, instance=None, method="POST", bulk=False, partial=False)
    except Invalid as exc:
        raise fail(400, exc.detail) from None
    problems = clean(attrs["subname"], attrs["type"], attrs["records"])
    if problems:
        raise fail(400, problems)
    created = sb.create_rrset(domain, attrs)
    sb.touch(domain, published=True)
    sb.save()
    return json_response(rrset_json(domain, created), 201)


def rrsets(sb: DesecSandbox, request: Request, user: str, token: str, body: Any) -> Response:
    """`/domains/{name}/rrsets/`."""
    method = request.method
    domain = _route_domain(sb, request, user, {"POST", "PATCH", "PUT"})
    if method in SAFE_METHODS:
        return _list(sb, request, domain)
    write_allowed(sb, token)
    if body is NO_DATA:
        raise fail(400, {"non_field_errors": ["No data provided"]})
    if isinstance(body, list):
        return _bulk(sb, domain, method, body)
    if method != "POST":
        raise fail(400, {"non_field_errors": [f"Expected a list of items but got {type_name(body)}."]})
    return _create_one(sb, domain, body)


# -- bulk


def _index(
    domain: StoredDomain, data: list[Any], errors: list[dict[str, Any]]
) -> dict[Any, dict[Any, set[int | None]]]:
    """Positions of each (subname, type) in the request (None: stored); shape errors recorded in `errors`."""
    indices: dict[Any, dict[Any, set[int | None]]] = {}
    for idx, item in enumerate(data):
        if not isinstance(item, dict):
            errors[idx]["non_field_errors"] = f"Expected a dictionary, but got {type_name(item)}."
            continue
        s, t = item.get("subname"), item.get("type")
        for name, value in (("subname", s), ("type", t)):
            if value is not None and not isinstance(value, str):
                errors[idx][name] = f"Expected a string, but got {type_name(value)}."
        if errors[idx]:
            continue
        if s not in indices:
            indices[s] = {rt: {None} for (rs, rt) in domain.rrsets if rs == s}
        indices[s].setdefault(t, set()).add(idx)
    return indices


def _validate_item(
    domain: StoredDomain,
    method: str,
    idx: int,
    item: dict[str, Any],
    indices: dict[Any, dict[Any, set[int | None]]],
    collapsed: dict[Any, dict[Any, set[int | None]]],
) -> tuple[dict[str, Any], StoredRRset | None]:
    """One bulk item: uniqueness within the request, CNAME exclusivity, then the serializer. Raises Invalid."""
    s, t = item.get("subname"), item.get("type")
    same = indices[s][t] - {None}
    if len(same) > 1:
        others = ", ".join(str(i) for i in sorted(same - {idx}))
        raise Invalid({"non_field_errors": [f"Same subname and type as in position(s) {others}, but must be unique."]})
    if item.get("records") != []:
        conflicts = {k: v for k, v in collapsed[s].items() if (k == "CNAME") != (t == "CNAME") and v}
        if conflicts:
            raise Invalid({"non_field_errors": [cname_conflict(positions(conflicts))]})
    known = domain.rrsets.get((s, t)) if method != "POST" else None
    nonempty = item.get("records") != []
    partial = method == "PATCH" and not (known is None and nonempty)
    try:
        attrs = validate_rrset(domain, item, instance=known, method=method, bulk=True, partial=partial)
    except Invalid as exc:
        raise Invalid(exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}) from None
    attrs.setdefault("subname", s)
    attrs.setdefault("type", t)
    return attrs, known


def _validate_bulk(domain: StoredDomain, method: str, data: list[Any]) -> Validated:
    """Every item validated; one 400 with a list aligned with the input (`{}` for valid items) if any fails."""
    errors: list[dict[str, Any]] = [{} for _ in data]
    indices = _index(domain, data, errors)
    collapsed = copy.deepcopy(indices)
    for idx, item in enumerate(data):
        if not errors[idx] and item.get("records") == []:
            collapsed[item.get("subname")][item.get("type")] -= {idx, None}
    validated: Validated = []
    for idx, item in enumerate(data):
        if errors[idx]:
            continue
        try:
            attrs, known = _validate_item(domain, method, idx, item, indices, collapsed)
        except Invalid as exc:
            errors[idx].update(exc.detail)
            continue
        validated.append((idx, attrs, known))
    if any(errors):
        raise fail(400, errors)
    for _, attrs, known in validated:
        records = attrs.get("records", known.records if known else [])
        problems = clean(attrs["subname"], attrs["type"], records) if records else []
        if problems:
            raise fail(400, problems)
    return validated


def _bulk(sb: DesecSandbox, domain: StoredDomain, method: str, data: list[Any]) -> Response:
    if not data:
        return json_response([], 201 if method == "POST" else 200)
    validated = _validate_bulk(domain, method, data)
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
            result.append(sb.create_rrset(domain, attrs))
            published = True
        else:
            published = sb.update_rrset(known, attrs) or published
            result.append(known)
    sb.touch(domain, published=published)
    sb.save()
    return json_response([rrset_json(domain, r) for r in result], 201 if method == "POST" else 200)


# -- one rrset


def _path_subname(request: Request) -> str:
    subname = request.path_params["subname"]
    if subname == "@":
        return ""
    return subname[:-3] if subname.endswith("...") else subname


def _delete(sb: DesecSandbox, domain: StoredDomain, key: tuple[str, str], existed: bool) -> Response:
    if existed:
        del domain.rrsets[key]
    sb.touch(domain, published=existed)
    sb.save()
    return Response(status_code=204)


def rrset(sb: DesecSandbox, request: Request, user: str, token: str, body: Any) -> Response:
    """`/domains/{name}/rrsets/{subname}/{type}/`."""
    method = request.method
    domain = _route_domain(sb, request, user, {"PATCH", "PUT", "DELETE"})
    key = (_path_subname(request), request.path_params["type"])
    current = domain.rrsets.get(key)
    if method == "DELETE":
        write_allowed(sb, token)
        return _delete(sb, domain, key, current is not None)
    if current is None:
        raise fail(404, "No RRset matches the given query.")
    if method in SAFE_METHODS:
        return json_response(rrset_json(domain, current))
    write_allowed(sb, token)
    try:
        attrs = validate_rrset(
            domain,
            {} if body is NO_DATA else body,
            instance=current,
            method=method,
            bulk=False,
            partial=method == "PATCH",
        )
    except Invalid as exc:
        raise fail(400, exc.detail) from None
    if attrs.get("records") == []:
        return _delete(sb, domain, key, True)
    problems = clean(key[0], key[1], attrs.get("records", current.records))
    if problems:
        raise fail(400, problems)
    changed = sb.update_rrset(current, attrs)
    sb.touch(domain, published=changed)
    sb.save()
    return json_response(rrset_json(domain, current))
