"""A local Mailcow stand-in (ASGI, Starlette) reproducing `docs/contracts/mailcow.md`, quirks included.

What it reproduces: the `/api/v1/{action}/{category}[/{object}[/{extra}]]` routing with 404/405/400, the
`Sec-Fetch-Dest` 403, API-key auth (characters outside `[a-zA-Z0-9-]` stripped, rw/ro keys, IP allow list,
single-object 401 bodies, the no-header behaviours), the list envelope with `log` entries (passwords masked as
"*"), business errors as HTTP 200 `danger` entries in the contract's validation order, `{}` for empty results,
quotas in MiB in and bytes out, DKIM generation on add/domain (real RSA keys, generated lazily on first read),
add/dkim with a string `domains`, non-idempotent delete/mailbox, idempotent delete/dkim, `domain_not_empty`,
tag filters (Mailcow's `LIKE '%tag%'` substring semantics), the password policy.

Fault injection (for proving that clients converge): 502/503 before applying, 503 after applying (the
response is lost), slow answers (client timeouts) applied or not, dropped connections (the TCP connection is
aborted without any response), 429 with `Retry-After`, a scripted `fault_queue`, all seeded.

Control routes, no auth, under `/_sandbox/`: counters, faults, writes, state, reset; the same control API in
Python on `app.state.sandbox` (`MailcowSandbox`: `counters()`, `state()`, `faults()`, `set_faults()`, ...).

Not reproduced: categories other than domain/mailbox/dkim/passwordpolicy (they answer 404), aliases and alias
domains as API objects (only the self-alias bookkeeping), sessions/UI, SOGo, rate-limit objects beyond echoing
`rl_saved`, app passwords. Passwords are stored as salted SHA-256 (`{SSHA256}`, as Mailcow does) and are
never returned by any route.

Modules: `config` (settings, fault rates, quirk switches), `state` (state, persistence, control API), `faults`
(fault drawing, fail2ban, faults on the wire), `php` (PHP semantics), `passwords`, `domains`, `mailboxes`, `dkim`
(the handlers), `api` (routing and body decoding), `control` (`/_sandbox/` routes), `app`.
"""

from azt3knet_pipeline.sandbox.mailcow.app import create_mailcow_app
from azt3knet_pipeline.sandbox.mailcow.config import FaultSettings, MailcowSandboxConfig, PasswordPolicy
from azt3knet_pipeline.sandbox.mailcow.dkim import generate_dkim_key
from azt3knet_pipeline.sandbox.mailcow.passwords import hash_password, verify_password
from azt3knet_pipeline.sandbox.mailcow.state import MailcowSandbox

__all__ = [
    "FaultSettings",
    "MailcowSandbox",
    "MailcowSandboxConfig",
    "PasswordPolicy",
    "create_mailcow_app",
    "generate_dkim_key",
    "hash_password",
    "verify_password",
]
