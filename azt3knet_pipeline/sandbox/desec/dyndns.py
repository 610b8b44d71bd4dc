"""The dynDNS update endpoint (`/update`, `/nic/update`, `/api/v1/dyndns/update`): Token, Basic or URL
credentials, host names from the parameters or the credentials, A/AAAA written with TTL 60, plain-text answers."""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from azt3knet_pipeline.sandbox.desec.api import finish
from azt3knet_pipeline.sandbox.desec.config import MSG_NO_PERMISSION
from azt3knet_pipeline.sandbox.desec.models import Reply, StoredDomain, StoredRRset
from azt3knet_pipeline.sandbox.desec.state import DesecSandbox

UNAVAILABLE = "Service temporarily unavailable."
Plan = list[tuple[str, str, list[str]]]


def _text(status: int, body: str) -> Reply:
    return Reply(PlainTextResponse(body, status_code=status))


def _domain_for(sb: DesecSandbox, qname: str, user: str) -> StoredDomain | None:
    """The user's domain holding `qname` (the longest match)."""
    matches = [d for d in sb.domains.values() if d.owner == user and (qname == d.name or qname.endswith("." + d.name))]
    return max(matches, key=lambda d: len(d.name), default=None)


def _credentials(request: Request) -> tuple[str, str, str | None]:
    """(username, password, basic-auth username) from Basic auth or ?username=&password=."""
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    params = request.query_params
    if scheme.lower() == "basic":
        try:
            username, _, password = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise _text(401, "badauth") from None
        return username, password, username
    if "username" in params or "password" in params:
        return params.get("username", ""), params.get("password", ""), None
    raise _text(401, "No username URL parameter provided.")


def _authenticate(sb: DesecSandbox, request: Request) -> tuple[str, str, str | None]:
    """(account, token, basic-auth username) by Token header, Basic auth, or ?username=&password=."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "token":
        user = sb.user_for(credentials.strip())
        if user is None:
            raise _text(401, "Invalid token.")
        return user, credentials.strip(), None
    username, password, basic_user = _credentials(request)
    user = sb.user_for(password)
    if user is None:
        raise _text(401, "badauth")
    name = username.lower().rstrip(".")
    if name and name != sb.config.account_email.lower() and _domain_for(sb, name, user) is None:
        raise _text(401, "badauth")
    return user, password, basic_user


def _qname(sb: DesecSandbox, params: Any, basic_user: str | None, user: str) -> str:
    """The host names to update, as given (comma-separated), or the user's only domain."""
    if params.get("hostname") not in (None, "", "YES"):
        return str(params["hostname"])
    if "host_id" in params:
        return str(params["host_id"])
    if basic_user and "@" not in basic_user:
        return basic_user
    if "username" in params and "@" not in params["username"]:
        return str(params["username"])
    mine = [d for d in sb.domains.values() if d.owner == user]
    if len(mine) > 1:
        raise _text(400, "Request does not properly specify domain for update.")
    if not mine:
        raise _text(404, "nohost")
    return mine[0].name


def _find_ip(params: Any, names: tuple[str, ...], separator: str, client_ip: str) -> str | None:
    for name in names:
        if name not in params:
            continue
        value = params[name].strip()
        if not value:
            return None
        if value == "preserve" or separator in value:
            return str(value)
    return client_ip if separator in client_ip else None


def _addresses(rtype: str, value: str | None, current: StoredRRset | None) -> list[str]:
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


def _plan(domain: StoredDomain, subnames: list[str], wanted: dict[str, str | None]) -> Plan:
    plan: Plan = []
    problems: list[str] = []
    for subname in subnames:
        for rtype, value in wanted.items():
            if value == "preserve":
                continue
            try:
                plan.append((subname, rtype, _addresses(rtype, value, domain.rrsets.get((subname, rtype)))))
            except ValueError as exc:
                problems.append(f"{rtype}: {exc}")
    if problems:
        raise _text(400, "\n".join(f"- records: Record content malformed ({p})" for p in problems))
    return plan


def _apply(sb: DesecSandbox, domain: StoredDomain, plan: Plan) -> bool:
    changed = False
    for subname, rtype, records in plan:
        current = domain.rrsets.get((subname, rtype))
        if not records:
            if current is not None:
                del domain.rrsets[(subname, rtype)]
                changed = True
        elif current is None:
            attrs = {"subname": subname, "type": rtype, "ttl": sb.config.dyndns_ttl, "records": records}
            sb.create_rrset(domain, attrs)
            changed = True
        else:
            changed = sb.update_rrset(current, {"records": records, "ttl": sb.config.dyndns_ttl}) or changed
    return changed


def _update(sb: DesecSandbox, request: Request) -> Response:
    params = request.query_params
    user, token, basic_user = _authenticate(sb, request)
    names = [n.strip().lower().rstrip(".") for n in _qname(sb, params, basic_user, user).split(",") if n.strip()]
    domains = [_domain_for(sb, n, user) for n in names]
    if not names or any(d is None for d in domains):
        raise _text(404, "nohost")
    if len({d.name for d in domains if d is not None}) > 1:
        raise _text(400, "Cannot update subdomains from more than one domain.")
    domain = domains[0]
    assert domain is not None
    sb.count_domain_write(domain.name)
    if token in sb.config.read_only_tokens:
        raise _text(403, MSG_NO_PERMISSION)
    sb.check_throttles([("dyndns", domain.name), ("user", user)], text=True)
    client_ip = request.client.host if request.client else ""
    wanted = {
        "A": _find_ip(params, ("myip", "myipv4", "ip"), ".", client_ip),
        "AAAA": _find_ip(params, ("myipv6", "ipv6", "myip", "ip"), ":", client_ip),
    }
    subnames = [n[: -len(domain.name) - 1] if n != domain.name else "" for n in names]
    changed = _apply(sb, domain, _plan(domain, subnames, wanted))
    sb.touch(domain, published=changed)
    sb.save()
    return PlainTextResponse("good")


async def dyndns(request: Request) -> Response:
    """The update endpoint (counted as a write; faults like the API's, answered in plain text)."""
    sb: DesecSandbox = request.app.state.sandbox
    sb.count(request.method, "dyndns", None, write=True)
    fault = sb.roll_fault()
    if fault == "timeout":
        await asyncio.sleep(sb.config.timeout_seconds)
    elif fault == "error":
        return finish(sb, PlainTextResponse(UNAVAILABLE, status_code=503))
    try:
        with sb.lock:
            response = _update(sb, request)
    except Reply as reply:
        response = reply.response
    if fault == "after_apply":
        response = PlainTextResponse(UNAVAILABLE, status_code=503)
    return finish(sb, response)
