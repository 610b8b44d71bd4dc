"""The deSEC stand-in as an ASGI app: the API routes, the dynDNS endpoint and the control routes."""

from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from azt3knet_pipeline.sandbox.desec import domains, rrsets
from azt3knet_pipeline.sandbox.desec.api import endpoint
from azt3knet_pipeline.sandbox.desec.config import ALL_METHODS, DesecSandboxConfig
from azt3knet_pipeline.sandbox.desec.control import CONTROL_ROUTES
from azt3knet_pipeline.sandbox.desec.dyndns import dyndns
from azt3knet_pipeline.sandbox.desec.models import json_response
from azt3knet_pipeline.sandbox.desec.state import DesecSandbox

DYNDNS_PATHS = ("/api/v1/dyndns/update", "/api/v1/dyndns/update/", "/update", "/nic/update")


async def _not_found(request: Request, exc: Exception) -> Response:
    return json_response({"detail": "Not found."}, 404)


def create_desec_app(
    config: DesecSandboxConfig | None = None, *, clock: Callable[[], float] | None = None
) -> Starlette:
    """The deSEC stand-in as an ASGI app; `app.state.sandbox` is its `DesecSandbox`."""
    sb = DesecSandbox(config or DesecSandboxConfig(), clock=clock)
    routes = [
        Route("/api/v1/domains/", endpoint(sb, "domains", domains.domains), methods=ALL_METHODS),
        Route("/api/v1/domains/{name}/", endpoint(sb, "domain", domains.domain, per_domain=True), methods=ALL_METHODS),
        Route(
            "/api/v1/domains/{name}/rrsets/",
            endpoint(sb, "rrsets", rrsets.rrsets, per_domain=True),
            methods=ALL_METHODS,
        ),
        Route(
            "/api/v1/domains/{name}/rrsets/{subname}/{type}/",
            endpoint(sb, "rrset", rrsets.rrset, per_domain=True),
            methods=ALL_METHODS,
        ),
        *(Route(path, dyndns, methods=["GET"]) for path in DYNDNS_PATHS),
        *CONTROL_ROUTES,
    ]
    app = Starlette(routes=routes, exception_handlers={404: _not_found})
    app.router.redirect_slashes = False
    app.state.sandbox = sb
    return app
