"""The Mailcow transport: one httpx client, the shared retry policy, request counters, secret scrubbing.

`_call` sends one API call (`get|add|edit|delete/<category>/...`) under `clients.http.send_with_retry` and maps
every non-200 status to the error tree; a 200 comes back as a `Reply` whose entries the endpoints read (see
`envelope`). Exception messages never contain a password or the API key: request bodies are never included, and
every known secret is scrubbed from server-provided text and entries.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Self
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from azt3knet_pipeline.clients.http import RequestCounter, RetryPolicy, send_with_retry
from azt3knet_pipeline.clients.mailcow.envelope import Reply, describe, msg_key, normalise_envelope
from azt3knet_pipeline.clients.mailcow.scrub import collect_secrets, scrub, scrub_text
from azt3knet_pipeline.errors import (
    MailcowAuthError,
    MailcowError,
    MailcowRequestError,
    MailcowUnavailable,
    RetriesExhausted,
)

BATCH_SIZE = 100
WRITE_ACTIONS = frozenset({"add", "edit", "delete"})


class MailcowTransport:
    """Connection, counters and `_call`, shared by the endpoint groups (see `MailcowClient`)."""

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
        self._counter = RequestCounter()
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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    @property
    def request_count(self) -> int:
        """HTTP attempts made so far (retries included)."""
        return self._counter.requests

    @property
    def write_count(self) -> int:
        """HTTP attempts on add/edit/delete so far (retries included)."""
        return self._counter.writes

    # -- transport

    def _call(
        self,
        action: str,
        category: str,
        *parts: str,
        body: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Reply:
        method = "GET" if action == "get" else "POST"
        segments = [action, category, *(quote(p, safe="@,+") for p in parts)]
        path = "/".join(segments)
        what = f"{method} {action}/{category}"
        is_write = action in WRITE_ACTIONS
        secrets: set[str] = set()
        collect_secrets(body, secrets)
        if self._api_key:
            secrets.add(self._api_key)
        frozen = frozenset(secrets)
        attempts = 0

        def on_attempt(n: int) -> None:
            nonlocal attempts
            attempts = n
            self._counter.count(write=is_write)

        content = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"} if content is not None else None

        def send() -> httpx.Response:
            return self._http.request(method, path, content=content, headers=headers, params=params)

        try:
            response = send_with_retry(send, self.policy, what=what, on_attempt=on_attempt)
        except RetriesExhausted as exc:
            raise MailcowUnavailable(scrub_text(exc.message, frozen), status=exc.status, retried=attempts > 1) from None
        except httpx.HTTPError as exc:
            raise MailcowError(
                f"{what}: {type(exc).__name__}: {scrub_text(str(exc), frozen)}", retried=attempts > 1
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
            entries = [scrub(e, frozen) for e in entries]
        if status != 200:
            msg = describe(entries) if entries else f"(body: {scrub_text(text.strip()[:120], frozen)!r})"
            key = msg_key(entries[0])[0] if entries else None
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
        return Reply(status=status, entries=entries, attempts=attempts, secrets=frozen, what=what)


def dedupe(values: Iterable[str]) -> list[str]:
    """`values` without repeats, in first-seen order."""
    return list(dict.fromkeys(values))


def batches(items: list[str], size: int) -> Iterator[list[str]]:
    """Consecutive slices of `items`, `size` at a time (at least one)."""
    for start in range(0, len(items), max(1, size)):
        yield items[start : start + max(1, size)]


def as_list(values: str | Sequence[str]) -> list[str]:
    """One address or many, as a list of strings."""
    if isinstance(values, str):
        return [values]
    return [str(v) for v in values]


def normalise_attr(attr: Mapping[str, Any]) -> dict[str, Any]:
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
