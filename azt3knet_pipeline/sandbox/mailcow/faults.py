"""Fault injection for the Mailcow stand-in: which fault a request gets, what it looks like on the wire, and the
fail2ban emulation (bad keys from one IP -> that IP's connections dropped for a while)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from azt3knet_pipeline.sandbox.mailcow.config import FaultSettings, MailcowSandboxConfig

# The scope key under which the app keeps the server's own `send` (needed to drop a connection on purpose).
RAW_SEND_KEY = "azt3knet.raw_send"


def draw_fault(cfg: FaultSettings, rng: random.Random, action: str) -> str:
    """The next fault for a request of `action`: the scripted `fault_queue` first, then the seeded rates."""
    if action not in cfg.fault_actions:
        return "ok"
    if cfg.fault_queue:
        queue = list(cfg.fault_queue)
        fault = queue.pop(0)
        cfg.fault_queue = queue
        return "503" if fault == "error" else fault
    r = rng.random()
    fault = "ok"
    edge = 0.0
    for rate, kind in (
        (cfg.rate_429, "429"),
        (cfg.error_rate, "error"),
        (cfg.timeout_rate, "timeout"),
        (cfg.drop_rate, "drop"),
        (cfg.error_after_apply_rate, "error_after_apply"),
        (cfg.empty_200_rate, "empty_200"),
    ):
        edge += rate
        if r < edge:
            fault = kind
            break
    if fault == "error":
        return rng.choice(["502", "503"])
    if fault in ("timeout", "drop"):
        mode = cfg.timeout_applies if fault == "timeout" else cfg.drop_applies
        if mode == "always" or (mode == "random" and rng.random() < 0.5):
            fault += "_after_apply"
    return fault


class BanList:
    """fail2ban as Mailcow configures it: `ban_after_failures` bad keys within `ban_window_seconds` ban the IP
    for `ban_seconds`. Not thread-safe on its own (the stand-in holds its lock)."""

    def __init__(self) -> None:
        self._failures: dict[str, list[float]] = {}
        self._banned_until: dict[str, float] = {}

    def is_banned(self, ip: str) -> bool:
        until = self._banned_until.get(ip)
        if until is None:
            return False
        if time.monotonic() >= until:
            del self._banned_until[ip]
            return False
        return True

    def failure(self, ip: str, cfg: MailcowSandboxConfig) -> None:
        limit = cfg.ban_after_failures
        if limit is None:
            return
        now = time.monotonic()
        recent = [t for t in self._failures.get(ip, []) if now - t < cfg.ban_window_seconds]
        recent.append(now)
        self._failures[ip] = recent
        if len(recent) >= limit:
            self._banned_until[ip] = now + cfg.ban_seconds
            self._failures[ip] = []


def abort_connection(request: Request) -> Response:
    """Close the TCP connection without any response.

    uvicorn hands the ASGI app a bound `RequestResponseCycle.send`; its `transport` is aborted and the cycle
    marked disconnected so uvicorn does not write its own 500. On other servers we fall back to a response
    whose body is cut short (headers sent, then the connection closes): the client still gets no usable reply.
    """
    raw_send = request.scope.get(RAW_SEND_KEY)
    cycle = getattr(raw_send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None and hasattr(cycle, "disconnected"):
        transport.abort()
        cycle.disconnected = True  # type: ignore[union-attr]
        return Response(status_code=200)  # swallowed: sends on a disconnected cycle are no-ops

    async def broken() -> AsyncIterator[bytes]:
        yield b"["
        raise ConnectionAbortedError("sandbox: injected dropped connection")

    return StreamingResponse(broken(), media_type="application/json")


async def wait_or_disconnect(request: Request, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await request.is_disconnected():
            return
        await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


def injected(status: int) -> Response:
    return Response(f"{status} injected by the sandbox\n", status_code=status, media_type="text/plain")


async def before_apply(fault: str, request: Request, cfg: MailcowSandboxConfig) -> Response | None:
    """The answer of a fault that strikes before the request is applied (None: apply it)."""
    if fault == "empty_200":
        return Response(b"", status_code=200)  # a crashed handler: nothing applied, empty body
    if fault == "429":
        return Response(
            "429 Too Many Requests\n",
            status_code=429,
            headers={"Retry-After": str(cfg.retry_after_seconds)},
            media_type="text/plain",
        )
    if fault in ("502", "503", "504"):
        return injected(int(fault))
    if fault == "drop":
        return abort_connection(request)
    if fault == "timeout":
        await wait_or_disconnect(request, cfg.timeout_seconds)
        return injected(504)
    return None


async def after_apply(fault: str, request: Request, cfg: MailcowSandboxConfig, response: Response) -> Response:
    """The answer of a request that was applied: `response`, unless a fault loses it."""
    if fault == "error_after_apply":
        return injected(503)
    if fault == "drop_after_apply":
        return abort_connection(request)
    if fault == "timeout_after_apply":
        await wait_or_disconnect(request, cfg.timeout_seconds)
    return response
