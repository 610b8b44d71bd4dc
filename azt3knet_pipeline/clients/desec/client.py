"""deSEC DNS REST API client (sync httpx, thread-safe), built to `docs/contracts/desec.md`.

Every request goes through the shared retry policy (`clients.http`), so 429 `Retry-After` and 502/503/504 are
handled in one place; 401/403 are never retried. The token is sent only to the configured origin (pagination
links are re-rooted on it) and never appears in an error message or a log line.

Writes of rrsets are throttled *per domain* by deSEC (2/s, 15/min, 100/h, 300/day): reconcile with
`patch_rrsets`, which sends one bulk PATCH for any number of changes and nothing for an empty diff.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Self
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import httpx
from pydantic import SecretStr

from azt3knet_pipeline.clients.desec.models import DesecDomain, item_payload, parse_rrset
from azt3knet_pipeline.clients.desec.responses import (
    DETAIL_LIMIT,
    body_of,
    detail_text,
    raise_for,
    throttle_wait,
)
from azt3knet_pipeline.clients.http import RequestCounter, RetryPolicy, send_with_retry
from azt3knet_pipeline.domain.dns import AUTOMATIC_TYPES, RRset, RRsetDiff
from azt3knet_pipeline.errors import (
    DesecPaginationError,
    DesecThrottled,
    DesecUnavailable,
    DesecValidationError,
    RetriesExhausted,
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://desec.io/api/v1"
# deSEC's ordinary throttle windows are a minute long (15 rrset writes/min per domain, 50 reads/min): waiting
# one out is right, so this client accepts Retry-After up to 120 s.
DEFAULT_POLICY = RetryPolicy(max_attempts=6, base_delay=0.5, max_delay=10.0, max_total=300.0, max_retry_after=120.0)
MAX_PAGES = 10_000


def _segment(value: str) -> str:
    return quote(value, safe="@*")


class DesecClient:
    """Typed deSEC client. Thread-safe: one instance may serve many threads (httpx.Client is thread-safe and
    the counters are locked). `request_count` and `write_count` count attempts, retries included."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        token: str | SecretStr = "",
        *,
        timeout: float = 15.0,
        policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        secret = token.get_secret_value() if isinstance(token, SecretStr) else token
        if not secret:
            raise ValueError("DesecClient needs a token (DESEC_TOKEN)")
        self._token = secret
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base_url {base_url!r} is not an absolute http(s) URL")
        self._origin = (parts.scheme, parts.netloc)
        self.policy = policy or DEFAULT_POLICY
        self._http = httpx.Client(
            headers={
                "Authorization": f"Token {secret}",
                "Accept": "application/json",
                "User-Agent": "azt3knet-pipeline",
            },
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
        )
        self._counter = RequestCounter()

    def __repr__(self) -> str:
        return f"DesecClient(base_url={self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def request_count(self) -> int:
        return self._counter.requests

    @property
    def write_count(self) -> int:
        return self._counter.writes

    # --- transport ------------------------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def _url(self, *segments: str) -> str:
        return self.base_url + "/" + "".join(f"{_segment(s)}/" for s in segments)

    def _rrsets_url(self, domain: str, subname: str | None = None, rtype: str | None = None) -> str:
        if subname is None:
            return self._url("domains", domain, "rrsets")
        return self._url("domains", domain, "rrsets", subname or "@", str(rtype).upper())

    def _send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        write: bool,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        key: str | None = None,
    ) -> tuple[httpx.Response, int]:
        """One logical request under the shared retry policy: the final response and the attempts made."""
        attempts = 0
        last: list[httpx.Response | None] = [None]

        def on_attempt(n: int) -> None:
            nonlocal attempts
            attempts = n
            self._counter.count(write=write)

        def send() -> httpx.Response:
            last[0] = None
            kwargs: dict[str, Any] = {}
            if json is not None:
                kwargs["json"] = json
            if params is not None:
                kwargs["params"] = params
            response = self._http.request(method, url, **kwargs)
            last[0] = response
            return response

        try:
            response = send_with_retry(send, self.policy, what=what, on_attempt=on_attempt)
        except RetriesExhausted as exc:
            final = last[0]
            if final is not None and final.status_code == 429:
                body = body_of(final)
                raise DesecThrottled(
                    self._scrub(f"{exc.message} ({detail_text(body)[:DETAIL_LIMIT]})"),
                    retry_after=throttle_wait(final),
                    key=key,
                    detail=body,
                ) from exc
            raise DesecUnavailable(
                self._scrub(exc.message), status=final.status_code if final is not None else None, key=key
            ) from exc
        log.debug("deSEC %s %s -> %d (%d attempt(s))", method, urlsplit(url).path, response.status_code, attempts)
        return response, attempts

    def _raise_for(
        self,
        response: httpx.Response,
        *,
        what: str,
        key: str | None = None,
        items: Sequence[RRset | Mapping[str, Any]] | None = None,
        bulk: bool = False,
    ) -> None:
        raise_for(response, what=what, key=key, items=items, bulk=bulk, scrub=self._scrub)

    # --- pagination -----------------------------------------------------------------------------------------

    def _local(self, link: str, response: httpx.Response) -> str:
        """A pagination link re-rooted on our own origin: the token is never sent anywhere else."""
        absolute = urljoin(str(response.request.url), link)
        parts = urlsplit(absolute)
        if (parts.scheme, parts.netloc) != self._origin:
            log.warning("deSEC pagination link points to another origin; following it on %s", self.base_url)
        return urlunsplit((*self._origin, parts.path, parts.query, ""))

    def _get_all(self, url: str, params: dict[str, str], *, what: str, key: str | None) -> list[Any]:
        """GET a collection, following cursor pagination (400 + `Link: rel="first"`, then `rel="next"`)."""
        response, _ = self._send("GET", url, what=what, write=False, params=params, key=key)
        if response.status_code == 400:
            body = body_of(response)
            first = response.links.get("first", {}).get("url")
            if first is not None or "pagination required" in detail_text(body).lower():
                if first is not None:
                    response, _ = self._send("GET", self._local(first, response), what=what, write=False, key=key)
                else:  # no Link header: ask for the first page ourselves
                    response, _ = self._send(
                        "GET", url, what=what, write=False, params={**params, "cursor": ""}, key=key
                    )
        results: list[Any] = []
        seen: set[str] = set()
        while True:
            self._raise_for(response, what=what, key=key)
            page = body_of(response)
            if not isinstance(page, list):
                raise DesecPaginationError(f"{what}: expected a JSON array, got {type(page).__name__}", key=key)
            results.extend(page)
            nxt = response.links.get("next", {}).get("url")
            if not nxt:
                return results
            next_url = self._local(nxt, response)
            if next_url in seen or len(seen) >= MAX_PAGES:
                raise DesecPaginationError(f"{what}: pagination does not terminate (page {len(seen) + 1})", key=key)
            seen.add(next_url)
            response, _ = self._send("GET", next_url, what=what, write=False, key=key)

    # --- domains --------------------------------------------------------------------------------------------

    def get_domain(self, name: str) -> DesecDomain:
        what = f"get domain {name}"
        response, _ = self._send("GET", self._url("domains", name), what=what, write=False, key=name)
        self._raise_for(response, what=what, key=name)
        return DesecDomain.model_validate(response.json())

    def list_domains(self) -> list[DesecDomain]:
        data = self._get_all(self._url("domains"), {}, what="list domains", key=None)
        return [DesecDomain.model_validate(d) for d in data]

    def create_domain(self, name: str) -> DesecDomain:
        what = f"create domain {name}"
        response, _ = self._send("POST", self._url("domains"), what=what, write=True, json={"name": name}, key=name)
        self._raise_for(response, what=what, key=name, items=[{"name": name}])
        return DesecDomain.model_validate(response.json())

    def delete_domain(self, name: str) -> None:
        what = f"delete domain {name}"
        response, _ = self._send("DELETE", self._url("domains", name), what=what, write=True, key=name)
        self._raise_for(response, what=what, key=name)

    # --- rrsets ---------------------------------------------------------------------------------------------

    def list_rrsets(self, domain: str, *, type: str | None = None, subname: str | None = None) -> list[RRset]:
        """All rrsets of `domain` (every page), sorted by (subname, type); optionally filtered by type or
        subname (`""` or `"@"` is the apex). Automatic types (SOA, RRSIG, ...) are never returned."""
        params: dict[str, str] = {}
        if type is not None:
            params["type"] = type.upper()
        if subname is not None:
            params["subname"] = "" if subname == "@" else subname
        data = self._get_all(self._rrsets_url(domain), params, what=f"list rrsets of {domain}", key=domain)
        rrsets: dict[tuple[str, str], RRset] = {}
        for item in data:
            rrset = parse_rrset(item)
            if rrset.type not in AUTOMATIC_TYPES:
                rrsets.setdefault(rrset.key, rrset)
        return sorted(rrsets.values(), key=lambda r: r.key)

    def get_rrset(self, domain: str, subname: str, type: str) -> RRset | None:
        """One rrset, or None when deSEC answers 404 (the apex is addressed as `@` in the URL)."""
        what = f"get rrset {subname or '@'}/{type.upper()} of {domain}"
        response, _ = self._send("GET", self._rrsets_url(domain, subname, type), what=what, write=False, key=domain)
        if response.status_code == 404:
            return None
        self._raise_for(response, what=what, key=domain)
        return parse_rrset(response.json())

    def create_rrset(self, domain: str, rrset: RRset) -> RRset:
        """POST one new rrset (400 if it exists). A retry finding its own earlier write applied succeeds."""
        what = f"create rrset {rrset.subname or '@'}/{rrset.type} in {domain}"
        response, attempts = self._send(
            "POST", self._rrsets_url(domain), what=what, write=True, json=rrset.to_payload(), key=domain
        )
        if response.status_code == 400 and attempts > 1 and "same subdomain and type" in response.text:
            existing = self.get_rrset(domain, rrset.subname, rrset.type)
            if existing is not None and existing.same_as(rrset):
                return existing
        self._raise_for(response, what=what, key=domain, items=[rrset])
        return parse_rrset(response.json())

    def patch_rrset(
        self,
        domain: str,
        subname: str,
        type: str,
        *,
        ttl: int | None = None,
        records: Iterable[str] | None = None,
    ) -> RRset | None:
        """Partial update of one rrset; `records=[]` deletes it (deSEC answers 204) and returns None."""
        body: dict[str, Any] = {}
        if ttl is not None:
            body["ttl"] = ttl
        if records is not None:
            body["records"] = list(records)
        what = f"patch rrset {subname or '@'}/{type.upper()} of {domain}"
        response, _ = self._send(
            "PATCH", self._rrsets_url(domain, subname, type), what=what, write=True, json=body, key=domain
        )
        item = {"subname": "" if subname == "@" else subname, "type": type.upper(), **body}
        self._raise_for(response, what=what, key=domain, items=[item])
        if response.status_code == 204 or not response.content:
            return None
        return parse_rrset(response.json())

    def delete_rrset(self, domain: str, subname: str, type: str) -> None:
        """Delete one rrset; deSEC answers 204 also when it does not exist."""
        what = f"delete rrset {subname or '@'}/{type.upper()} of {domain}"
        response, _ = self._send("DELETE", self._rrsets_url(domain, subname, type), what=what, write=True, key=domain)
        self._raise_for(response, what=what, key=domain)

    def _bulk(self, method: str, domain: str, items: Sequence[RRset | Mapping[str, Any]], *, what: str) -> list[RRset]:
        if not items:
            return []
        payload = [item_payload(item) for item in items]
        response, _ = self._send(method, self._rrsets_url(domain), what=what, write=True, json=payload, key=domain)
        self._raise_for(response, what=what, key=domain, items=items, bulk=True)
        data = body_of(response)
        return [parse_rrset(d) for d in data] if isinstance(data, list) else []

    def bulk_put(self, domain: str, rrsets: Iterable[RRset]) -> list[RRset]:
        """Bulk PUT (atomic): each rrset written whole; ones left out are NOT deleted. `[]` sends nothing."""
        items = list(rrsets)
        return self._bulk("PUT", domain, items, what=f"bulk PUT of {len(items)} rrset(s) in {domain}")

    def bulk_patch(self, domain: str, items: Iterable[RRset | Mapping[str, Any]]) -> list[RRset]:
        """Bulk PATCH (atomic): create/update, `records: []` deletes. Returns created/updated rrsets only."""
        seq = list(items)
        return self._bulk("PATCH", domain, seq, what=f"bulk PATCH of {len(seq)} rrset(s) in {domain}")

    def patch_rrsets(self, domain: str, diff: RRsetDiff) -> int:
        """Apply a diff in exactly one bulk PATCH (none when empty). Returns the number of rrsets changed."""
        if diff.is_empty:
            return 0
        items = [*diff.upserts, *diff.deletes]
        payload = diff.to_bulk_payload()
        what = f"apply diff to {domain} ({len(diff.upserts)} upsert(s), {len(diff.deletes)} delete(s))"
        response, _ = self._send("PATCH", self._rrsets_url(domain), what=what, write=True, json=payload, key=domain)
        self._raise_for(response, what=what, key=domain, items=items, bulk=True)
        return diff.changed

    # --- dynDNS ---------------------------------------------------------------------------------------------

    def dyndns_update(
        self,
        hostname: str,
        *,
        ipv4: str | None = None,
        ipv6: str | None = None,
        url: str | None = None,
    ) -> str:
        """dynDNS update of `hostname`'s A/AAAA (TTL 60). None keeps a family as it is (`preserve`); `""`
        deletes it. `url` defaults to `<base_url>/dyndns/update` (deSEC's public host is update.dedyn.io).
        Returns the response text (`good`)."""
        target = url or f"{self.base_url}/dyndns/update"
        params = {
            "hostname": hostname,
            "myipv4": "preserve" if ipv4 is None else ipv4,
            "myipv6": "preserve" if ipv6 is None else ipv6,
        }
        what = f"dynDNS update of {hostname}"
        response, _ = self._send("GET", target, what=what, write=True, params=params, key=hostname)
        if response.status_code == 400:
            text = self._scrub(response.text.strip())[:DETAIL_LIMIT]
            raise DesecValidationError(f"{what}: {text}", key=hostname, detail=text, errors=[text])
        self._raise_for(response, what=what, key=hostname)
        return response.text.strip()


def client_policy(**overrides: Any) -> RetryPolicy:
    """The deSEC default policy with some fields replaced (e.g. `sleep=` in tests)."""
    return dataclasses.replace(DEFAULT_POLICY, **overrides)
