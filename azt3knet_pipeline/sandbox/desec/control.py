"""The control routes under `/_sandbox/` (no auth): counters, faults, state, reset, throttles and their clock."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from azt3knet_pipeline.sandbox.desec.config import FAULT_FIELDS
from azt3knet_pipeline.sandbox.desec.models import json_response
from azt3knet_pipeline.sandbox.desec.state import DesecSandbox


def _sandbox(request: Request) -> DesecSandbox:
    return request.app.state.sandbox  # type: ignore[no-any-return]


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    data = json.loads(raw) if raw.strip() else {}
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


async def counters(request: Request) -> Response:
    return json_response(_sandbox(request).counters())


async def counters_reset(request: Request) -> Response:
    _sandbox(request).reset_counters()
    return json_response({"ok": True})


async def faults(request: Request) -> Response:
    """GET: the fault settings in force (as on the Mailcow stand-in); POST: change them."""
    if request.method == "GET":
        return json_response(_sandbox(request).faults())
    data = await _body(request)
    unknown = set(data) - set(FAULT_FIELDS)
    if unknown:
        return json_response({"detail": f"unknown fault settings: {sorted(unknown)}"}, 400)
    try:
        return json_response(_sandbox(request).set_faults(**data))
    except ValueError as exc:
        return json_response({"detail": str(exc)}, 400)


async def state(request: Request) -> Response:
    return json_response(_sandbox(request).state())


async def reset(request: Request) -> Response:
    _sandbox(request).reset()
    return json_response({"ok": True})


async def clock(request: Request) -> Response:
    data = await _body(request)
    try:
        total = _sandbox(request).advance_clock(float(data.get("advance", 0)))
    except (TypeError, ValueError) as exc:
        return json_response({"detail": str(exc)}, 400)
    return json_response({"advanced": total})


async def throttle_spend(request: Request) -> Response:
    data = await _body(request)
    try:
        recorded = _sandbox(request).spend_throttle(str(data["scope"]), str(data["bucket"]), str(data["window"]))
    except (KeyError, ValueError) as exc:
        return json_response({"detail": f"need scope, bucket and window: {exc}"}, 400)
    return json_response({"recorded": recorded})


async def throttle(request: Request) -> Response:
    sb = _sandbox(request)
    data = await _body(request)
    try:
        sb.set_throttle(enabled=data.get("enabled"), rates=data.get("rates"), clear=data.get("clear", True))
    except ValueError as exc:
        return json_response({"detail": str(exc)}, 400)
    return json_response({"enabled": sb.config.throttle_enabled, "rates": sb.config.throttle_rates})


CONTROL_ROUTES = [
    Route("/_sandbox/counters", counters, methods=["GET"]),
    Route("/_sandbox/counters/reset", counters_reset, methods=["POST"]),
    Route("/_sandbox/faults", faults, methods=["GET", "POST"]),
    Route("/_sandbox/state", state, methods=["GET"]),
    Route("/_sandbox/reset", reset, methods=["POST"]),
    Route("/_sandbox/throttle", throttle, methods=["POST"]),
    Route("/_sandbox/throttle/spend", throttle_spend, methods=["POST"]),
    Route("/_sandbox/clock", clock, methods=["POST"]),
]
