"""The Mailcow stand-in as an ASGI app: the control routes and the API routes."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route

from azt3knet_pipeline.sandbox.mailcow.api import api_endpoint
from azt3knet_pipeline.sandbox.mailcow.config import MailcowSandboxConfig
from azt3knet_pipeline.sandbox.mailcow.control import CONTROL_ROUTES
from azt3knet_pipeline.sandbox.mailcow.faults import RAW_SEND_KEY
from azt3knet_pipeline.sandbox.mailcow.state import MailcowSandbox

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class _SandboxStarlette(Starlette):
    """Starlette that remembers the server's own `send` (needed to drop a connection on purpose)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") == "http":
            scope[RAW_SEND_KEY] = send
        await super().__call__(scope, receive, send)


def create_mailcow_app(config: MailcowSandboxConfig | None = None) -> Starlette:
    """The stand-in as an ASGI app; `app.state.sandbox` is the `MailcowSandbox` (state, counters, faults)."""
    config = (config or MailcowSandboxConfig()).model_copy(deep=True)
    routes = [
        *CONTROL_ROUTES,
        Route("/api/v1/{query:path}", api_endpoint, methods=ALL_METHODS),
        Route("/api/v1", api_endpoint, methods=ALL_METHODS),
    ]
    app = _SandboxStarlette(routes=routes)
    app.state.sandbox = MailcowSandbox(config)
    return app
