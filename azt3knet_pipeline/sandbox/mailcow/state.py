"""The Mailcow stand-in's state (domains, mailboxes, aliases, DKIM keys), its persistence and its control API.

The control API is the same on both stand-ins: `counters()`, `state()`, `faults()` / `set_faults(...)`, `reset()`,
`reset_counters()`; here also `writes_received()` and `check_password()`. The handlers of the API routes live
in `domains`, `mailboxes`, `dkim` and `passwords`; they run under `lock` and report changes with `mutated()`
(a multi-item edit/delete through `answer_each`, which calls it once).
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from azt3knet_pipeline.sandbox.mailcow.config import WRITE_ACTIONS, FaultSettings, MailcowSandboxConfig
from azt3knet_pipeline.sandbox.mailcow.faults import BanList, draw_fault
from azt3knet_pipeline.sandbox.mailcow.passwords import password_problem, verify_password
from azt3knet_pipeline.sandbox.mailcow.php import mask_data

Entries = list[dict[str, Any]]
LogHead = tuple[str, str, str, Any]


class ItemAnswer(NamedTuple):
    """What a multi-item edit/delete answers for one item: its entry's type and msg, and whether state changed."""

    kind: str
    msg: Any
    changed: bool = False


def refused(msg: Any) -> ItemAnswer:
    """A "danger" entry: the item is left as it was."""
    return ItemAnswer("danger", msg)


def done(msg: Any, changed: bool = True) -> ItemAnswer:
    """A "success" entry; `changed` is False where Mailcow reports success for an item that did not exist."""
    return ItemAnswer("success", msg, changed)


def _empty_counters() -> dict[str, int]:
    return {"reads": 0, "writes": 0}


class MailcowSandbox:
    """State, counters and faults of the stand-in. Thread-safe (tests call it from their own thread)."""

    def __init__(self, config: MailcowSandboxConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self._counters = _empty_counters()
        self.write_log: Entries = []
        self.fault_counts: dict[str, int] = {}
        self.mutations = 0
        self._rng = random.Random(config.fault_seed)
        self.bans = BanList()
        self.auth_failure_count = 0
        self.domains: dict[str, dict[str, Any]] = {}
        self.mailboxes: dict[str, dict[str, Any]] = {}
        self.aliases: dict[str, dict[str, Any]] = {}
        self.dkim: dict[str, dict[str, Any]] = {}
        self.password_policy: dict[str, int] = config.password_policy.model_dump()
        # Observers called (under the lock) after every state change, e.g. the sandbox Dovecot's passwd-file.
        self.on_change: list[Callable[[MailcowSandbox], None]] = []
        self._load()
        self.rebuild_index()

    # -- control API

    def counters(self) -> dict[str, int]:
        """Requests by `METHOD action/category`, plus the `reads` and `writes` totals (a copy)."""
        with self.lock:
            return dict(self._counters)

    def state(self) -> dict[str, Any]:
        """Domains, mailboxes (without passwords), aliases and DKIM public data."""
        with self.lock:
            return {
                "domains": [dict(d) for d in self.domains.values()],
                "mailboxes": [{k: v for k, v in m.items() if k != "password_hash"} for m in self.mailboxes.values()],
                "aliases": [dict(a) for a in self.aliases.values()],
                "dkim": [
                    {"domain": d, "selector": k["selector"], "key_size": k["key_size"], "pubkey": k.get("pubkey")}
                    for d, k in self.dkim.items()
                ],
            }

    def faults(self) -> dict[str, Any]:
        """The fault settings and quirk switches in force."""
        with self.lock:
            return FaultSettings.model_validate(
                {k: getattr(self.config, k) for k in FaultSettings.model_fields}
            ).model_dump()

    def set_faults(self, **changes: Any) -> dict[str, Any]:
        """Change fault settings at runtime (validated); a new `fault_seed` re-seeds the generator."""
        with self.lock:
            checked = FaultSettings.model_validate({**self.faults(), **changes})
            for k in changes:
                setattr(self.config, k, getattr(checked, k))
            if "fault_seed" in changes:
                self._rng = random.Random(checked.fault_seed)
            return self.faults()

    def reset(self) -> None:
        """Wipe domains, mailboxes, aliases and DKIM keys (not counters, not faults)."""
        with self.lock:
            self.domains.clear()
            self.mailboxes.clear()
            self.aliases.clear()
            self.dkim.clear()
            self.password_policy = self.config.password_policy.model_dump()
            self.rebuild_index()
            self.persist()
            self._notify()

    def reset_counters(self) -> None:
        with self.lock:
            self._counters = _empty_counters()
            self.write_log = []
            self.fault_counts = {}
            self.mutations = 0
            self.auth_failure_count = 0

    def writes_received(self) -> Entries:
        """Every add/edit/delete request received since the last counter reset: method, route, masked body."""
        with self.lock:
            return [dict(w) for w in self.write_log]

    def check_password(self, address: str, password: str) -> bool:
        with self.lock:
            mailbox = self.mailboxes.get(address.strip().lower())
            return bool(mailbox) and verify_password(password, mailbox["password_hash"])

    # -- request bookkeeping (the routes call these)

    def count(self, method: str, action: str, category: str) -> None:
        with self.lock:
            key = f"{method} {action}/{category}" if category else f"{method} {action}"
            self._counters[key] = self._counters.get(key, 0) + 1
            if action == "get":
                self._counters["reads"] += 1
            elif action in WRITE_ACTIONS:
                self._counters["writes"] += 1

    def record_write(self, method: str, route: str, body: Any) -> None:
        """Remember a write request as received (passwords masked), before any fault is injected."""
        with self.lock:
            self.write_log.append({"method": method, "route": route, "body": mask_data(body)})

    def draw_fault(self, action: str) -> str:
        """The fault to inject into this request ("ok" for none), counted by kind."""
        with self.lock:
            fault = draw_fault(self.config, self._rng, action)
            if fault != "ok":
                self.fault_counts[fault] = self.fault_counts.get(fault, 0) + 1
            return fault

    def is_banned(self, ip: str) -> bool:
        with self.lock:
            return self.bans.is_banned(ip)

    def auth_failure(self, ip: str) -> None:
        with self.lock:
            self.auth_failure_count += 1
            self.bans.failure(ip, self.config)

    def ip_allowed(self, ip: str) -> bool:
        """Whether a valid key may be used from `ip` (`allowed_ips`; None = everyone)."""
        allowed = self.config.allowed_ips
        if allowed is None:
            return True
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr in ipaddress.ip_network(n.strip(), strict=False) for n in allowed)

    # -- helpers of the handlers

    @staticmethod
    def entry(kind: str, log: LogHead, msg: Any) -> dict[str, Any]:
        """One entry of the response envelope."""
        fn, action, typ, data = log
        return {"type": kind, "log": [fn, action, typ, data, None], "msg": msg}

    def answer_each(self, log: LogHead, items: list[Any], answer: Callable[[Any], ItemAnswer]) -> Entries:
        """One entry per item of a multi-item edit/delete, in order; persists once if any item changed state."""
        entries: Entries = []
        changed = False
        for item in items:
            kind, msg, item_changed = answer(item)
            changed = changed or item_changed
            entries.append(self.entry(kind, log, msg))
        if changed:
            self.mutated()
        return entries

    def password_check(self, password: Any, password2: Any) -> str | None:
        return password_problem(self.password_policy, password, password2)

    def mutated(self) -> None:
        """After every successful write: persist and tell the observers."""
        self.mutations += 1
        self.persist()
        self._notify()

    # Per-domain index (mailbox names, count, allocated quota) so that a population of 100k mailboxes is not
    # quadratic to create.

    def rebuild_index(self) -> None:
        self.by_domain: dict[str, dict[str, None]] = {}
        self._quota_sum: dict[str, int] = {}
        for box in self.mailboxes.values():
            self.index_add(box)

    def index_add(self, box: dict[str, Any]) -> None:
        self.by_domain.setdefault(box["domain"], {})[box["username"]] = None
        self._quota_sum[box["domain"]] = self._quota_sum.get(box["domain"], 0) + box["quota_mib"]

    def index_remove(self, box: dict[str, Any]) -> None:
        self.by_domain.get(box["domain"], {}).pop(box["username"], None)
        self._quota_sum[box["domain"]] = self._quota_sum.get(box["domain"], 0) - box["quota_mib"]

    def set_quota(self, box: dict[str, Any], quota_mib: int) -> None:
        self._quota_sum[box["domain"]] = self._quota_sum.get(box["domain"], 0) + quota_mib - box["quota_mib"]
        box["quota_mib"] = quota_mib

    def domain_usage(self, domain: str) -> tuple[int, int]:
        """(mailbox count, allocated quota MiB) of a domain."""
        return len(self.by_domain.get(domain, {})), self._quota_sum.get(domain, 0)

    def biggest_mailbox(self, domain: str) -> int:
        return max((self.mailboxes[u]["quota_mib"] for u in self.by_domain.get(domain, {})), default=0)

    def alias_count(self, domain: str) -> int:
        return sum(1 for a in self.aliases.values() if a["domain"] == domain and a["address"] not in self.mailboxes)

    # -- persistence

    def _load(self) -> None:
        path = self.config.state_file
        if not path or not Path(path).exists():
            return
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        self.domains = {d["domain_name"]: d for d in data.get("domains", [])}
        self.mailboxes = {m["username"]: m for m in data.get("mailboxes", [])}
        self.aliases = {a["address"]: a for a in data.get("aliases", [])}
        self.dkim = dict(data.get("dkim", {}))
        self.password_policy = data.get("password_policy", self.password_policy)

    def persist(self) -> None:
        path = self.config.state_file
        if not path:
            return
        data = {
            "domains": list(self.domains.values()),
            "mailboxes": list(self.mailboxes.values()),
            "aliases": list(self.aliases.values()),
            "dkim": self.dkim,
            "password_policy": self.password_policy,
        }
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, target)

    def _notify(self) -> None:
        for observer in self.on_change:
            observer(self)
