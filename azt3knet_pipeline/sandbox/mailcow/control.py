"""The control routes under `/_sandbox/` (no auth): counters, faults, writes received, state, reset."""

from __future__ import annotations

import json

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from azt3knet_pipeline.sandbox.mailcow.state import MailcowSandbox


def _sandbox(request: Request) -> MailcowSandbox:
    return request.app.state.sandbox  # type: ignore[no-any-return]


async def counters(request: Request) -> Response:
    return JSONResponse(_sandbox(request).counters())


async def counters_reset(request: Request) -> Response:
    _sandbox(request).reset_counters()
    return JSONResponse({"ok": True})


async def faults(request: Request) -> Response:
    """GET: the fault settings with the counts of injected faults and auth failures; POST: change them."""
    sb = _sandbox(request)
    if request.method == "GET":
        with sb.lock:
            injected, auth_failures = dict(sb.fault_counts), sb.auth_failure_count
        return JSONResponse({**sb.faults(), "injected": injected, "auth_failures": auth_failures})
    try:
        changes = json.loads(await request.body() or b"{}")
        if not isinstance(changes, dict):
            raise ValueError("body must be a JSON object")
        return JSONResponse(sb.set_faults(**changes))
    except (ValueError, ValidationError) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)


async def writes(request: Request) -> Response:
    return JSONResponse(_sandbox(request).writes_received())


async def state(request: Request) -> Response:
    return JSONResponse(_sandbox(request).state())


async def reset(request: Request) -> Response:
    _sandbox(request).reset()
    return JSONResponse({"ok": True})


CONTROL_ROUTES = [
    Route("/_sandbox/counters", counters, methods=["GET"]),
    Route("/_sandbox/counters/reset", counters_reset, methods=["POST"]),
    Route("/_sandbox/faults", faults, methods=["GET", "POST"]),
    Route("/_sandbox/state", state, methods=["GET"]),
    Route("/_sandbox/writes", writes, methods=["GET"]),
    Route("/_sandbox/reset", reset, methods=["POST"]),
]
