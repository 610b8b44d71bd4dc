"""Admin authentication: one bearer token (`AZT3KNET_ADMIN_TOKEN`), compared in constant time; never open.

Every route but `GET /healthz` needs the token, checked twice: by the middleware before routing and body parsing
(so an unauthenticated client learns nothing but 401, not even which paths exist), and by the `require_admin`
dependency that declares the bearer scheme in the OpenAPI document.
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from azt3knet_pipeline.api.errors import error_response
from azt3knet_pipeline.errors import AdminTokenError, ApiProblem
from azt3knet_pipeline.settings import Settings

if TYPE_CHECKING:
    from azt3knet_pipeline.api.context import ApiContext

log = logging.getLogger("azt3knet_pipeline.api")

MIN_TOKEN_LENGTH = 16
# Query parameters that carry credentials in other APIs: never accepted here, since URLs end up in logs,
# proxies and browser histories. The token goes only in the Authorization header.
TOKEN_QUERY_PARAMETERS = frozenset(
    {"token", "access_token", "auth", "authorization", "bearer", "api_key", "apikey", "admin_token"}
)
UNAUTHORIZED = "missing or invalid bearer token"
CHALLENGE = {"WWW-Authenticate": "Bearer"}


def admin_token(settings: Settings) -> str:
    """The configured token, or AdminTokenError with what to do. There is no unauthenticated mode."""
    raw = settings.admin_token.get_secret_value().strip() if settings.admin_token is not None else ""
    if not raw:
        raise AdminTokenError(
            "AZT3KNET_ADMIN_TOKEN is not set: refusing to start the API without authentication. "
            "Generate one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'` and export it."
        )
    if len(raw) < MIN_TOKEN_LENGTH:
        raise AdminTokenError(
            f"AZT3KNET_ADMIN_TOKEN is too short ({len(raw)} characters, at least {MIN_TOKEN_LENGTH}): "
            "refusing to start the API. Use `python -c 'import secrets; print(secrets.token_urlsafe(32))'`."
        )
    return raw


class TokenChecker:
    """Holds the token as bytes and answers whether a presented one matches, in constant time."""

    def __init__(self, token: str) -> None:
        self._token = token.encode("utf-8")

    def matches(self, presented: str | None) -> bool:
        if presented is None:
            return False
        # compare_digest takes time independent of where the inputs differ (length differences leak only
        # the length, which the minimum-length rule makes useless).
        return hmac.compare_digest(presented.encode("utf-8", "surrogateescape"), self._token)


def token_in_query(params: list[tuple[str, str]], tokens: TokenChecker) -> bool:
    """Whether the query string carries a credential: a token-like parameter name, or the admin token itself
    as any parameter's value."""
    return any(name.lower() in TOKEN_QUERY_PARAMETERS or tokens.matches(value) for name, value in params)


def presented_token(authorization: str | None) -> str | None:
    scheme, _, credentials = (authorization or "").partition(" ")
    credentials = credentials.strip()
    return credentials if scheme.lower() == "bearer" and credentials else None


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def reject(ctx: ApiContext, request: Request, presented: str | None, reason: str | None = None) -> JSONResponse:
    """Audit-log a failed authentication (never the presented token, never the query string) and answer 401.
    Blocking: call it from a worker thread."""
    reason = reason or ("missing" if presented is None else "invalid")
    client = client_ip(request)
    try:
        ctx.store().audit("api", "auth.failed", request.url.path, "denied", {"client": client, "reason": reason})
    except Exception:
        log.exception("could not audit-log a failed authentication")
    log.warning("authentication failed (%s token) for %s from %s", reason, request.url.path, client)
    return error_response(401, "unauthorized", UNAUTHORIZED, headers=CHALLENGE)


bearer = HTTPBearer(auto_error=False, description="AZT3KNET_ADMIN_TOKEN", scheme_name="AdminToken")


def require_admin(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]
) -> None:
    """Declares the bearer scheme in the OpenAPI document and checks again (the middleware checked first)."""
    ctx: ApiContext | None = getattr(request.app.state, "ctx", None)
    if ctx is None:  # served without its lifespan: fail closed (as the `context` dependency does)
        raise ApiProblem(503, "misconfigured", "the API was started without its lifespan (use `azt3knet api serve`)")
    presented = credentials.credentials if credentials is not None else None
    if not ctx.tokens.matches(presented):
        raise ApiProblem(401, "unauthorized", UNAUTHORIZED, headers=CHALLENGE)


def install_authentication(app: FastAPI) -> None:
    """The middleware: everything but GET /healthz needs the token (unknown paths and malformed bodies included)."""

    @app.middleware("http")
    async def authenticate(request: Request, call_next: Any) -> Any:
        if request.method == "GET" and request.url.path == "/healthz":
            return await call_next(request)
        ctx: ApiContext | None = getattr(request.app.state, "ctx", None)
        if ctx is None:
            return error_response(503, "misconfigured", "the API was started without its lifespan")
        presented = presented_token(request.headers.get("authorization"))
        if token_in_query(request.query_params.multi_items(), ctx.tokens):
            # Even with a valid header: a token in a URL has already leaked into logs and histories.
            return await run_in_threadpool(reject, ctx, request, presented, "token_in_query")
        if ctx.tokens.matches(presented):
            return await call_next(request)
        return await run_in_threadpool(reject, ctx, request, presented)
