"""Reading Mailcow's reply envelopes (contract sections 3 and 7).

HTTP 200 does not mean success: the body is normalised to a list of entries and the call FAILED if any entry has
`type` `danger` or `error` (the msg key is `msg` when it is a string, else `msg[0]`). A write SUCCEEDED only when
a success entry names its object; anything else (empty body, `{}`, "Task completed") is ambiguous and the caller
reads the object back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from azt3knet_pipeline.errors import MailcowAmbiguousReply, MailcowConflict, MailcowError, MailcowRequestError

FAILURE_TYPES = frozenset({"danger", "error"})
E = TypeVar("E", bound=MailcowError)


def msg_key(entry: Mapping[str, Any]) -> tuple[str | None, list[Any]]:
    """An entry's msg key and its arguments: `msg` when it is a string, else `msg[0]` and the rest."""
    msg = entry.get("msg")
    if isinstance(msg, list):
        if not msg:
            return None, []
        return (str(msg[0]) if msg[0] is not None else None), list(msg[1:])
    if msg is None:
        return None, []
    return str(msg), []


def normalise_envelope(body: Any) -> list[dict[str, Any]]:
    """Contract section 3: empty body / `{}` -> [], single object -> [obj], list -> its dict entries."""
    if body is None or body == "":
        return []
    if isinstance(body, dict):
        return [body] if body else []
    if isinstance(body, list):
        return [e for e in body if isinstance(e, dict)]
    return []


def is_failure(entry: Mapping[str, Any]) -> bool:
    """Whether an entry reports a failure (`type` `danger` or `error`)."""
    return str(entry.get("type", "")).lower() in FAILURE_TYPES


def describe(entries: Sequence[Mapping[str, Any]], limit: int = 5) -> str:
    """A short, secret-free rendering of failure entries: their msg only, never `log` (request data)."""
    parts = []
    for entry in entries[:limit]:
        msg = entry.get("msg")
        parts.append(json.dumps(msg, ensure_ascii=False, default=str)[:200])
    more = f" (+{len(entries) - limit} more)" if len(entries) > limit else ""
    return ", ".join(parts) + more


@dataclass
class MailcowResult:
    """Outcome of a successful write: the (secret-scrubbed) envelope entries and how many attempts it took."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 1
    # True when the reply was ambiguous and the outcome was confirmed by reading the object back.
    verified_by_read: bool = False

    @property
    def keys(self) -> list[str]:
        return [k for k in (msg_key(e)[0] for e in self.entries) if k]

    def has(self, key: str) -> bool:
        return key in self.keys


@dataclass
class Reply:
    """One answered request: its status, (scrubbed) entries, attempts, the secrets it carried and its name."""

    status: int
    entries: list[dict[str, Any]]
    attempts: int
    secrets: frozenset[str]
    what: str

    @property
    def retried(self) -> bool:
        return self.attempts > 1

    def error(self, cls: type[E], detail: str, *, key: str | None) -> E:
        """A `cls` error about this reply: what was asked, `detail`, and the reply's status, entries and retries."""
        return cls(f"{self.what}: {detail}", status=self.status, key=key, entries=self.entries, retried=self.retried)


def failure_entries(reply: Reply) -> list[dict[str, Any]]:
    """The entries of `reply` that report a failure (`danger` / `error`)."""
    return [e for e in reply.entries if is_failure(e)]


def raise_for(
    reply: Reply,
    *,
    access_denied: type[MailcowError] = MailcowRequestError,
    conflict_keys: Iterable[str] = ("object_exists", "domain_exists"),
) -> None:
    """Raise the error the first failure entry means: a conflict key -> MailcowConflict, `access_denied` ->
    `access_denied` (what it means depends on the call), anything else -> MailcowRequestError."""
    failures = failure_entries(reply)
    if not failures:
        return
    key, _args = msg_key(failures[0])
    conflict_keys = frozenset(conflict_keys)
    cls: type[MailcowError]
    if key in conflict_keys:
        cls = MailcowConflict
    elif key == "access_denied":
        cls = access_denied
    else:
        cls = MailcowRequestError
    raise reply.error(cls, describe(failures), key=key)


def result_of(reply: Reply, *, verified_by_read: bool = False) -> MailcowResult:
    """The outcome of a successful write."""
    return MailcowResult(entries=reply.entries, attempts=reply.attempts, verified_by_read=verified_by_read)


def confirmed(reply: Reply, keys: Iterable[str], name: str) -> bool:
    """Whether the reply holds a success entry `[<one of keys>, <name>, ...]` for this object."""
    wanted = frozenset(keys)
    for entry in reply.entries:
        if str(entry.get("type", "")).lower() != "success":
            continue
        key, args = msg_key(entry)
        if key in wanted and args and str(args[0]).strip().lower() == name:
            return True
    return False


def ambiguous(reply: Reply, name: str, finding: str) -> MailcowAmbiguousReply:
    """The error for a write whose reply names no success for `name` and whose read-back says `finding`."""
    seen = describe(reply.entries) if reply.entries else "an empty body"
    detail = f"no success entry for {name} (Mailcow answered {seen}); {finding}"
    return reply.error(MailcowAmbiguousReply, detail, key="ambiguous_reply")
