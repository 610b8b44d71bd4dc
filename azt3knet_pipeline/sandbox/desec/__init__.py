"""A local deSEC stand-in (Starlette ASGI app) that behaves like `docs/contracts/desec.md`, quirks included.

Reproduced: token auth and its 401 bodies; domains (list/create/get/delete, PATCH 405); rrsets with deSEC's
field rules and exact messages, single and bulk (atomic, 400 list aligned with the input, `{}` for valid
items), CNAME exclusivity, canonical record presentation (names lowercased, TXT split at 255 bytes); cursor
pagination (400 + `Link: rel="first"` above the page size); DRF-style sliding-window throttles per scope
(429 + `Retry-After`, long past the hour/day buckets); the dynDNS update endpoint (TTL 60); fault injection;
optional JSON state file.

State is exposed as `app.state.sandbox` (a `DesecSandbox`: `counters()`, `state()`, `set_faults()`, ...), and over HTTP
under `/_sandbox/` (no auth). The throttle clock is injectable (`create_desec_app(clock=...)`) and can be moved
forward (`advance_clock`, `POST /_sandbox/clock {"advance": 3600}`), and a bucket window can be used up
(`spend_throttle`, `POST /_sandbox/throttle/spend`), so a test can meet deSEC's hour and day limits and let an
hour pass without sleeping.

Modules: `config` (settings, constants, messages), `models` (stored objects, JSON shapes, replies), `state`
(state, persistence, control API), `throttle`, `pagination`, `records` (canonical presentation), `validation`
(rrset serializer), `api` (the shared request pipeline), `domains`, `rrsets`, `dyndns` (the routes), `control`
(`/_sandbox/` routes), `app`.
"""

from azt3knet_pipeline.sandbox.desec.app import create_desec_app
from azt3knet_pipeline.sandbox.desec.config import (
    DEFAULT_THROTTLE_RATES,
    DEFAULT_TOKEN,
    SANDBOX_ACCOUNT,
    DesecSandboxConfig,
    SandboxDomain,
    parse_rate,
)
from azt3knet_pipeline.sandbox.desec.records import canonical_record
from azt3knet_pipeline.sandbox.desec.state import DesecSandbox

__all__ = [
    "DEFAULT_THROTTLE_RATES",
    "DEFAULT_TOKEN",
    "SANDBOX_ACCOUNT",
    "DesecSandbox",
    "DesecSandboxConfig",
    "SandboxDomain",
    "canonical_record",
    "create_desec_app",
    "parse_rate",
]
