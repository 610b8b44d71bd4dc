"""deSEC DNS REST API client (sync httpx, thread-safe), built to `docs/contracts/desec.md`.

Every request goes through the shared retry policy (`clients.http`), so 429 `Retry-After` and 502/503/504 are
handled in one place; 401/403 are never retried. The token is sent only to the configured origin (pagination
links are re-rooted on it) and never appears in an error message or a log line.

Modules: `client` (`DesecClient`: transport, pagination, domains, rrsets, dynDNS), `responses` (bodies, DRF error
shapes, throttle waits, status -> error), `models` (domains, rrset parsing and request items). The errors live in
`azt3knet_pipeline.errors` (re-exported here, like httpx's).
"""

from azt3knet_pipeline.clients.desec.client import (
    DEFAULT_BASE_URL,
    DEFAULT_POLICY,
    MAX_PAGES,
    DesecClient,
    client_policy,
)
from azt3knet_pipeline.clients.desec.models import DesecDomain
from azt3knet_pipeline.clients.desec.responses import throttle_wait
from azt3knet_pipeline.errors import (
    DesecAuthError,
    DesecError,
    DesecNotFound,
    DesecPaginationError,
    DesecThrottled,
    DesecUnavailable,
    DesecValidationError,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_POLICY",
    "MAX_PAGES",
    "DesecAuthError",
    "DesecClient",
    "DesecDomain",
    "DesecError",
    "DesecNotFound",
    "DesecPaginationError",
    "DesecThrottled",
    "DesecUnavailable",
    "DesecValidationError",
    "client_policy",
    "throttle_wait",
]
