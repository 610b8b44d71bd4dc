"""The one error tree of azt3knet: every exception the package raises on purpose is defined here.

```
Azt3knetError                          exit 1   HTTP 500 internal
├── ConfigurationError (ValueError)    exit 2   HTTP 503 misconfigured   a required setting is missing or invalid
│   ├── KeyConfigError                                                  SECRET_KEY_FOR_KV_ENC missing or malformed
│   └── AdminTokenError                                                 AZT3KNET_ADMIN_TOKEN missing or too short
├── UsageError (ValueError)            exit 2   HTTP 422 invalid         a request that cannot be carried out
│   ├── UnsafePathError                                                 a path we refuse to write
│   └── NothingToVerify                                                 no active mailbox of record
├── ApiError                           exit 1   HTTP 502 upstream_error  an external service failed
│   ├── RetriesExhausted                                                the retry policy gave up
│   ├── MailcowError
│   │   ├── MailcowAuthError
│   │   ├── MailcowConflict
│   │   │   └── MailcowDkimExists (also a MailcowRequestError)
│   │   ├── MailcowNotFound
│   │   │   └── MailcowDomainMissing
│   │   ├── MailcowRequestError
│   │   │   └── MailcowAmbiguousReply
│   │   └── MailcowUnavailable (also a RetriesExhausted)
│   ├── DesecError
│   │   ├── DesecAuthError
│   │   ├── DesecNotFound
│   │   ├── DesecValidationError
│   │   ├── DesecThrottled (also a RetriesExhausted)                    the caller defers the write
│   │   ├── DesecUnavailable (also a RetriesExhausted)
│   │   └── DesecPaginationError
│   ├── MailError                                                       IMAP / SMTP
│   │   └── MailProbeError
│   └── LLMError
│       ├── LLMUnavailable
│       └── LLMResponseError
├── StoreError                         exit 1   HTTP 500 internal        the project database
│   ├── PopulationNotFound             exit 2   HTTP 404 not_found
│   ├── PopulationConflict             exit 2   HTTP 409 conflict
│   ├── DecryptionError (ValueError)   exit 2   HTTP 503 misconfigured   no configured key decrypts a ciphertext
│   └── KeyRotationError (ValueError)  exit 2   HTTP 503 misconfigured   a rotation that changed nothing
├── ReconcileError                     exit 1   HTTP 500 internal        a run converged only partly
│   ├── MailboxReconcileError
│   │   └── DomainNotOwned
│   └── TeardownFailed (RuntimeError)                                   the teardown run failed
└── ApiProblem                         exit 1   HTTP per instance        an answer of our own REST API
```

Each class states its CLI exit code (`exit_code`), its HTTP status (`http_status`) and the `error` word of the
API's error body (`http_error`); the CLI (`cli/common.py` `handle_errors`) and the API (`api/errors.py` exception
handlers) read these attributes instead of keeping their own lists. Exceptions from outside the tree keep their
meaning there: a `ValueError` (pydantic's `ValidationError` included) is bad input, exit 2; anything else exit 1,
HTTP 500. Classes that were `ValueError`s before the tree existed still are, so `except ValueError` keeps working.

A reconcile that converged only partly is a `ReconcileError`, not an `ApiError`: Mailcow answered, the run failed.
Messages never contain a password, an API key or `SECRET_KEY_FOR_KV_ENC`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported everywhere, so it imports nothing at run time
    from pydantic import ValidationError

    from azt3knet_pipeline.domain.dns import RRset

BAD_INPUT_EXIT = 2
FAILURE_EXIT = 1


class Azt3knetError(Exception):
    """Root of the tree. `exit_code` / `http_status` / `http_error` say how the CLI and the API report it."""

    exit_code: int = FAILURE_EXIT
    http_status: int = 500
    http_error: str = "internal"


def exit_code(exc: BaseException) -> int:
    """The CLI exit code of any exception: the tree's own, 2 for other bad input (`ValueError`), else 1."""
    if isinstance(exc, Azt3knetError):
        return exc.exit_code
    return BAD_INPUT_EXIT if isinstance(exc, ValueError) else FAILURE_EXIT


def describe_validation_error(exc: ValidationError) -> str:
    """`field: rule; field: rule` — one line, naming each field and the rule it broke (CLI exit 2, API 422,
    Dagster failures)."""
    parts = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "__root__") or "spec"
        message = error.get("msg", "invalid").removeprefix("Value error, ")
        parts.append(f"{location}: {message}")
    return "; ".join(parts)


# -- configuration ---------------------------------------------------------------------------------------------


class ConfigurationError(Azt3knetError, ValueError):
    """A required setting is missing or invalid; the message names the environment variable."""

    exit_code = BAD_INPUT_EXIT
    http_status = 503
    http_error = "misconfigured"


class KeyConfigError(ConfigurationError):
    """`SECRET_KEY_FOR_KV_ENC` is missing or malformed. The message never echoes the key material."""


class AdminTokenError(ConfigurationError):
    """The API must not start: no usable admin token is configured. The message never echoes the token."""


# -- usage -------------------------------------------------------------------------------------------------------


class UsageError(Azt3knetError, ValueError):
    """A request that cannot be carried out as asked; the message says why, in one line."""

    exit_code = BAD_INPUT_EXIT
    http_status = 422
    http_error = "invalid"


class UnsafePathError(UsageError):
    """A path we refuse to write: a link, a special file, a folder, an existing file without consent, ..."""


class NothingToVerify(UsageError):
    """The population has no active mailbox of record (never provisioned, or torn down)."""


# -- external APIs -----------------------------------------------------------------------------------------------


class ApiError(Azt3knetError):
    """Base of every external-API error. Subclassed once per API (MailcowError, DesecError, ...)."""

    http_status = 502
    http_error = "upstream_error"

    def __init__(self, message: str, *, status: int | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.key = key


class RetriesExhausted(ApiError):
    """The retry policy gave up: attempts or total time used up on transient failures."""


class MailcowError(ApiError):
    """Base of every Mailcow error. `key` is the msg key, `entries` the (secret-scrubbed) envelope entries."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        key: str | None = None,
        entries: Sequence[Mapping[str, Any]] | None = None,
        retried: bool = False,
    ) -> None:
        super().__init__(message, status=status, key=key)
        self.entries: list[dict[str, Any]] = [dict(e) for e in (entries or [])]
        self.retried = retried


class MailcowAuthError(MailcowError):
    """401/403: bad or inactive key, IP not allowed, read-only key on a write. Never retried."""


class MailcowConflict(MailcowError):
    """`object_exists` / `domain_exists` (and an existing DKIM key on add/dkim): the caller can adopt.

    `retried` is True when the request had been sent more than once, i.e. the object may be our own earlier
    attempt whose response was lost.
    """


class MailcowNotFound(MailcowError):
    """The object an edit addressed does not exist (Mailcow answers `access_denied`)."""


class MailcowDomainMissing(MailcowNotFound):
    """`access_denied` on add/mailbox, add/dkim or edit/domain: the domain does not exist."""


class MailcowRequestError(MailcowError):
    """Any other failure entry (HTTP 200 danger/error) or a 400/404/405: `.key` is the msg key."""


class MailcowAmbiguousReply(MailcowRequestError):
    """A write answered without a success entry for its object (empty body, `{}`, "Task completed"), and the
    read-back shows it was not applied. `.key` is `"ambiguous_reply"`."""


class MailcowDkimExists(MailcowConflict, MailcowRequestError):
    """add/dkim for a domain that already has a key. Mailcow reports it as `dkim_domain_or_sel_invalid` (also
    used for a bad selector); the client confirms with one read. Both a conflict and a request error, so
    `except MailcowRequestError` checking `.key == "dkim_domain_or_sel_invalid"` keeps working."""


class MailcowUnavailable(MailcowError, RetriesExhausted):
    """The retry policy gave up on transient failures (also a `RetriesExhausted`)."""


class DesecError(ApiError):
    """Any deSEC failure. `detail` is the decoded response body (JSON or text), when there was one."""

    def __init__(self, message: str, *, status: int | None = None, key: str | None = None, detail: Any = None) -> None:
        super().__init__(message, status=status, key=key)
        self.detail = detail


class DesecAuthError(DesecError):
    """401 (bad or missing token), or 403 "Insufficient token permissions." (a token policy forbids it)."""


class DesecNotFound(DesecError):
    """404: the domain is not yours (or does not exist), or the rrset does not exist."""


class DesecValidationError(DesecError):
    """400. `item_errors` pairs each rejected item (the RRset or dict you sent) with its error dict; for a
    bulk request the server's list is aligned with the input and `{}` entries (valid items) are left out.
    `errors` holds messages that belong to no single item (a top-level list of strings, a request dict)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = 400,
        key: str | None = None,
        detail: Any = None,
        item_errors: list[tuple[RRset | dict[str, Any], dict[str, Any]]] | None = None,
        errors: list[str] | None = None,
    ) -> None:
        super().__init__(message, status=status, key=key, detail=detail)
        self.item_errors = item_errors or []
        self.errors = errors or []


class DesecThrottled(DesecError, RetriesExhausted):
    """429 still answered after the retry policy gave up, or asking a wait above `max_retry_after` (deSEC's hour
    and day buckets, or the user's 2000 requests/day): the client never sleeps that long, the caller defers.
    `retry_after` is deSEC's wait in seconds (None when the reply did not say)."""

    def __init__(self, message: str, *, retry_after: float | None, key: str | None = None, detail: Any = None):
        super().__init__(message, status=429, key=key, detail=detail)
        self.retry_after = retry_after


class DesecUnavailable(DesecError, RetriesExhausted):
    """Transient failures (connection errors, timeouts, 502/503/504) outlasted the retry policy."""


class DesecPaginationError(DesecError):
    """The cursor pagination could not be followed (no link, a loop, a page that is not a list)."""


class MailError(ApiError):
    """Base of IMAP/SMTP errors (mail probes are never retried: servers ban after refused logins)."""


class MailProbeError(MailError):
    """A probe failed. `reason` is one of `clients.mail.REASONS`; `detail` is a short server/OS explanation
    (never a secret)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class LLMError(ApiError):
    """Base of every LLM adapter error."""


class LLMUnavailable(LLMError):
    """The model server cannot be reached, timed out, or stayed busy after the retry policy gave up."""


class LLMResponseError(LLMError):
    """The model server answered, but not usefully: bad status, unknown model, malformed or empty body."""


# -- the project database ----------------------------------------------------------------------------------------


class StoreError(Azt3knetError):
    """Base of store errors."""


class PopulationNotFound(StoreError):
    """No population is registered under this key."""

    exit_code = BAD_INPUT_EXIT
    http_status = 404
    http_error = "not_found"


class PopulationConflict(StoreError):
    """A different spec is already registered under this key."""

    exit_code = BAD_INPUT_EXIT
    http_status = 409
    http_error = "conflict"


class DecryptionError(StoreError, ValueError):
    """A ciphertext could not be decrypted with any configured key."""

    exit_code = BAD_INPUT_EXIT
    http_status = 503
    http_error = "misconfigured"


class KeyRotationError(StoreError, ValueError):
    """The rotation did not happen. The message says that nothing changed and names what could not be read."""

    exit_code = BAD_INPUT_EXIT
    http_status = 503
    http_error = "misconfigured"


# -- reconcile ---------------------------------------------------------------------------------------------------


class ReconcileError(Azt3knetError):
    """A run could not converge everything it planned; a re-run picks up where it stopped."""


class MailboxReconcileError(ReconcileError):
    """Some mailboxes could not be converged; the run fails and a re-run picks up where it stopped."""


class DomainNotOwned(MailboxReconcileError):
    """The population's mail domain exists on Mailcow but azt3knet did not create it: nothing was written."""


class TeardownFailed(ReconcileError, RuntimeError):
    """The teardown run failed; the message is its cause in one line (nothing is written after a failed read)."""


# -- our own REST API --------------------------------------------------------------------------------------------


class ApiProblem(Azt3knetError):
    """An answer of the REST API other than success: `{"error": error, "detail": detail}` with `status`."""

    def __init__(self, status: int, error: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers
        self.http_status = status
        self.http_error = error
