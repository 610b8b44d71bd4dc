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
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator

from azt3knet_pipeline.clients.http import ApiError, RetriesExhausted, RetryPolicy, send_with_retry

log = logging.getLogger(__name__)

MIB = 1024 * 1024
TAGGING_LIMIT = 25
BATCH_SIZE = 100
WRITE_ACTIONS = frozenset({"add", "edit", "delete"})
FAILURE_TYPES = frozenset({"danger", "error"})
_MASK = "***"


# --------------------------------------------------------------------------------------------- errors


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


# --------------------------------------------------------------------------------------------- helpers


def _to_int(value: Any, default: int = 0) -> int:
    """Mailcow numbers arrive as ints, numeric strings, floats or junk like "- "."""
    if value is None or isinstance(value, bool):
        return int(value) if isinstance(value, bool) else default
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        try:
            return int(float(str(value).strip()))
        except ValueError:
            return default


_TRUE_STRINGS = frozenset({"1", "true", "yes", "on", "&#10004;", "\u2714"})


def _to_bool(value: Any) -> bool:
    """`active` is 1/"1"/true, or in older releases an HTML check mark."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if value is None:
        return False
    return str(value).strip().lower() in _TRUE_STRINGS


def bytes_to_mib(value: Any) -> int:
    """Bytes (int or string) to MiB; 0 stays 0 (= unlimited for a mailbox); a non-zero value is never 0."""
    raw = _to_int(value)
    if raw <= 0:
        return 0
    return max(1, round(raw / MIB))


def _tags(value: Any) -> list[str]:
    if value is None or value == "" or value == {}:
        return []
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, Iterable):
        return [str(t) for t in value if t is not None and str(t) != ""]
    return [str(value)]


def _flag(value: Any) -> int:
    return 1 if _to_bool(value) else 0


def _msg_key(entry: Mapping[str, Any]) -> tuple[str | None, list[Any]]:
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


def _is_failure(entry: Mapping[str, Any]) -> bool:
    return str(entry.get("type", "")).lower() in FAILURE_TYPES


_PASSWORD_KEY = re.compile(r"(app_|new_|old_)?pass(word|wd)?[_-]?\d*", re.IGNORECASE)


def _is_password_key(key: Any) -> bool:
    """`password`, `password2`, `app_passwd`, ... but not `passwd_update` (a timestamp)."""
    return bool(_PASSWORD_KEY.fullmatch(str(key)))


def _collect_secrets(data: Any, out: set[str]) -> None:
    if isinstance(data, Mapping):
        for k, v in data.items():
            if _is_password_key(k) and isinstance(v, str | int) and str(v):
                out.add(str(v))
            else:
                _collect_secrets(v, out)
    elif isinstance(data, list | tuple):
        for v in data:
            _collect_secrets(v, out)


def _scrub_text(text: str, secrets: Iterable[str]) -> str:
    # Longest first so a secret containing another is masked whole.
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, _MASK)
    return text


def _scrub(data: Any, secrets: frozenset[str]) -> Any:
    """Deep copy with password-ish fields masked and every known secret replaced in strings."""
    if isinstance(data, Mapping):
        return {
            k: ("*" if _is_password_key(k) and v not in (None, "") else _scrub(v, secrets)) for k, v in data.items()
        }
    if isinstance(data, list | tuple):
        return [_scrub(v, secrets) for v in data]
    if isinstance(data, str):
        return _scrub_text(data, secrets)
    return data


def _describe(entries: Sequence[Mapping[str, Any]], limit: int = 5) -> str:
    """A short, secret-free rendering of failure entries: their msg only, never `log` (request data)."""
    parts = []
    for entry in entries[:limit]:
        msg = entry.get("msg")
        parts.append(json.dumps(msg, ensure_ascii=False, default=str)[:200])
    more = f" (+{len(entries) - limit} more)" if len(entries) > limit else ""
    return ", ".join(parts) + more


# --------------------------------------------------------------------------------------------- models


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class MailcowDomain(_Model):
    """A domain as read back (quotas converted from bytes to MiB)."""

    name: str = Field(validation_alias=AliasChoices("domain_name", "name", "domain"))
    active: bool = True
    description: str = ""
    max_mailboxes: int = Field(0, validation_alias=AliasChoices("max_num_mboxes_for_domain", "max_mailboxes"))
    mailboxes_in_domain: int = Field(0, validation_alias=AliasChoices("mboxes_in_domain", "mailboxes_in_domain"))
    max_aliases: int = Field(0, validation_alias=AliasChoices("max_num_aliases_for_domain", "max_aliases"))
    aliases_in_domain: int = 0
    defquota_mib: int = Field(0, validation_alias=AliasChoices("def_quota_for_mbox", "defquota_mib"))
    maxquota_mib: int = Field(0, validation_alias=AliasChoices("max_quota_for_mbox", "maxquota_mib"))
    quota_mib: int = Field(0, validation_alias=AliasChoices("max_quota_for_domain", "quota_mib"))
    quota_used_mib: int = Field(0, validation_alias=AliasChoices("quota_used_in_domain", "quota_used_mib"))
    tags: list[str] = Field(default_factory=list)

    @field_validator("active", mode="before")
    @classmethod
    def _active(cls, v: Any) -> bool:
        return _to_bool(v)

    @field_validator("max_mailboxes", "mailboxes_in_domain", "max_aliases", "aliases_in_domain", mode="before")
    @classmethod
    def _ints(cls, v: Any) -> int:
        return _to_int(v)

    @field_validator("defquota_mib", "maxquota_mib", "quota_mib", "quota_used_mib", mode="before")
    @classmethod
    def _mib(cls, v: Any) -> int:
        return bytes_to_mib(v)

    @field_validator("description", mode="before")
    @classmethod
    def _desc(cls, v: Any) -> str:
        return "" if v is None else str(v)

    @field_validator("tags", mode="before")
    @classmethod
    def _tag_list(cls, v: Any) -> list[str]:
        return _tags(v)

    @classmethod
    def from_api(cls, obj: Mapping[str, Any]) -> MailcowDomain:
        data = dict(obj)
        if "active_int" in data:  # older releases render `active` as HTML, `active_int` is the value
            data["active"] = data["active_int"]
        return cls.model_validate(data)


class MailcowMailbox(_Model):
    """A mailbox as read back. `quota_mib` 0 means unlimited."""

    address: str = Field(validation_alias=AliasChoices("username", "address"))
    local_part: str = ""
    domain: str = ""
    name: str = ""
    active: bool = True
    quota_mib: int = Field(0, validation_alias=AliasChoices("quota", "quota_mib"))
    quota_used_bytes: int = Field(0, validation_alias=AliasChoices("quota_used", "quota_used_bytes"))
    messages: int = 0
    tags: list[str] = Field(default_factory=list)
    attributes: dict[str, Any] = Field(default_factory=dict)
    authsource: str | None = None

    @property
    def username(self) -> str:
        return self.address

    @field_validator("active", mode="before")
    @classmethod
    def _active(cls, v: Any) -> bool:
        return _to_bool(v)

    @field_validator("quota_mib", mode="before")
    @classmethod
    def _mib(cls, v: Any) -> int:
        return bytes_to_mib(v)

    @field_validator("quota_used_bytes", "messages", mode="before")
    @classmethod
    def _ints(cls, v: Any) -> int:
        return _to_int(v)

    @field_validator("tags", mode="before")
    @classmethod
    def _tag_list(cls, v: Any) -> list[str]:
        return _tags(v)

    @field_validator("name", "local_part", "domain", mode="before")
    @classmethod
    def _str(cls, v: Any) -> str:
        return "" if v is None else str(v)

    @field_validator("attributes", mode="before")
    @classmethod
    def _attrs(cls, v: Any) -> dict[str, Any]:
        return dict(v) if isinstance(v, Mapping) else {}

    @classmethod
    def from_api(cls, obj: Mapping[str, Any]) -> MailcowMailbox:
        data = dict(obj)
        if "active_int" in data:
            data["active"] = data["active_int"]
        address = str(data.get("username") or data.get("address") or "")
        if "@" in address:
            local, _, dom = address.partition("@")
            data.setdefault("local_part", local)
            data.setdefault("domain", dom)
        return cls.model_validate(data)


class DkimKey(_Model):
    """The DKIM key of a domain. DNS name: `<selector>._domainkey.<domain>`; value: `txt`."""

    domain: str | None = None
    selector: str = Field("dkim", validation_alias=AliasChoices("dkim_selector", "selector"))
    txt: str = Field(validation_alias=AliasChoices("dkim_txt", "txt"))
    pubkey: str = ""
    length: str = ""

    @field_validator("length", mode="before")
    @classmethod
    def _length(cls, v: Any) -> str:
        return "" if v is None else str(v)

    @property
    def record_name(self) -> str:
        """Relative owner name of the TXT record (`dkim._domainkey`)."""
        return f"{self.selector}._domainkey"

    @property
    def txt_value(self) -> str:
        """The TXT content as one string, un-splitting `"..." "..."` chunks (SPLIT_DKIM_255)."""
        text = self.txt.strip()
        if text.startswith('"'):
            chunks = [c for c in text.split('"') if c.strip()]
            return "".join(chunks)
        return text


class DomainSpec(_Model):
    """Input of `add_domain`; quotas in MiB. `key_size`/`dkim_selector` None = omit (server default)."""

    domain: str
    description: str | None = None
    mailboxes: int = Field(10, ge=0)
    aliases: int = Field(400, ge=0)
    defquota: int = Field(3072, ge=0)
    maxquota: int = Field(10240, ge=0)
    quota: int = Field(10240, ge=0)
    active: bool = True
    tags: list[str] = Field(default_factory=list)
    key_size: int | None = 2048
    dkim_selector: str | None = "dkim"

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        v = v.strip().lower().rstrip(".")
        if not v:
            raise ValueError("domain must not be empty")
        return v

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "domain": self.domain,
            "description": self.description if self.description is not None else self.domain,
            "mailboxes": self.mailboxes,
            "aliases": self.aliases,
            "defquota": self.defquota,
            "maxquota": self.maxquota,
            "quota": self.quota,
            "active": _flag(self.active),
        }
        if self.tags:
            body["tags"] = list(self.tags)
        if self.key_size is not None:
            body["key_size"] = self.key_size
        if self.dkim_selector is not None:
            body["dkim_selector"] = self.dkim_selector
        return body


class MailboxSpec(_Model):
    """Input of `add_mailbox`; `quota` in MiB (0 = unlimited). The password is a SecretStr (never in repr)."""

    local_part: str
    domain: str
    password: SecretStr
    password2: SecretStr | None = None
    name: str | None = None
    quota: int = Field(0, ge=0)
    active: bool = True
    tags: list[str] = Field(default_factory=list)
    force_pw_update: bool = False
    extra: dict[str, Any] = Field(default_factory=dict)

    @field_validator("local_part", "domain")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.strip().lower()

    @field_validator("tags")
    @classmethod
    def _tag_limit(cls, v: list[str]) -> list[str]:
        if len(v) > TAGGING_LIMIT:
            raise ValueError(f"at most {TAGGING_LIMIT} tags per mailbox (Mailcow TAGGING_LIMIT)")
        return v

    @property
    def address(self) -> str:
        return f"{self.local_part}@{self.domain}"

    def to_body(self) -> dict[str, Any]:
        password = self.password.get_secret_value()
        password2 = self.password2.get_secret_value() if self.password2 is not None else password
        body: dict[str, Any] = {k: v for k, v in self.extra.items() if not _is_password_key(k)}
        body.update(
            {
                "local_part": self.local_part,
                "domain": self.domain,
                "name": self.name if self.name is not None else self.local_part,
                "password": password,
                "password2": password2,
                "quota": self.quota,
                "active": _flag(self.active),
                "force_pw_update": _flag(self.force_pw_update),
                "tags": list(self.tags),
            }
        )
        return body


@dataclass
class MailcowResult:
    """Outcome of a successful write: the (secret-scrubbed) envelope entries and how many attempts it took."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 1
    # True when the reply was ambiguous and the outcome was confirmed by reading the object back.
    verified_by_read: bool = False

    @property
    def keys(self) -> list[str]:
        return [k for k in (_msg_key(e)[0] for e in self.entries) if k]

    def has(self, key: str) -> bool:
        return key in self.keys


@dataclass
class _Reply:
    status: int
    entries: list[dict[str, Any]]
    attempts: int
    secrets: frozenset[str]
    what: str

    @property
    def retried(self) -> bool:
        return self.attempts > 1


# --------------------------------------------------------------------------------------------- client


class MailcowClient:
    """Client of the Mailcow admin API. One instance is safe to share between threads (a pool of 8).

    `base_url` is the server (`https://mail.example.org`); `/api/v1/` is appended (a URL already ending in
    `/api/v1` is accepted). Every request goes through `policy` (the shared `RetryPolicy`). `transport`
    replaces httpx's network transport (tests, proxies). Bulk edits/deletes are sent `batch_size` items per
    request. `request_count` / `write_count` count HTTP attempts, retries included.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        verify_tls: bool = True,
        timeout: float = 15.0,
        policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.batch_size = max(1, batch_size)
        base = base_url.strip().rstrip("/")
        if base.endswith("/api/v1"):
            base = base[: -len("/api/v1")]
        self.base_url = base
        api_key = api_key.strip()  # a trailing newline from a secrets file is not part of the key
        self._api_key = api_key
        self.policy = policy or RetryPolicy()
        self._lock = threading.Lock()
        self._requests = 0
        self._writes = 0
        self._http = httpx.Client(
            base_url=f"{base}/api/v1/",
            headers={"X-API-Key": api_key, "Accept": "application/json"},
            verify=verify_tls,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        )

    # -- lifecycle / counters

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MailcowClient:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MailcowClient(base_url={self.base_url!r})"

    @property
    def request_count(self) -> int:
        """HTTP attempts made so far (retries included)."""
        with self._lock:
            return self._requests

    @property
    def write_count(self) -> int:
        """HTTP attempts on add/edit/delete so far (retries included)."""
        with self._lock:
            return self._writes

    # -- transport

    def _call(
        self,
        action: str,
        category: str,
        *parts: str,
        body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> _Reply:
        method = "GET" if action == "get" else "POST"
        segments = [action, category, *(quote(p, safe="@,+") for p in parts)]
        path = "/".join(segments)
        what = f"{method} {action}/{category}"
        is_write = action in WRITE_ACTIONS
        secrets: set[str] = set()
        _collect_secrets(body, secrets)
        if self._api_key:
            secrets.add(self._api_key)
        frozen = frozenset(secrets)
        attempts = 0

        def on_attempt(n: int) -> None:
            nonlocal attempts
            attempts = n
            with self._lock:
                self._requests += 1
                if is_write:
                    self._writes += 1

        content = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"} if content is not None else None

        def send() -> httpx.Response:
            return self._http.request(method, path, content=content, headers=headers, params=params)

        try:
            response = send_with_retry(send, self.policy, what=what, on_attempt=on_attempt)
        except RetriesExhausted as exc:
            raise MailcowUnavailable(
                _scrub_text(exc.message, frozen), status=exc.status, retried=attempts > 1
            ) from None
        except httpx.HTTPError as exc:
            raise MailcowError(
                f"{what}: {type(exc).__name__}: {_scrub_text(str(exc), frozen)}", retried=attempts > 1
            ) from None

        status = response.status_code
        text = response.text
        parsed: Any = None
        if text.strip():
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
                if status == 200:
                    raise MailcowError(
                        f"{what}: HTTP 200 with a body that is not JSON", status=status, retried=attempts > 1
                    ) from None
        entries = normalise_envelope(parsed)
        if is_write or status != 200:  # reads carry no request secrets; skip the deep copy on big lists
            entries = [_scrub(e, frozen) for e in entries]
        if status != 200:
            msg = _describe(entries) if entries else f"(body: {_scrub_text(text.strip()[:120], frozen)!r})"
            key = _msg_key(entries[0])[0] if entries else None
            message = f"{what}: HTTP {status}: {msg}"
            if status in (401, 403):
                raise MailcowAuthError(message, status=status, key=key, entries=entries)
            if 300 <= status < 400:
                location = response.headers.get("Location", "")
                raise MailcowRequestError(
                    f"{message}; redirected to {location!r} (use that base URL, e.g. https://)",
                    status=status,
                    key=key,
                    entries=entries,
                )
            if 400 <= status < 500:
                raise MailcowRequestError(message, status=status, key=key, entries=entries)
            raise MailcowError(message, status=status, key=key, entries=entries)
        return _Reply(status=status, entries=entries, attempts=attempts, secrets=frozen, what=what)

    @staticmethod
    def _failures(reply: _Reply) -> list[dict[str, Any]]:
        return [e for e in reply.entries if _is_failure(e)]

    def _raise_for(
        self,
        reply: _Reply,
        *,
        access_denied: type[MailcowError] = MailcowRequestError,
        conflict_keys: Iterable[str] = ("object_exists", "domain_exists"),
    ) -> None:
        failures = self._failures(reply)
        if not failures:
            return
        key, _args = _msg_key(failures[0])
        conflict_keys = frozenset(conflict_keys)
        cls: type[MailcowError]
        if key in conflict_keys:
            cls = MailcowConflict
        elif key == "access_denied":
            cls = access_denied
        else:
            cls = MailcowRequestError
        raise cls(
            f"{reply.what}: {_describe(failures)}",
            status=reply.status,
            key=key,
            entries=reply.entries,
            retried=reply.retried,
        )

    def _result(self, reply: _Reply, *, verified_by_read: bool = False) -> MailcowResult:
        return MailcowResult(entries=reply.entries, attempts=reply.attempts, verified_by_read=verified_by_read)

    @staticmethod
    def _confirmed(reply: _Reply, keys: Iterable[str], name: str) -> bool:
        """Whether the reply holds a success entry `[<one of keys>, <name>, ...]` for this object."""
        wanted = frozenset(keys)
        for entry in reply.entries:
            if str(entry.get("type", "")).lower() != "success":
                continue
            key, args = _msg_key(entry)
            if key in wanted and args and str(args[0]).strip().lower() == name:
                return True
        return False

    @staticmethod
    def _ambiguous(reply: _Reply, name: str, finding: str) -> MailcowAmbiguousReply:
        seen = _describe(reply.entries) if reply.entries else "an empty body"
        return MailcowAmbiguousReply(
            f"{reply.what}: no success entry for {name} (Mailcow answered {seen}); {finding}",
            status=reply.status,
            key="ambiguous_reply",
            entries=reply.entries,
            retried=reply.retried,
        )

    # -- domains

    def list_domains(self) -> list[MailcowDomain]:
        reply = self._call("get", "domain", "all")
        self._raise_for(reply)
        return [MailcowDomain.from_api(e) for e in reply.entries if e.get("domain_name")]

    def get_domain(self, name: str) -> MailcowDomain | None:
        name = name.strip().lower()
        reply = self._call("get", "domain", name)
        self._raise_for(reply)
        for entry in reply.entries:
            if str(entry.get("domain_name", "")).lower() == name:
                return MailcowDomain.from_api(entry)
        return None

    def add_domain(self, spec: DomainSpec) -> MailcowResult:
        """Create a domain (Mailcow also generates its DKIM key). `domain_exists` -> MailcowConflict."""
        reply = self._call("add", "domain", body=spec.to_body())
        self._raise_for(reply)
        if self._confirmed(reply, ("domain_added",), spec.domain):
            return self._result(reply)
        existing = self.get_domain(spec.domain)  # outcome unknown: Mailcow's own list decides
        if existing is None:
            raise self._ambiguous(reply, spec.domain, "the domain does not exist: not created")
        if not set(spec.tags) <= set(existing.tags):
            raise MailcowConflict(
                f"{reply.what}: {spec.domain} exists without the tags this request set", key="domain_exists"
            )
        return self._result(reply, verified_by_read=True)

    def edit_domain(self, name: str, attr: Mapping[str, Any]) -> MailcowResult:
        """Edit domain attributes (e.g. `mailboxes`, `quota`, `maxquota` in MiB). Missing -> DomainMissing."""
        name = name.strip().lower()
        body = {"items": [name], "attr": _normalise_attr(attr)}
        reply = self._call("edit", "domain", body=body)
        failures = self._failures(reply)
        if failures and _msg_key(failures[0])[0] == "domain_invalid":  # §7: how the real code says "missing"
            raise MailcowDomainMissing(
                f"{reply.what}: {_describe(failures)}", status=reply.status, key="domain_invalid", entries=reply.entries
            )
        self._raise_for(reply, access_denied=MailcowDomainMissing)
        if not self._confirmed(reply, ("domain_modified",), name):
            # An edit cannot be confirmed by a read (the next plan reads it again): unknown counts as failed.
            raise self._ambiguous(reply, name, "counted as not applied")
        return self._result(reply)

    def delete_domain(self, name: str) -> str:
        """Delete an empty domain: "removed", or "missing" when the server says it does not exist.

        `domain_not_empty` (mailboxes left) raises MailcowRequestError with that key.
        """
        name = name.strip().lower()
        reply = self._call("delete", "domain", body=[name])
        failures = self._failures(reply)
        if failures and all(_msg_key(e)[0] in ("access_denied", "domain_not_found") for e in failures):
            return "missing"
        self._raise_for(reply)
        if not self._confirmed(reply, ("domain_removed",), name) and self.get_domain(name) is not None:
            raise self._ambiguous(reply, name, "the domain still exists")
        return "removed"

    # -- DKIM

    def get_dkim(self, domain: str) -> DkimKey | None:
        domain = domain.strip().lower()
        reply = self._call("get", "dkim", domain)
        self._raise_for(reply)
        for entry in reply.entries:
            if entry.get("dkim_txt") or entry.get("pubkey"):
                data = dict(entry)
                data.setdefault("dkim_txt", "")
                data["domain"] = domain
                return DkimKey.model_validate(data)
        return None

    def add_dkim(self, domain: str, selector: str = "dkim", key_size: int = 2048) -> MailcowResult:
        """Generate a DKIM key. An existing key -> MailcowConflict (Mailcow reports it as
        `dkim_domain_or_sel_invalid`, which we disambiguate with one read); a missing domain ->
        MailcowDomainMissing."""
        domain = domain.strip().lower()
        body = {"domains": domain, "dkim_selector": selector, "key_size": key_size}
        reply = self._call("add", "dkim", body=body)
        failures = self._failures(reply)
        if failures and _msg_key(failures[0])[0] == "dkim_domain_or_sel_invalid" and self.get_dkim(domain):
            raise MailcowDkimExists(
                f"{reply.what}: a DKIM key already exists for {domain}",
                status=reply.status,
                key="dkim_domain_or_sel_invalid",
                entries=reply.entries,
                retried=reply.retried,
            )
        self._raise_for(reply, access_denied=MailcowDomainMissing)
        if self._confirmed(reply, ("dkim_added",), domain):
            return self._result(reply)
        if self.get_dkim(domain) is None:
            raise self._ambiguous(reply, domain, "no DKIM key exists: not created")
        return self._result(reply, verified_by_read=True)

    def delete_dkim(self, domain: str) -> MailcowResult:
        """Remove a domain's DKIM key (idempotent on the server)."""
        domain = domain.strip().lower()
        reply = self._call("delete", "dkim", body=[domain])
        self._raise_for(reply)
        if self._confirmed(reply, ("dkim_removed",), domain):
            return self._result(reply)
        if self.get_dkim(domain) is not None:
            raise self._ambiguous(reply, domain, "the DKIM key still exists")
        return self._result(reply, verified_by_read=True)

    # -- mailboxes

    def list_mailboxes(self, domain: str, *, tags: Sequence[str] | None = None) -> list[MailcowMailbox]:
        """Mailboxes of one domain. With `tags`, only those carrying at least one of them (exact match;
        the server's own filter is a substring match and is re-checked here)."""
        domain = domain.strip().lower()
        params = {"tags": ",".join(tags)} if tags else None
        reply = self._call("get", "mailbox", "all", domain, params=params)
        self._raise_for(reply)
        boxes = [MailcowMailbox.from_api(e) for e in reply.entries if e.get("username")]
        boxes = [b for b in boxes if b.domain.lower() == domain]
        if tags:
            wanted = set(tags)
            boxes = [b for b in boxes if wanted.intersection(b.tags)]
        return boxes

    def get_mailbox(self, address: str) -> MailcowMailbox | None:
        address = address.strip().lower()
        reply = self._call("get", "mailbox", address)
        self._raise_for(reply)
        for entry in reply.entries:
            if str(entry.get("username", "")).lower() == address:
                return MailcowMailbox.from_api(entry)
        return None

    def add_mailbox(self, spec: MailboxSpec) -> MailcowResult:
        """Create a mailbox. `object_exists` -> MailcowConflict (`.retried` tells whether it may be our own
        earlier attempt); `access_denied` -> MailcowDomainMissing."""
        try:
            reply = self._call("add", "mailbox", body=spec.to_body())
        except MailcowError as exc:
            if type(exc) not in (MailcowError, MailcowUnavailable):
                raise
            # No reply at all (connection lost, retries spent): the create may have been applied. Ours if
            # Mailcow now lists it with the tags this request set; anything else stays a failure.
            found = self.get_mailbox(spec.address)
            if found is None or not set(spec.tags) <= set(found.tags):
                raise
            return MailcowResult(entries=[], attempts=0, verified_by_read=True)
        self._raise_for(reply, access_denied=MailcowDomainMissing)
        if self._confirmed(reply, ("mailbox_added",), spec.address):
            return self._result(reply)
        existing = self.get_mailbox(spec.address)  # outcome unknown: Mailcow's own list decides
        if existing is None:
            raise self._ambiguous(reply, spec.address, "the mailbox does not exist: not created")
        if not set(spec.tags) <= set(existing.tags):
            # Not the mailbox this request would have made: someone else's (the caller decides).
            raise MailcowConflict(
                f"{reply.what}: {spec.address} exists without the tags this request set",
                key="object_exists",
                entries=reply.entries,
                retried=True,
            )
        return self._result(reply, verified_by_read=True)

    def edit_mailbox(self, addresses: Sequence[str], attr: Mapping[str, Any]) -> MailcowResult:
        """Edit mailboxes: `quota` in MiB, `tags` are ADDED (never cleared), `password` + `password2`,
        `active`, ... Any missing address -> MailcowNotFound (`access_denied` per missing item).

        Sent in batches of `batch_size` items: every entry of Mailcow's answer repeats the whole request in
        its `log`, so one request for n items answers O(n^2) bytes.
        """
        items = _dedupe(a.strip().lower() for a in _as_list(addresses))
        attr = _normalise_attr(attr)
        result = MailcowResult(entries=[], attempts=0)
        for batch in _batches(items, self.batch_size):
            reply = self._call("edit", "mailbox", body={"items": batch, "attr": attr})
            self._raise_for(reply, access_denied=MailcowNotFound)
            unconfirmed = [a for a in batch if not self._confirmed(reply, ("mailbox_modified",), a)]
            if unconfirmed:
                # An edit cannot be confirmed by a read (passwords are not readable): unknown counts as failed.
                raise self._ambiguous(reply, ", ".join(unconfirmed[:3]), "counted as not applied")
            result.entries.extend(reply.entries)
            result.attempts += reply.attempts
        return result

    def delete_mailboxes(self, addresses: Sequence[str]) -> dict[str, str]:
        """Delete mailboxes; maps each address to "removed" or "missing".

        Mailcow's delete is not idempotent: a missing (or invalid) address answers a bare `access_denied`.
        That is reported as "missing" (converge logic treats it as already gone), as is an address whose
        removal was applied by an earlier attempt whose response was lost. Other failures raise. Sent in
        batches of `batch_size` (see `edit_mailbox`).
        """
        items = _dedupe(a.strip().lower() for a in _as_list(addresses))
        outcome: dict[str, str] = {}
        for batch in _batches(items, self.batch_size):
            outcome.update(self._delete_batch(batch))
        return {a: outcome[a] for a in items}

    def _delete_batch(self, items: list[str]) -> dict[str, str]:
        reply = self._call("delete", "mailbox", body=items)
        wanted = set(items)
        outcome: dict[str, str] = {}
        cursor = 0  # entries come in request order: an unnamed entry belongs to the next unaccounted address

        def next_unaccounted() -> str | None:
            nonlocal cursor
            while cursor < len(items) and items[cursor] in outcome:
                cursor += 1
            return items[cursor] if cursor < len(items) else None

        other_failures: list[dict[str, Any]] = []
        for entry in reply.entries:
            key, args = _msg_key(entry)
            named = str(args[0]).lower() if args else None
            target = named if named in wanted else None
            if _is_failure(entry):
                if key == "access_denied":
                    target = target or next_unaccounted()
                    if target is not None:
                        outcome.setdefault(target, "missing")
                else:
                    other_failures.append(entry)
            elif key == "mailbox_removed":
                target = target or next_unaccounted()
                if target is not None:
                    outcome[target] = "removed"
        if other_failures:
            raise MailcowRequestError(
                f"{reply.what}: {_describe(other_failures)}",
                status=reply.status,
                key=_msg_key(other_failures[0])[0],
                entries=reply.entries,
                retried=reply.retried,
            )
        for a in items:  # no entry for this address (empty body, "Task completed"): Mailcow's list decides
            if a not in outcome:
                if self.get_mailbox(a) is not None:
                    raise self._ambiguous(reply, a, "the mailbox still exists")
                outcome[a] = "removed"
        return outcome

    # -- policy

    def get_password_policy(self) -> dict[str, Any]:
        reply = self._call("get", "passwordpolicy")
        self._raise_for(reply)
        if not reply.entries:
            return {}
        policy: dict[str, Any] = {}
        for k, v in reply.entries[0].items():
            if isinstance(v, str) and v.strip().lstrip("-").isdigit():
                policy[k] = int(v)
            else:
                policy[k] = v
        return policy


def _dedupe(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), max(1, size)):
        yield items[start : start + max(1, size)]


def _as_list(values: str | Sequence[str]) -> list[str]:
    if isinstance(values, str):
        return [values]
    return [str(v) for v in values]


def _normalise_attr(attr: Mapping[str, Any]) -> dict[str, Any]:
    """Booleans become 0/1 (what the PHP side expects); SecretStr values are unwrapped."""
    out: dict[str, Any] = {}
    for k, v in attr.items():
        if isinstance(v, bool):
            out[k] = int(v)
        elif isinstance(v, SecretStr):
            out[k] = v.get_secret_value()
        else:
            out[k] = v
    return out


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
