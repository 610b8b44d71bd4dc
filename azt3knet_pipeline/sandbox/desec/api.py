"""The request pipeline every deSEC API route shares: count, inject faults, authenticate, parse the body, run the
handler under the state lock, count the status."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from azt3knet_pipeline.sandbox.desec.config import MSG_NO_PERMISSION, SAFE_METHODS
from azt3knet_pipeline.sandbox.desec.models import NO_DATA, Reply, fail, json_response
from azt3knet_pipeline.sandbox.desec.state import DesecSandbox

# (sandbox, request, account, token, body) -> response; raises Reply to answer at once.
Handler = Callable[[DesecSandbox, Request, str, str, Any], Response]
Endpoint = Callable[[Request], Awaitable[Response]]
UNAVAILABLE = {"detail": "Service temporarily unavailable (injected fault)."}


def not_allowed(method: str) -> Reply:
    return fail(405, f'Method "{method}" not allowed.')


def write_allowed(sb: DesecSandbox, token: str) -> None:
    if token in sb.config.read_only_tokens:
        raise fail(403, MSG_NO_PERMISSION)


async def read_body(request: Request) -> Any:
    """The JSON body, `NO_DATA` when there is none; 415 for another media type, 400 for bad JSON."""
    raw = await request.body()
    if not raw.strip():
        return NO_DATA
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise fail(415, f'Unsupported media type "{media}" in request.')
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise fail(400, f"JSON parse error - {exc}") from None


def finish(sb: DesecSandbox, response: Response) -> Response:
    sb.count_status(response.status_code)
    return response


def endpoint(sb: DesecSandbox, name: str, handler: Handler, *, per_domain: bool = False) -> Endpoint:
    """An API route: `name` counts its requests; `per_domain` counts writes by the `{name}` path parameter."""

    async def run(request: Request) -> Response:
        method = request.method
        sb.count(method, name, request.path_params["name"] if per_domain else None)
        fault = sb.roll_fault()
        if fault == "timeout":
            await asyncio.sleep(sb.config.timeout_seconds)
        elif fault == "error":
            return finish(sb, json_response(UNAVAILABLE, 503))
        try:
            user, token = sb.authenticate(request)
            body: Any = None
            if method not in SAFE_METHODS and method != "DELETE":
                body = await read_body(request)
            with sb.lock:
                response = handler(sb, request, user, token, body)
        except Reply as reply:
            response = reply.response
        if fault == "after_apply":
            response = json_response(UNAVAILABLE, 503)
        return finish(sb, response)

    return run
