"""Mailcow admin REST API client (sync httpx, typed at the boundary, thread-safe).

Built to `docs/contracts/mailcow.md`, not to our stand-in. The rules that matter:

* HTTP != 200 is an error (401/403 -> `MailcowAuthError`, never retried: fail2ban bans IPs after repeated bad
  keys). On 200 the body is normalised to a list (a single object is a one-element list) and the call FAILED if
  any entry has `type` `danger` or `error`. The error key is `msg` when it is a string, else `msg[0]`.
* A write SUCCEEDED only when the reply holds a success entry naming each object (contract §7: a handler that
  throws answers HTTP 200 with an empty body and applies nothing). An empty body, `{}`, a generic
  "Task completed" or a list without such an entry is ambiguous: the client reads the object back and decides
  from what Mailcow lists (`MailcowAmbiguousReply` when the object is not in the expected state).
* Business errors come back as HTTP 200: `object_exists`/`domain_exists` -> `MailcowConflict` (the caller
  adopts), `access_denied` on add/mailbox -> `MailcowDomainMissing`, other danger/error ->
  `MailcowRequestError`.
* Every request goes through the shared `send_with_retry` (connect errors, timeouts, 429, 502/503/504). A
  POST whose response was lost may already be applied; a retried add answering `object_exists` therefore
  surfaces as `MailcowConflict` with `.retried = True`, and `delete_mailboxes` reports an already-gone
  address as "missing".
* Quotas go OUT in MiB and come BACK in bytes; the models convert them back to MiB.
* Exception messages never contain a password or the API key: request bodies are never included, and every
  known secret is scrubbed from server-provided text and entries.

Modules: `client` (`MailcowClient`), `transport` (connection, retries, counters, status mapping), `domains` and
`mailboxes` (endpoints), `envelope` (reading replies), `models` (typed objects, coercion), `scrub` (secrets).
The errors live in `azt3knet_pipeline.errors` (re-exported here, like httpx's).
"""

from azt3knet_pipeline.clients.mailcow.client import MailcowClient
from azt3knet_pipeline.clients.mailcow.envelope import MailcowResult, normalise_envelope
from azt3knet_pipeline.clients.mailcow.models import (
    DkimKey,
    DomainSpec,
    MailboxSpec,
    MailcowDomain,
    MailcowMailbox,
    bytes_to_mib,
)
from azt3knet_pipeline.errors import (
    MailcowAmbiguousReply,
    MailcowAuthError,
    MailcowConflict,
    MailcowDkimExists,
    MailcowDomainMissing,
    MailcowError,
    MailcowNotFound,
    MailcowRequestError,
    MailcowUnavailable,
)

__all__ = [
    "DkimKey",
    "DomainSpec",
    "MailboxSpec",
    "MailcowAmbiguousReply",
    "MailcowAuthError",
    "MailcowClient",
    "MailcowConflict",
    "MailcowDkimExists",
    "MailcowDomain",
    "MailcowDomainMissing",
    "MailcowError",
    "MailcowMailbox",
    "MailcowNotFound",
    "MailcowRequestError",
    "MailcowResult",
    "MailcowUnavailable",
    "bytes_to_mib",
    "normalise_envelope",
]
