"""Admin authentication: one bearer token (`AZT3KNET_ADMIN_TOKEN`), compared in constant time; never open."""

from __future__ import annotations

import hmac

from azt3knet_pipeline.settings import Settings

MIN_TOKEN_LENGTH = 16
# Query parameters that carry credentials in other APIs: never accepted here, since URLs end up in logs,
# proxies and browser histories. The token goes only in the Authorization header.
TOKEN_QUERY_PARAMETERS = frozenset(
    {"token", "access_token", "auth", "authorization", "bearer", "api_key", "apikey", "admin_token"}
)


class AdminTokenError(RuntimeError):
    """The server must not start: no usable admin token is configured. The message never echoes the token."""


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
