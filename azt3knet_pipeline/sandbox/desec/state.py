"""The deSEC stand-in's state (domains and their rrsets), its persistence, and its control API.

The control API is the same on both stand-ins: `counters()`, `state()`, `faults()` / `set_faults(...)`, `reset()`,
`reset_counters()`; here also the throttle clock (`advance_clock`, `spend_throttle`, `set_throttle`) and
out-of-band changes for drift (`add_domain`, `put_rrset`, `delete_rrset`).
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse

from azt3knet_pipeline.domain.dns import RRset
from azt3knet_pipeline.sandbox.desec.config import (
    FAULT_FIELDS,
    SAFE_METHODS,
    SANDBOX_ACCOUNT,
    DesecSandboxConfig,
)
from azt3knet_pipeline.sandbox.desec.models import (
    Reply,
    StoredDomain,
    StoredRRset,
    domain_json,
    fail,
    now,
    parse_ts,
    rrset_json,
)
from azt3knet_pipeline.sandbox.desec.throttle import Throttles, throttled_detail


def _empty_counters() -> dict[str, Any]:
    return {
        "requests": 0,
        "reads": 0,
        "writes": 0,
        "endpoints": {},
        "writes_by_domain": {},
        "throttled": 0,
        "faults": 0,
        "status": {},
    }


class DesecSandbox:
    """The stand-in's state and behaviour; thread-safe (the server thread and tests share it)."""

    def __init__(self, config: DesecSandboxConfig, clock: Callable[[], float] | None = None) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.throttles = Throttles(config.throttle_rates, clock)
        self._counters: dict[str, Any] = _empty_counters()
        self.domains: dict[str, StoredDomain] = {}
        self._seq = 0
        self._rng = random.Random(config.fault_seed)
        if config.state_file is not None and Path(config.state_file).exists():
            self._load(Path(config.state_file))
        else:
            self.reset(keep_counters=True)

    # -- control API

    def counters(self) -> dict[str, Any]:
        """Requests, reads, writes (also by domain and endpoint), throttled, faults, statuses (a copy)."""
        with self.lock:
            return copy.deepcopy(self._counters)

    def state(self) -> dict[str, Any]:
        """Every domain with its rrsets, as persisted."""
        with self.lock:
            return {
                "seq": self._seq,
                "domains": [
                    {
                        **domain_json(d, keys=False),
                        "owner": d.owner,
                        "seq": d.seq,
                        "rrsets": [{**rrset_json(d, r), "seq": r.seq} for r in d.rrsets.values()],
                    }
                    for d in self.domains.values()
                ],
            }

    def faults(self) -> dict[str, Any]:
        """The fault settings in force."""
        with self.lock:
            return {k: getattr(self.config, k) for k in FAULT_FIELDS}

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Update fault injection (`error_rate`, `error_after_apply_rate`, `timeout_rate`, `timeout_seconds`,
        `fault_seed`); the fault RNG is reseeded. Returns the settings in force."""
        with self.lock:
            self.config = DesecSandboxConfig.model_validate({**self.config.model_dump(), **faults})
            self._rng = random.Random(self.config.fault_seed)
            return self.faults()

    def reset(self, *, keep_counters: bool = False) -> None:
        """Back to the configured domains (no state file read), throttle history cleared."""
        with self.lock:
            self.domains = {}
            self.throttles.history.clear()
            if not keep_counters:
                self._counters = _empty_counters()
            for spec in self.config.domains:
                self._add_domain(spec.name, minimum_ttl=spec.minimum_ttl, owner=spec.owner)
            self.save()

    def reset_counters(self) -> None:
        with self.lock:
            self._counters = _empty_counters()

    def clock(self) -> float:
        """The throttle clock: the injected (or monotonic) clock plus whatever `advance_clock` added."""
        return self.throttles.clock()

    def advance_clock(self, seconds: float) -> float:
        """Let `seconds` pass for the throttles without sleeping (an hour, a day). Returns the total advance."""
        with self.lock:
            return self.throttles.advance(seconds)

    def spend_throttle(self, scope: str, bucket: str, window: str) -> int:
        """Use up one window of a scope's bucket as if that many requests had been made, e.g.
        `("dns_api_per_domain_expensive", zone, "h")`: the zone's 100 rrset writes of the hour are gone, so the
        next write gets 429 with a Retry-After of about an hour (deSEC's hour/day buckets, contract §8).
        Returns how many were recorded."""
        with self.lock:
            return self.throttles.spend(scope, bucket, window)

    def set_throttle(
        self, *, enabled: bool | None = None, rates: dict[str, list[str]] | None = None, clear: bool = True
    ) -> None:
        """Change throttling at run time (`rates` replaces the scopes it names)."""
        with self.lock:
            update: dict[str, Any] = {}
            if enabled is not None:
                update["throttle_enabled"] = enabled
            if rates is not None:
                update["throttle_rates"] = {**self.config.throttle_rates, **rates}
            self.config = DesecSandboxConfig.model_validate({**self.config.model_dump(), **update})
            self.throttles.set_rates(self.config.throttle_rates)
            if clear:
                self.throttles.history.clear()

    def add_domain(self, name: str, *, minimum_ttl: int | None = None, owner: str | None = None) -> dict[str, Any]:
        """Create a domain out of band (no auth, no throttle), with the default apex NS like deSEC does."""
        with self.lock:
            domain = self._add_domain(name, minimum_ttl=minimum_ttl, owner=owner)
            self.save()
            return domain_json(domain, keys=True)

    def rrsets(self, domain: str) -> list[RRset]:
        """The domain's rrsets as stored (canonical presentation), sorted by (subname, type)."""
        with self.lock:
            stored = self.domains[domain].rrsets.values()
            return sorted(
                (RRset(subname=r.subname, type=r.type, ttl=r.ttl, records=tuple(r.records)) for r in stored),
                key=lambda r: r.key,
            )

    def put_rrset(self, domain: str, rrset: RRset) -> None:
        """Write one rrset out of band, bypassing validation and throttles (to simulate drift)."""
        with self.lock:
            zone = self.domains[domain]
            at = now()
            old = zone.rrsets.get(rrset.key)
            zone.rrsets[rrset.key] = StoredRRset(
                rrset.subname,
                rrset.type,
                rrset.ttl,
                list(rrset.records),
                old.created if old else at,
                at,
                old.seq if old else self.next_seq(),
            )
            zone.published = zone.touched = at
            self.save()

    def delete_rrset(self, domain: str, subname: str, type: str) -> bool:
        """Delete one rrset out of band (drift). True if it existed."""
        with self.lock:
            zone = self.domains[domain]
            existed = zone.rrsets.pop((subname, type.upper()), None) is not None
            if existed:
                zone.published = zone.touched = now()
                self.save()
            return existed

    # -- request plumbing (the handlers call these under `lock`)

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def count(self, method: str, endpoint: str, domain: str | None, *, write: bool | None = None) -> None:
        with self.lock:
            c = self._counters
            c["requests"] += 1
            name = f"{method} {endpoint}"
            c["endpoints"][name] = c["endpoints"].get(name, 0) + 1
            if not (method not in SAFE_METHODS if write is None else write):
                c["reads"] += 1
            else:
                c["writes"] += 1
                if domain:
                    self.count_domain_write(domain)

    def count_domain_write(self, domain: str) -> None:
        with self.lock:
            by_domain = self._counters["writes_by_domain"]
            by_domain[domain] = by_domain.get(domain, 0) + 1

    def count_status(self, status: int) -> None:
        with self.lock:
            key = str(status)
            self._counters["status"][key] = self._counters["status"].get(key, 0) + 1

    def roll_fault(self) -> str | None:
        """ "timeout", "error" (before applying), "after_apply", or None."""
        with self.lock:
            cfg = self.config
            if not (cfg.error_rate or cfg.error_after_apply_rate or cfg.timeout_rate):
                return None
            roll = self._rng.random()
            if roll < cfg.timeout_rate:
                fault = "timeout"
            elif roll < cfg.timeout_rate + cfg.error_rate:
                fault = "error"
            elif roll < cfg.timeout_rate + cfg.error_rate + cfg.error_after_apply_rate:
                fault = "after_apply"
            else:
                return None
            self._counters["faults"] += 1
            return fault

    def user_for(self, token: str) -> str | None:
        if token in self.config.tokens or token in self.config.read_only_tokens:
            return SANDBOX_ACCOUNT
        return None

    def authenticate(self, request: Request) -> tuple[str, str]:
        """(account, token) from `Authorization: Token …`, else a 401 like DRF's TokenAuthentication."""
        parts = request.headers.get("authorization", "").split()
        challenge = {"WWW-Authenticate": "Token"}
        if not parts or parts[0].lower() != "token":
            raise fail(401, "Authentication credentials were not provided.", challenge)
        if len(parts) != 2:
            raise fail(401, "Invalid token header. No credentials provided.", challenge)
        user = self.user_for(parts[1])
        if user is None:
            raise fail(401, "Invalid token.", challenge)
        return user, parts[1]

    def check_throttles(self, scopes: list[tuple[str, str]], *, text: bool = False) -> None:
        """Check every scope (allowed ones record the request); 429 with the longest wait if one denies."""
        with self.lock:
            if not self.config.throttle_enabled:
                return
            longest = self.throttles.wait(scopes)
            if longest is None:
                return
            self._counters["throttled"] += 1
        wait = max(1, math.ceil(longest))
        headers = {"Retry-After": str(wait)}
        if text:
            raise Reply(PlainTextResponse(throttled_detail(wait), status_code=429, headers=headers))
        raise fail(429, throttled_detail(wait), headers)

    def owned(self, name: str, user: str, *, detail: bool = False) -> StoredDomain:
        """The user's domain, else 404. The domain detail view says "No Domain matches the given query." for a
        name nobody holds and "Not found." for someone else's (contract §8); rrset views always "Not found."."""
        domain = self.domains.get(name)
        if domain is None and detail:
            raise fail(404, "No Domain matches the given query.")
        if domain is None or domain.owner != user:
            raise fail(404, "Not found.")
        return domain

    def create_rrset(self, domain: StoredDomain, attrs: dict[str, Any]) -> StoredRRset:
        at = now()
        rrset = StoredRRset(attrs["subname"], attrs["type"], attrs["ttl"], attrs["records"], at, at, self.next_seq())
        domain.rrsets[(rrset.subname, rrset.type)] = rrset
        return rrset

    @staticmethod
    def update_rrset(rrset: StoredRRset, attrs: dict[str, Any]) -> bool:
        """Apply records/ttl; touched always moves. True if anything changed."""
        changed = False
        if "records" in attrs and sorted(attrs["records"]) != sorted(rrset.records):
            rrset.records = attrs["records"]
            changed = True
        if "ttl" in attrs and attrs["ttl"] != rrset.ttl:
            rrset.ttl = attrs["ttl"]
            changed = True
        rrset.touched = now()
        return changed

    @staticmethod
    def touch(domain: StoredDomain, *, published: bool) -> None:
        domain.touched = now()
        if published:
            domain.published = domain.touched

    # -- persistence

    def _add_domain(self, name: str, *, minimum_ttl: int | None, owner: str | None) -> StoredDomain:
        at = now()
        domain = StoredDomain(
            name=name,
            owner=owner or SANDBOX_ACCOUNT,
            minimum_ttl=minimum_ttl or self.config.minimum_ttl,
            created=at,
            seq=self.next_seq(),
            published=at,
            touched=at,
        )
        self.domains[name] = domain
        if self.config.default_ns:
            domain.rrsets[("", "NS")] = StoredRRset(
                "", "NS", 3600, list(self.config.default_ns), at, at, self.next_seq()
            )
        return domain

    def save(self) -> None:
        """Write the state file (if any) after a change."""
        path = self.config.state_file
        if path is None:
            return
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.state(), indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)

    def _load(self, path: Path) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        with self.lock:
            self._seq = int(data.get("seq", 0))
            self.domains = {}
            for d in data.get("domains", []):
                zone = StoredDomain(
                    name=d["name"],
                    owner=d.get("owner", SANDBOX_ACCOUNT),
                    minimum_ttl=d["minimum_ttl"],
                    created=parse_ts(d["created"]) or now(),
                    seq=d["seq"],
                    published=parse_ts(d.get("published")),
                    touched=parse_ts(d.get("touched")),
                )
                for r in d.get("rrsets", []):
                    zone.rrsets[(r["subname"], r["type"])] = StoredRRset(
                        r["subname"],
                        r["type"],
                        r["ttl"],
                        list(r["records"]),
                        parse_ts(r["created"]) or now(),
                        parse_ts(r["touched"]) or now(),
                        r["seq"],
                    )
                self.domains[zone.name] = zone
