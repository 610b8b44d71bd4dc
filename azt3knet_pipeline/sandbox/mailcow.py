"""A local Mailcow stand-in (ASGI, Starlette) reproducing `shared/contracts/mailcow.md`, quirks included.

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

Debug routes, no auth, under `/_sandbox/`: counters, faults, state, reset.

Not reproduced: categories other than domain/mailbox/dkim/passwordpolicy (they answer 404), aliases and alias
domains as API objects (only the self-alias bookkeeping), sessions/UI, SOGo, rate-limit objects beyond echoing
`rl_saved`, app passwords. Passwords are stored as salted SHA-256 (`{SSHA256}`, as Mailcow does) and are
never returned by any route.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import os
import random
import re
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs

import anyio
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

MIB = 1024 * 1024
ACTIONS = ("add", "get", "edit", "delete", "search")
WRITE_ACTIONS = frozenset({"add", "edit", "delete"})
RAW_SEND_KEY = "azt3knet.raw_send"
PASSWORD_FIELDS = frozenset({"password", "password2", "app_passwd", "app_passwd2", "password_new"})
FAULT_KINDS = frozenset(
    {
        "ok",
        "429",
        "502",
        "503",
        "504",
        "error",
        "error_after_apply",
        "timeout",
        "timeout_after_apply",
        "drop",
        "drop_after_apply",
        "empty_200",
    }
)
DKIM_KEY_SIZES = frozenset({1024, 2048, 3072, 4096})

# Domain template "Default" (contract section 2).
DOMAIN_DEFAULTS: dict[str, Any] = {
    "aliases": 400,
    "mailboxes": 10,
    "defquota": 3072,
    "maxquota": 10240,
    "quota": 10240,
    "active": 1,
    "backupmx": 0,
    "gal": 1,
    "relay_all_recipients": 0,
    "relay_unknown_only": 0,
    "key_size": 2048,
    "dkim_selector": "dkim",
}
MAILBOX_ATTRIBUTE_DEFAULTS: dict[str, str] = {
    "force_pw_update": "0",
    "force_tfa": "0",
    "tls_enforce_in": "0",
    "tls_enforce_out": "0",
    "sogo_access": "1",
    "imap_access": "1",
    "pop3_access": "1",
    "smtp_access": "1",
    "sieve_access": "1",
    "eas_access": "1",
    "dav_access": "1",
    "relayhost": "0",
    "passwd_update": "",
    "mailbox_format": "maildir:",
    "quarantine_notification": "hourly",
    "quarantine_category": "reject",
    "attribute_hash": "",
}
ACCESS_FLAGS = (
    "sogo_access",
    "imap_access",
    "pop3_access",
    "smtp_access",
    "sieve_access",
    "eas_access",
    "dav_access",
)


# --------------------------------------------------------------------------------------------- config


class PasswordPolicy(BaseModel):
    """redis `PASSWD_POLICY`; defaults as set by the php-fpm entrypoint."""

    model_config = ConfigDict(extra="forbid")

    length: int = Field(6, ge=3)
    chars: int = Field(0, ge=0, le=1)
    special_chars: int = Field(0, ge=0, le=1)
    lowerupper: int = Field(0, ge=0, le=1)
    numbers: int = Field(0, ge=0, le=1)


FaultApply = Literal["never", "always", "random"]


class FaultSettings(BaseModel):
    """The runtime-changeable part of the config (`POST /_sandbox/faults`)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    latency_ms: float = Field(0.0, ge=0)
    error_rate: float = Field(0.0, ge=0, le=1)
    error_after_apply_rate: float = Field(0.0, ge=0, le=1)
    timeout_rate: float = Field(0.0, ge=0, le=1)
    timeout_seconds: float = Field(30.0, gt=0)
    timeout_applies: FaultApply = "random"
    drop_rate: float = Field(0.0, ge=0, le=1)
    drop_applies: FaultApply = "never"
    rate_429: float = Field(0.0, ge=0, le=1)
    retry_after_seconds: int = Field(1, ge=0)
    fault_actions: list[str] = Field(default_factory=lambda: ["add", "edit", "delete", "get"])
    fault_queue: list[str] = Field(default_factory=list)
    fault_seed: int | None = None
    # A crashed PHP handler (contract §7): HTTP 200, empty body, nothing applied. Drawn like the other rates.
    empty_200_rate: float = Field(0.0, ge=0, le=1)
    # Someone else creates these addresses (untagged, their own password) just before our add/mailbox reaches
    # the server: the "between list and create" race. One-shot per address.
    foreign_race_addresses: list[str] = Field(default_factory=list)
    # Contract §7 behaviours of the real code, each switchable (True = as the real code does).
    quirk_mailbox_all_missing_domain_lists_all: bool = True
    quirk_rl_saved_entry: bool = True
    quirk_int_fields: bool = True
    quirk_untagged_domain_has_no_tags_key: bool = True
    quirk_delete_domain_keeps_dkim: bool = True
    quirk_edit_missing_domain_invalid: bool = True

    @field_validator("fault_queue")
    @classmethod
    def _known_faults(cls, v: list[str]) -> list[str]:
        unknown = [f for f in v if f not in FAULT_KINDS]
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; known: {sorted(FAULT_KINDS)}")
        return v


class MailcowSandboxConfig(FaultSettings):
    """Everything the stand-in can be told. Fault fields (inherited) can be changed at runtime.

    - `rw_keys` / `ro_keys`: accepted API keys (characters outside `[a-zA-Z0-9-]` are not allowed).
    - `allowed_ips`: IPs/CIDRs allowed to use a valid key; None = everyone.
    - Faults: `error_rate` (502/503 before applying), `error_after_apply_rate` (applied, then 503),
      `timeout_rate` (answer after `timeout_seconds`; applied per `timeout_applies`), `drop_rate` (connection
      aborted without a response; applied per `drop_applies`), `rate_429` (429 + `Retry-After:
      retry_after_seconds`). `fault_queue` scripts the next faults (one per request of `fault_actions`),
      before the random rates; `fault_seed` makes the rates reproducible.
    - `state_file`: persist the state as JSON after every write (and load it at start).
    - `empty_200_rate` / fault kind `empty_200`: a crashed handler (HTTP 200, empty body, nothing applied); an
      add/mailbox whose `name` is longer than 255 characters crashes the same way (a database error).
    - `foreign_race_addresses`: someone else creates the mailbox just before our add/mailbox arrives.
    - `quirk_*`: contract §7 behaviours of the real code, on by default; switch one off to see a client
      depend on it. Every write received is recorded (`writes_received()`, `GET /_sandbox/writes`).
    - `ban_after_failures`: emulate fail2ban (bad keys from one IP within `ban_window_seconds` -> that IP's
      connections are dropped for `ban_seconds`); None = off.
    """

    rw_keys: list[str] = Field(default_factory=lambda: ["SANDBOX-RW-KEY"])
    ro_keys: list[str] = Field(default_factory=lambda: ["SANDBOX-RO-KEY"])
    allowed_ips: list[str] | None = None
    mailcow_hostname: str = "mail.example.test"
    state_file: str | None = None
    password_policy: PasswordPolicy = Field(default_factory=PasswordPolicy)
    split_dkim_255: bool = False
    show_dkim_priv_keys: bool = False
    dkim_reuse_keys: bool = False
    tagging_limit: int = 25
    ban_after_failures: int | None = None
    ban_window_seconds: float = 600.0
    ban_seconds: float = 1800.0

    @field_validator("rw_keys", "ro_keys")
    @classmethod
    def _key_chars(cls, v: list[str]) -> list[str]:
        for key in v:
            if not re.fullmatch(r"[A-Za-z0-9-]+", key):
                raise ValueError("API keys may contain only a-z A-Z 0-9 and '-'")
        return v

    @field_validator("allowed_ips")
    @classmethod
    def _networks(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            for entry in v:
                ipaddress.ip_network(entry.strip(), strict=False)
        return v


# ------------------------------------------------------------------------------------- PHP-ish helpers


def php_intval(value: Any) -> int:
    """PHP `intval`/`(int)`: leading integer of a string, 0 for junk, bools as 0/1."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if value is None:
        return 0
    match = re.match(r"\s*([+-]?\d+)", str(value))
    return int(match.group(1)) if match else 0


def php_is_numeric(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return bool(re.fullmatch(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*", str(value)))


def php_empty(value: Any) -> bool:
    """PHP `empty()`: null, false, 0, 0.0, "", "0", [] are empty."""
    if value is None or value is False or value == "" or value == "0":
        return True
    if isinstance(value, int | float) and value == 0:
        return True
    return isinstance(value, list | dict) and not value


def idn_to_ascii(domain: str) -> str:
    domain = domain.strip().lower().rstrip(".")
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


_DOMAIN_RE_1 = re.compile(r"^([a-z\d](-*[a-z\d])*)(\.([a-z\d](-*[a-z\d])*))*$", re.I)
_DOMAIN_RE_2 = re.compile(r"^.{1,253}$")
_DOMAIN_RE_3 = re.compile(r"^[^.]{1,63}(\.[^.]{1,63})*$")


def is_valid_domain_name(domain: str) -> bool:
    """Mailcow's `is_valid_domain_name` (functions.inc.php)."""
    if not domain:
        return False
    domain = idn_to_ascii(domain)
    return bool(_DOMAIN_RE_1.match(domain) and _DOMAIN_RE_2.match(domain) and _DOMAIN_RE_3.match(domain))


_LOCAL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")


def is_valid_email(address: str) -> bool:
    """Close to PHP's FILTER_VALIDATE_EMAIL: dot-atom local part, a domain with at least one dot."""
    if address.count("@") != 1:
        return False
    local, domain = address.split("@")
    if not local or len(local) > 64 or not _LOCAL_RE.match(local):
        return False
    return "." in domain and is_valid_domain_name(domain) and len(address) <= 254


def hash_password(password: str) -> str:
    salt = os.urandom(8)
    digest = hashlib.sha256(password.encode() + salt).digest()
    return "{SSHA256}" + base64.b64encode(digest + salt).decode()


def verify_password(password: str, stored: str) -> bool:
    if not stored.startswith("{SSHA256}"):
        return False
    raw = base64.b64decode(stored[len("{SSHA256}") :])
    digest, salt = raw[:32], raw[32:]
    return hmac.compare_digest(hashlib.sha256(password.encode() + salt).digest(), digest)


def mask_data(data: Any) -> Any:
    """The `log` copy of request data: password fields replaced by "*"."""
    if isinstance(data, dict):
        return {k: ("*" if k in PASSWORD_FIELDS else mask_data(v)) for k, v in data.items()}
    if isinstance(data, list):
        return [mask_data(v) for v in data]
    return data


def _idn_to_unicode(domain: str) -> str:
    try:
        return domain.encode("ascii").decode("idna")
    except UnicodeError:
        return domain


def _log(fn: str, action: str, typ: str, data: Any) -> tuple[str, str, str, Any]:
    """The `log` head of envelope entries; request data masked once per request (shared by its entries)."""
    return (fn, action, typ, mask_data(data))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


_RSA_CACHE: dict[int, tuple[str, str]] = {}
_RSA_LOCK = threading.Lock()


def generate_dkim_key(bits: int, reuse: bool = False) -> tuple[str, str]:
    """(private key PEM, base64 SPKI DER public key). `reuse` shares one key per size (fast, unrealistic)."""
    if reuse:
        with _RSA_LOCK:
            if bits in _RSA_CACHE:
                return _RSA_CACHE[bits]
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    priv = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    pub = base64.b64encode(
        key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()
    if reuse:
        with _RSA_LOCK:
            _RSA_CACHE.setdefault(bits, (priv, pub))
            return _RSA_CACHE[bits]
    return priv, pub


def _dkim_length(pubkey: str) -> str:
    """Mailcow estimates the key size from the base64 length of the public key."""
    n = len(pubkey)
    if n < 391:
        return "1024"
    if n < 564:
        return "2048"
    if n < 736:
        return "3072"
    if n < 1416:
        return "4096"
    return ">= 8192"


def _json(data: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(data, separators=(",", ":"), ensure_ascii=False),
        status_code=status,
        media_type="application/json",
    )


def _error(status: int, msg: str) -> Response:
    return _json({"type": "error", "msg": msg}, status)


# --------------------------------------------------------------------------------------------- state


class MailcowSandbox:
    """State, counters and handlers. Thread-safe (tests call it from their own thread)."""

    def __init__(self, config: MailcowSandboxConfig) -> None:
        self.config = config
        self._lock = threading.RLock()
        self.counters: dict[str, int] = {"reads": 0, "writes": 0}
        self.write_log: list[dict[str, Any]] = []
        self.fault_counts: dict[str, int] = {}
        self.mutations = 0
        self._rng = random.Random(config.fault_seed)
        self._auth_failures: dict[str, list[float]] = {}
        self._banned_until: dict[str, float] = {}
        self.domains: dict[str, dict[str, Any]] = {}
        self.mailboxes: dict[str, dict[str, Any]] = {}
        self.aliases: dict[str, dict[str, Any]] = {}
        self.dkim: dict[str, dict[str, Any]] = {}
        self.password_policy: dict[str, int] = config.password_policy.model_dump()
        self.auth_failure_count = 0
        # Observers called (under the lock) after every state change, e.g. the sandbox Dovecot's passwd-file.
        self.on_change: list[Callable[[MailcowSandbox], None]] = []
        self._load()
        self._rebuild_index()

    # -- public helpers for tests

    def check_password(self, address: str, password: str) -> bool:
        with self._lock:
            mailbox = self.mailboxes.get(address.strip().lower())
            return bool(mailbox) and verify_password(password, mailbox["password_hash"])

    def reset(self) -> None:
        """Wipe domains, mailboxes, aliases and DKIM keys (not counters, not faults)."""
        with self._lock:
            self.domains.clear()
            self.mailboxes.clear()
            self.aliases.clear()
            self.dkim.clear()
            self.password_policy = self.config.password_policy.model_dump()
            self._rebuild_index()
            self._persist()
            self._notify()

    def reset_counters(self) -> None:
        with self._lock:
            self.counters = {"reads": 0, "writes": 0}
            self.write_log = []
            self.fault_counts = {}
            self.mutations = 0
            self.auth_failure_count = 0

    def faults(self) -> dict[str, Any]:
        with self._lock:
            return FaultSettings.model_validate(
                {k: getattr(self.config, k) for k in FaultSettings.model_fields}
            ).model_dump()

    def update_faults(self, **changes: Any) -> dict[str, Any]:
        """Change fault settings at runtime (validated); a new `fault_seed` re-seeds the generator."""
        with self._lock:
            merged = {**self.faults(), **changes}
            checked = FaultSettings.model_validate(merged)
            for k in changes:
                setattr(self.config, k, getattr(checked, k))
            if "fault_seed" in changes:
                self._rng = random.Random(checked.fault_seed)
            return self.faults()

    def record_write(self, method: str, route: str, body: Any) -> None:
        """Remember a write request as received (passwords masked), before any fault is injected."""
        with self._lock:
            self.write_log.append({"method": method, "route": route, "body": mask_data(body)})

    def writes_received(self) -> list[dict[str, Any]]:
        """Every add/edit/delete request received since the last counter reset: method, route, masked body."""
        with self._lock:
            return [dict(w) for w in self.write_log]

    def race_foreign_mailbox(self, data: Any) -> None:
        """If this add/mailbox targets a `foreign_race_addresses` entry, someone else creates it first."""
        if not isinstance(data, dict):
            return
        address = f"{str(data.get('local_part') or '').strip().lower()}@{idn_to_ascii(str(data.get('domain') or ''))}"
        with self._lock:
            if address not in self.config.foreign_race_addresses:
                return
            self.config.foreign_race_addresses = [a for a in self.config.foreign_race_addresses if a != address]
            local, _, domain = address.partition("@")
            self.add_mailbox(
                {"local_part": local, "domain": domain, "password": "Someone-elses-1", "password2": "Someone-elses-1"},
                True,
            )

    def snapshot(self) -> dict[str, Any]:
        """Domains, mailboxes (without passwords), aliases and DKIM public data."""
        with self._lock:
            return {
                "domains": [dict(d) for d in self.domains.values()],
                "mailboxes": [{k: v for k, v in m.items() if k != "password_hash"} for m in self.mailboxes.values()],
                "aliases": [dict(a) for a in self.aliases.values()],
                "dkim": [
                    {
                        "domain": d,
                        "selector": k["selector"],
                        "key_size": k["key_size"],
                        "pubkey": k.get("pubkey"),
                    }
                    for d, k in self.dkim.items()
                ],
            }

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

    def _persist(self) -> None:
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

    def _mutated(self) -> None:
        self.mutations += 1
        self._persist()
        self._notify()

    def _notify(self) -> None:
        for observer in self.on_change:
            observer(self)

    # -- counters, faults, bans

    def count(self, method: str, action: str, category: str) -> None:
        with self._lock:
            key = f"{method} {action}/{category}" if category else f"{method} {action}"
            self.counters[key] = self.counters.get(key, 0) + 1
            if action == "get":
                self.counters["reads"] += 1
            elif action in WRITE_ACTIONS:
                self.counters["writes"] += 1

    def draw_fault(self, action: str) -> str:
        with self._lock:
            cfg = self.config
            if action not in cfg.fault_actions:
                return "ok"
            if cfg.fault_queue:
                queue = list(cfg.fault_queue)
                fault = queue.pop(0)
                cfg.fault_queue = queue
            else:
                r = self._rng.random()
                fault = "ok"
                edge = 0.0
                for rate, kind in (
                    (cfg.rate_429, "429"),
                    (cfg.error_rate, "error"),
                    (cfg.timeout_rate, "timeout"),
                    (cfg.drop_rate, "drop"),
                    (cfg.error_after_apply_rate, "error_after_apply"),
                    (cfg.empty_200_rate, "empty_200"),
                ):
                    edge += rate
                    if r < edge:
                        fault = kind
                        break
                if fault == "error":
                    fault = self._rng.choice(["502", "503"])
                elif fault in ("timeout", "drop"):
                    mode = cfg.timeout_applies if fault == "timeout" else cfg.drop_applies
                    if mode == "always" or (mode == "random" and self._rng.random() < 0.5):
                        fault += "_after_apply"
            if fault == "error":
                fault = "503"
            if fault != "ok":
                self.fault_counts[fault] = self.fault_counts.get(fault, 0) + 1
            return fault

    def is_banned(self, ip: str) -> bool:
        with self._lock:
            until = self._banned_until.get(ip)
            if until is None:
                return False
            if time.monotonic() >= until:
                del self._banned_until[ip]
                return False
            return True

    def auth_failure(self, ip: str) -> None:
        with self._lock:
            self.auth_failure_count += 1
            limit = self.config.ban_after_failures
            if limit is None:
                return
            now = time.monotonic()
            recent = [t for t in self._auth_failures.get(ip, []) if now - t < self.config.ban_window_seconds]
            recent.append(now)
            self._auth_failures[ip] = recent
            if len(recent) >= limit:
                self._banned_until[ip] = now + self.config.ban_seconds
                self._auth_failures[ip] = []

    def ip_allowed(self, ip: str) -> bool:
        allowed = self.config.allowed_ips
        if allowed is None:
            return True
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr in ipaddress.ip_network(n.strip(), strict=False) for n in allowed)

    # -- envelope helpers

    @staticmethod
    def _entry(kind: str, log: tuple[str, str, str, Any], msg: Any) -> dict[str, Any]:
        fn, action, typ, data = log
        return {"type": kind, "log": [fn, action, typ, data, None], "msg": msg}

    def _password_check(self, password: Any, password2: Any) -> str | None:
        policy = self.password_policy
        p1 = "" if password is None else str(password)
        p2 = "" if password2 is None else str(password2)
        if not p1 or not p2 or len(p1) < int(policy.get("length", 6)):
            return "password_complexity"
        if int(policy.get("chars", 0)) and not re.search(r"[A-Za-z]", p1):
            return "password_complexity"
        if int(policy.get("special_chars", 0)) and not re.search(r"[^A-Za-z0-9]", p1):
            return "password_complexity"
        if int(policy.get("lowerupper", 0)) and not (re.search(r"[a-z]", p1) and re.search(r"[A-Z]", p1)):
            return "password_complexity"
        if int(policy.get("numbers", 0)) and not re.search(r"\d", p1):
            return "password_complexity"
        if p1 != p2:
            return "password_mismatch"
        return None

    # Per-domain index (mailbox names, count, allocated quota) so that a population of 100k mailboxes is not
    # quadratic to create.

    def _rebuild_index(self) -> None:
        self._by_domain: dict[str, dict[str, None]] = {}
        self._quota_sum: dict[str, int] = {}
        for box in self.mailboxes.values():
            self._index_add(box)

    def _index_add(self, box: dict[str, Any]) -> None:
        self._by_domain.setdefault(box["domain"], {})[box["username"]] = None
        self._quota_sum[box["domain"]] = self._quota_sum.get(box["domain"], 0) + box["quota_mib"]

    def _index_remove(self, box: dict[str, Any]) -> None:
        self._by_domain.get(box["domain"], {}).pop(box["username"], None)
        self._quota_sum[box["domain"]] = self._quota_sum.get(box["domain"], 0) - box["quota_mib"]

    def _set_quota(self, box: dict[str, Any], quota_mib: int) -> None:
        self._quota_sum[box["domain"]] = self._quota_sum.get(box["domain"], 0) + quota_mib - box["quota_mib"]
        box["quota_mib"] = quota_mib

    def _domain_usage(self, domain: str) -> tuple[int, int]:
        """(mailbox count, allocated quota MiB) of a domain."""
        return len(self._by_domain.get(domain, {})), self._quota_sum.get(domain, 0)

    def _biggest_mailbox(self, domain: str) -> int:
        return max((self.mailboxes[u]["quota_mib"] for u in self._by_domain.get(domain, {})), default=0)

    def _alias_count(self, domain: str) -> int:
        return sum(1 for a in self.aliases.values() if a["domain"] == domain and a["address"] not in self.mailboxes)

    # -- add

    def add_domain(self, data: dict[str, Any], admin: bool) -> list[dict[str, Any]]:
        log = _log("mailbox", "add", "domain", data)

        def danger(msg: Any) -> list[dict[str, Any]]:
            return [self._entry("danger", log, msg)]

        if not admin:
            return danger("access_denied")

        def pick(k: str) -> Any:
            v = data.get(k)
            return DOMAIN_DEFAULTS[k] if v is None else v

        raw_domain = str(data.get("domain") or "")
        aliases_raw, mailboxes_raw = pick("aliases"), pick("mailboxes")
        defquota_raw, maxquota_raw, quota_raw = pick("defquota"), pick("maxquota"), pick("quota")
        defquota, maxquota, quota = php_intval(defquota_raw), php_intval(maxquota_raw), php_intval(quota_raw)
        if defquota > maxquota:
            return danger("mailbox_defquota_exceeds_mailbox_maxquota")
        if maxquota > quota:
            return danger("mailbox_quota_exceeds_domain_quota")
        if defquota <= 0:
            return danger("defquota_empty")
        if maxquota <= 0:
            return danger("maxquota_empty")
        domain = idn_to_ascii(raw_domain)
        if not is_valid_domain_name(domain):
            return danger("domain_invalid")
        for value in (aliases_raw, mailboxes_raw, maxquota_raw, quota_raw):
            if not php_is_numeric(value):
                return danger(["object_is_not_numeric", str(value)])
        if domain in self.domains:
            return danger(["domain_exists", domain])
        if domain == self.config.mailcow_hostname.lower():
            return danger("domain_cannot_match_hostname")
        tags = data.get("tags") or []
        if isinstance(tags, str):
            tags = [tags]
        now = _now()
        description = data.get("description")
        self.domains[domain] = {
            "domain_name": domain,
            "description": domain if description in (None, "") else str(description).replace("<", "").replace(">", ""),
            "aliases": php_intval(aliases_raw),
            "mailboxes": php_intval(mailboxes_raw),
            "defquota": defquota,
            "maxquota": maxquota,
            "quota": quota,
            "active": 1 if php_intval(pick("active")) else 0,
            "backupmx": 1 if php_intval(pick("backupmx")) else 0,
            "gal": 1 if php_intval(pick("gal")) else 0,
            "relay_all_recipients": 1 if php_intval(pick("relay_all_recipients")) else 0,
            "relay_unknown_only": 1 if php_intval(pick("relay_unknown_only")) else 0,
            "relayhost": "0",
            "tags": list(dict.fromkeys(str(t) for t in tags if str(t))),
            "rl": None,
            "created": now,
            "modified": now,
        }
        entries: list[dict[str, Any]] = []
        key_size = data.get("key_size", DOMAIN_DEFAULTS["key_size"])
        selector = data.get("dkim_selector", DOMAIN_DEFAULTS["dkim_selector"])
        key_size = DOMAIN_DEFAULTS["key_size"] if key_size is None else key_size
        selector = DOMAIN_DEFAULTS["dkim_selector"] if selector is None else selector
        if not php_empty(key_size) and not php_empty(selector):
            if domain in self.dkim:
                entries.append(self._entry("success", log, ["domain_add_dkim_available", domain]))
            else:
                entries.extend(self._add_dkim([domain], str(selector), key_size, log_fn="dkim"))
        rl_value = data.get("rl_value")
        if not php_empty(rl_value):
            frame = str(data.get("rl_frame") or "s")
            self.domains[domain]["rl"] = {"value": php_intval(rl_value), "frame": frame}
            entries.append(self._entry("success", log, ["rl_saved", domain]))
        entries.append(self._entry("success", log, ["domain_added", domain]))
        self._mutated()
        return entries

    def _add_dkim(self, domains: list[str], selector: str, key_size: Any, log_fn: str = "dkim") -> list[dict[str, Any]]:
        data = {"domains": " ".join(domains), "dkim_selector": selector, "key_size": key_size}
        log = _log(log_fn, "add", "dkim", data)
        entries: list[dict[str, Any]] = []
        for raw in domains:
            domain = idn_to_ascii(raw)
            if not domain:
                continue
            if not is_valid_domain_name(domain) or not php_is_numeric(key_size):
                entries.append(self._entry("danger", log, ["dkim_domain_or_sel_invalid", domain]))
                continue
            if domain in self.dkim:
                entries.append(self._entry("danger", log, ["dkim_domain_or_sel_invalid", domain]))
                continue
            if not selector or not re.fullmatch(r"[A-Za-z0-9._-]+", selector):
                entries.append(self._entry("danger", log, ["dkim_domain_or_sel_invalid", domain]))
                continue
            if domain not in self.domains:
                entries.append(self._entry("danger", log, ["access_denied", domain]))
                continue
            bits = php_intval(key_size)
            if bits not in DKIM_KEY_SIZES:  # openssl would fail or take minutes
                entries.append(self._entry("danger", log, ["dkim_domain_or_sel_invalid", domain]))
                continue
            # The key itself is generated lazily, on first read (RSA generation is slow).
            self.dkim[domain] = {"selector": selector, "key_size": bits, "privkey": None, "pubkey": None}
            entries.append(self._entry("success", log, ["dkim_added", domain]))
        return entries

    def add_dkim(self, data: dict[str, Any], admin: bool) -> list[dict[str, Any]]:
        log = _log("dkim", "add", "dkim", data)
        if not admin:
            return [self._entry("danger", log, "access_denied")]
        domains = re.split(r"[ ,;\n]+", str(data.get("domains") or "").strip())
        selector = data.get("dkim_selector")
        selector = "dkim" if selector in (None, "") else str(selector)
        entries = self._add_dkim([d for d in domains if d], selector, data.get("key_size", 2048))
        if any(e["type"] == "success" for e in entries):
            self._mutated()
        return entries

    def add_mailbox(self, data: dict[str, Any], admin: bool) -> list[dict[str, Any]]:
        log = _log("mailbox", "add", "mailbox", data)

        def danger(msg: Any) -> list[dict[str, Any]]:
            return [self._entry("danger", log, msg)]

        local_part = str(data.get("local_part") or "").strip().lower()
        domain = idn_to_ascii(str(data.get("domain") or ""))
        username = f"{local_part}@{domain}"
        if not local_part or not is_valid_email(username):
            return danger("mailbox_invalid")
        category = data.get("quarantine_category")
        if category not in (None, "") and category not in ("add_header", "reject", "all"):
            return danger("quarantine_category_invalid")
        if not is_valid_domain_name(domain):
            return danger("domain_invalid")
        if not admin or domain not in self.domains:
            return danger("access_denied")
        if username in self.mailboxes:
            return danger(["object_exists", username])
        if username in self.aliases:
            return danger(["is_alias", username])
        authsource = str(data.get("authsource") or "mailcow")
        password = data.get("password")
        if authsource == "mailcow":
            problem = self._password_check(password, data.get("password2"))
            if problem:
                return danger(problem)
        dom = self.domains[domain]
        count, quota_all = self._domain_usage(domain)
        if count >= dom["mailboxes"]:
            return danger(["max_mailbox_exceeded", count, dom["mailboxes"]])
        quota_m = php_intval(data.get("quota")) if data.get("quota") is not None else 0
        if quota_m > dom["maxquota"]:
            return danger(["mailbox_quota_exceeded", dom["maxquota"]])
        if quota_all + quota_m > dom["quota"]:
            return danger(["mailbox_quota_left_exceeded", dom["quota"] - quota_all])
        entries: list[dict[str, Any]] = []
        tags_in = data.get("tags") or []
        if isinstance(tags_in, str):
            tags_in = [tags_in]
        tags = list(dict.fromkeys(str(t) for t in tags_in if str(t)))
        if len(tags) > self.config.tagging_limit:
            tags = tags[: self.config.tagging_limit]
            entries.append(self._entry("warning", log, ["tag_limit_exceeded", self.config.tagging_limit]))
        attributes = dict(MAILBOX_ATTRIBUTE_DEFAULTS)
        for k in ("force_pw_update", "force_tfa", "tls_enforce_in", "tls_enforce_out", *ACCESS_FLAGS):
            if data.get(k) is not None:
                attributes[k] = "1" if php_intval(data[k]) else "0"
        if isinstance(data.get("protocol_access"), list):
            granted = {str(p) for p in data["protocol_access"]}
            for flag in ACCESS_FLAGS:
                attributes[flag] = "1" if flag.removesuffix("_access") in granted else "0"
        for k in ("quarantine_notification", "quarantine_category", "attribute_hash"):
            if data.get(k) not in (None, ""):
                attributes[k] = str(data[k])
        if data.get("relayhost") is not None:
            attributes["relayhost"] = str(php_intval(data["relayhost"]))
        now = _now()
        name = data.get("name")
        name = local_part if name in (None, "") else str(name).replace("<", "").replace(">", "")
        self.mailboxes[username] = {
            "username": username,
            "local_part": local_part,
            "domain": domain,
            "name": name,
            "password_hash": hash_password(str(password or "")),
            "quota_mib": quota_m,
            "active": 1 if php_intval(data.get("active", 1)) else 0,
            "authsource": authsource,
            "attributes": attributes,
            "tags": tags,
            "created": now,
            "modified": now,
        }
        self._index_add(self.mailboxes[username])
        self.aliases[username] = {"address": username, "goto": username, "domain": domain, "active": 1}
        if self.config.quirk_rl_saved_entry:  # the real code appends it first, even without a rate limit
            entries.append(self._entry("success", log, ["rl_saved", username]))
        entries.append(self._entry("success", log, ["mailbox_added", username]))
        self._mutated()
        return entries

    # -- edit

    def edit_mailbox(self, items: list[Any], attr: dict[str, Any], admin: bool) -> list[dict[str, Any]]:
        log = _log("mailbox", "edit", "mailbox", {**attr, "username": items})
        entries: list[dict[str, Any]] = []
        changed = False
        for item in items:
            username = str(item).strip().lower()
            if not is_valid_email(username):
                entries.append(self._entry("danger", log, ["username_invalid", str(item)]))
                continue
            box = self.mailboxes.get(username)
            if not admin or box is None:
                entries.append(self._entry("danger", log, "access_denied"))
                continue
            dom = self.domains[box["domain"]]
            quota_m = box["quota_mib"]
            if attr.get("quota") is not None:
                quota_m = php_intval(attr["quota"])
                _count, quota_all = self._domain_usage(box["domain"])
                left = dom["quota"] - (quota_all - box["quota_mib"])
                if quota_m > left:
                    entries.append(self._entry("danger", log, ["mailbox_quota_left_exceeded", left]))
                    continue
                if quota_m > dom["maxquota"]:
                    entries.append(self._entry("danger", log, ["mailbox_quota_exceeded", dom["maxquota"]]))
                    continue
            new_hash = None
            if attr.get("password") not in (None, ""):
                problem = self._password_check(attr.get("password"), attr.get("password2"))
                if problem:
                    entries.append(self._entry("danger", log, problem))
                    continue
                new_hash = hash_password(str(attr["password"]))
            if new_hash:
                box["password_hash"] = new_hash
                box["attributes"]["passwd_update"] = _now()
            self._set_quota(box, quota_m)
            if attr.get("active") is not None:
                box["active"] = 1 if php_intval(attr["active"]) else 0
            if attr.get("name") is not None:
                box["name"] = str(attr["name"]).replace("<", "").replace(">", "")
            if attr.get("authsource") not in (None, ""):
                box["authsource"] = str(attr["authsource"])
            for k in ("force_pw_update", "force_tfa", *ACCESS_FLAGS):
                if attr.get(k) is not None:
                    box["attributes"][k] = "1" if php_intval(attr[k]) else "0"
            if isinstance(attr.get("protocol_access"), list):
                granted = {str(p) for p in attr["protocol_access"]}
                for flag in ACCESS_FLAGS:
                    box["attributes"][flag] = "1" if flag.removesuffix("_access") in granted else "0"
            if attr.get("relayhost") is not None:
                box["attributes"]["relayhost"] = str(php_intval(attr["relayhost"]))
            if attr.get("attribute_hash") is not None:
                box["attributes"]["attribute_hash"] = str(attr["attribute_hash"])
            tags = attr.get("tags")
            if isinstance(tags, str):
                tags = [tags]
            if isinstance(tags, list):  # tags are ADDED, existing ones are kept
                for tag in tags:
                    tag = str(tag)
                    if tag and tag not in box["tags"] and len(box["tags"]) < self.config.tagging_limit:
                        box["tags"].append(tag)
            box["modified"] = _now()
            changed = True
            entries.append(self._entry("success", log, ["mailbox_modified", username]))
        if changed:
            self._mutated()
        return entries

    def edit_domain(self, items: list[Any], attr: dict[str, Any], admin: bool) -> list[dict[str, Any]]:
        log = _log("mailbox", "edit", "domain", {**attr, "domain": items})
        entries: list[dict[str, Any]] = []
        changed = False
        for item in items:
            domain = idn_to_ascii(str(item))
            if not is_valid_domain_name(domain):
                entries.append(self._entry("danger", log, "domain_invalid"))
                continue
            dom = self.domains.get(domain)
            if admin and dom is None and self.config.quirk_edit_missing_domain_invalid:
                entries.append(self._entry("danger", log, ["domain_invalid", domain]))
                continue
            if not admin or dom is None:
                entries.append(self._entry("danger", log, "access_denied"))
                continue

            def pick(k: str, dom: dict[str, Any] = dom) -> int:
                return php_intval(attr[k]) if attr.get(k) is not None else int(dom[k])

            defquota, maxquota, quota = pick("defquota"), pick("maxquota"), pick("quota")
            mailboxes, aliases = pick("mailboxes"), pick("aliases")
            count, quota_all = self._domain_usage(domain)
            biggest = self._biggest_mailbox(domain)
            problem: Any = None
            if defquota > maxquota:
                problem = "mailbox_defquota_exceeds_mailbox_maxquota"
            elif maxquota > quota:
                problem = "mailbox_quota_exceeds_domain_quota"
            elif biggest > maxquota:
                problem = ["max_quota_in_use", biggest]
            elif quota_all > quota:
                problem = ["domain_quota_m_in_use", quota_all]
            elif count > mailboxes:
                problem = ["mailboxes_in_use", count]
            elif self._alias_count(domain) > aliases:
                problem = ["aliases_in_use", self._alias_count(domain)]
            if problem is not None:
                entries.append(self._entry("danger", log, problem))
                continue
            dom.update(defquota=defquota, maxquota=maxquota, quota=quota, mailboxes=mailboxes, aliases=aliases)
            for k in ("active", "backupmx", "gal", "relay_all_recipients", "relay_unknown_only"):
                if attr.get(k) is not None:
                    dom[k] = 1 if php_intval(attr[k]) else 0
            if attr.get("description") is not None:
                dom["description"] = str(attr["description"]).replace("<", "").replace(">", "")
            tags = attr.get("tags")
            if isinstance(tags, str):
                tags = [tags]
            if isinstance(tags, list):
                for tag in tags:
                    if str(tag) and str(tag) not in dom["tags"]:
                        dom["tags"].append(str(tag))
            dom["modified"] = _now()
            changed = True
            entries.append(self._entry("success", log, ["domain_modified", domain]))
        if changed:
            self._mutated()
        return entries

    def edit_password_policy(self, attr: dict[str, Any], admin: bool) -> list[dict[str, Any]]:
        log = _log("password_complexity", "edit", "passwordpolicy", attr)
        if not admin:
            return [self._entry("danger", log, "access_denied")]
        policy = dict(self.password_policy)
        for k in ("length", "chars", "special_chars", "lowerupper", "numbers"):
            if attr.get(k) is not None:
                policy[k] = php_intval(attr[k])
        if policy["length"] < 3:
            return [self._entry("danger", log, "policy_length_invalid")]
        self.password_policy = policy
        self._mutated()
        return [self._entry("success", log, "password_policy_saved")]

    # -- delete

    def delete_mailboxes(self, items: list[Any], admin: bool) -> list[dict[str, Any]]:
        log = _log("mailbox", "delete", "mailbox", {"username": items})
        entries: list[dict[str, Any]] = []
        changed = False
        for item in items:
            username = str(item).strip().lower()
            if not admin or not is_valid_email(username) or username not in self.mailboxes:
                entries.append(self._entry("danger", log, "access_denied"))  # not idempotent
                continue
            self._index_remove(self.mailboxes.pop(username))
            self.aliases.pop(username, None)  # the self-alias
            changed = True
            entries.append(self._entry("success", log, ["mailbox_removed", username]))
        if changed:
            self._mutated()
        return entries

    def delete_domains(self, items: list[Any], admin: bool) -> list[dict[str, Any]]:
        log = _log("mailbox", "delete", "domain", {"domain": items})
        if not admin:
            return [self._entry("danger", log, "access_denied")]
        entries: list[dict[str, Any]] = []
        changed = False
        for item in items:
            domain = idn_to_ascii(str(item))
            if not is_valid_domain_name(domain):
                entries.append(self._entry("danger", log, "domain_invalid"))
                continue
            if self._by_domain.get(domain):
                entries.append(self._entry("danger", log, ["domain_not_empty", domain]))
                continue
            # Like Mailcow, deleting a domain that does not exist still reports domain_removed (derived).
            if self.domains.pop(domain, None) is not None:
                changed = True
            if not self.config.quirk_delete_domain_keeps_dkim:
                self.dkim.pop(domain, None)  # the real code leaves the key in Redis (contract §7)
            for address, alias in list(self.aliases.items()):
                if alias["domain"] == domain:
                    del self.aliases[address]
            entries.append(self._entry("success", log, ["domain_removed", domain]))
        if changed:
            self._mutated()
        return entries

    def delete_dkim(self, items: list[Any], admin: bool) -> list[dict[str, Any]]:
        log = _log("dkim", "delete", "dkim", {"domains": items})
        if not admin:
            return [self._entry("danger", log, "access_denied")]
        entries: list[dict[str, Any]] = []
        changed = False
        for item in items:
            domain = idn_to_ascii(str(item))
            if not is_valid_domain_name(domain):
                entries.append(self._entry("danger", log, ["dkim_domain_or_sel_invalid", domain]))
                continue
            if self.dkim.pop(domain, None) is not None:
                changed = True
            entries.append(self._entry("success", log, ["dkim_removed", domain]))  # even when none existed
        if changed:
            self._mutated()
        return entries

    # -- get

    def domain_details(self, domain: str) -> dict[str, Any]:
        d = self.domains[domain]
        count, quota_all = self._domain_usage(domain)
        aliases_in = self._alias_count(domain)
        left_mib = max(0, d["quota"] - quota_all)
        used_bytes = 0  # no mail is ever delivered here
        details: dict[str, Any] = {
            "max_new_mailbox_quota": min(d["maxquota"], left_mib) * MIB,
            "def_new_mailbox_quota": min(d["defquota"], left_mib) * MIB,
            "quota_used_in_domain": str(quota_all * MIB),
            "bytes_total": used_bytes,
            "msgs_total": 0,
            "mboxes_in_domain": count,
            "mboxes_left": max(0, d["mailboxes"] - count),
            "domain_name": domain,
            "domain_h_name": _idn_to_unicode(domain),
            "description": d["description"],
            "max_num_aliases_for_domain": d["aliases"],
            "max_num_mboxes_for_domain": d["mailboxes"],
            "def_quota_for_mbox": d["defquota"] * MIB,
            "max_quota_for_mbox": d["maxquota"] * MIB,
            "max_quota_for_domain": d["quota"] * MIB,
            "relayhost": d.get("relayhost", "0"),
            "backupmx": d["backupmx"],
            "backupmx_int": d["backupmx"],
            "gal": d["gal"],
            "gal_int": d["gal"],
            "active": d["active"],
            "active_int": d["active"],
            "relay_all_recipients": d["relay_all_recipients"],
            "relay_all_recipients_int": d["relay_all_recipients"],
            "relay_unknown_only": d["relay_unknown_only"],
            "relay_unknown_only_int": d["relay_unknown_only"],
            "aliases_in_domain": aliases_in,
            "aliases_left": max(0, d["aliases"] - aliases_in),
            "domain_admins": "\u2014",
            "rl": d.get("rl") or False,
            "tags": list(d["tags"]),
            "created": d["created"],
            "modified": d["modified"],
        }
        if not d["tags"] and self.config.quirk_untagged_domain_has_no_tags_key:
            del details["tags"]
        return details

    def mailbox_details(self, username: str, reduced: bool = False) -> dict[str, Any]:
        m = self.mailboxes[username]
        dom = self.domains.get(m["domain"], {})
        _count, quota_all = self._domain_usage(m["domain"])
        details: dict[str, Any] = {
            "username": username,
            "active": m["active"] if self.config.quirk_int_fields else str(m["active"]),
            "active_int": m["active"],
            "domain": m["domain"],
            "name": m["name"],
            "local_part": m["local_part"],
            "quota": m["quota_mib"] * MIB if self.config.quirk_int_fields else str(m["quota_mib"] * MIB),
            "quota_used": 0,
            "messages": 0,
            "percent_in_use": "- " if m["quota_mib"] == 0 else 0,
            "percent_class": "success",
            "attributes": dict(m["attributes"]),
            "custom_attributes": {},
            "created": m["created"],
            "modified": m["modified"],
            "authsource": m["authsource"],
            "last_imap_login": 0,
            "last_smtp_login": 0,
            "last_pop3_login": 0,
            "last_sso_login": 0,
            "tags": list(m["tags"]),
        }
        if not reduced:
            left = dom.get("quota", 0) - quota_all + m["quota_mib"]
            details.update(
                {
                    "max_new_quota": min(dom.get("maxquota", 0), left) * MIB,
                    "spam_aliases": 0,
                    "pushover_active": 0,
                    "rl": False,
                    "rl_scope": "domain",
                    "is_relayed": 0,
                    "sender_acl": 0,
                }
            )
        return details

    @staticmethod
    def _like_tags(tags: list[str], wanted: list[str]) -> bool:
        """Mailcow: `tag_name LIKE '%<tag>%'` for any of the wanted tags (case-insensitive)."""
        return any(w.lower() in t.lower() for w in wanted for t in tags)

    def get_domains(self, obj: str, tags: list[str] | None) -> Any:
        if obj == "all":
            names = sorted(self.domains)
            if tags:
                names = [n for n in names if self._like_tags(self.domains[n]["tags"], tags)]
            return [self.domain_details(n) for n in names] or {}
        domain = idn_to_ascii(obj)
        return self.domain_details(domain) if domain in self.domains else {}

    def get_mailboxes(self, obj: str, extra: str, tags: list[str] | None) -> Any:
        if obj in ("all", "reduced"):
            reduced = obj == "reduced"
            domains = [idn_to_ascii(d) for d in extra.split(",") if d.strip()] if extra else sorted(self.domains)
            if self.config.quirk_mailbox_all_missing_domain_lists_all and any(d not in self.domains for d in domains):
                domains = sorted(self.domains)  # the real code then answers every mailbox on the server
            out = []
            for domain in domains:
                if not is_valid_domain_name(domain):
                    continue
                if tags is None:
                    names = sorted(self._by_domain.get(domain, {}))
                else:  # with tags Mailcow matches `username LIKE '%<domain>'` (so sub-domains match too)
                    names = [
                        u
                        for u in sorted(self.mailboxes)
                        if u.endswith(domain) and self._like_tags(self.mailboxes[u]["tags"], tags)
                    ]
                out.extend(self.mailbox_details(u, reduced) for u in names)
            return out or {}
        if tags is not None:
            out = [
                self.mailbox_details(u)
                for u in sorted(self.mailboxes)
                if u.endswith(obj.lower()) and self._like_tags(self.mailboxes[u]["tags"], tags)
            ]
            return out or {}
        username = obj.strip().lower()
        return self.mailbox_details(username) if username in self.mailboxes else {}

    def get_dkim(self, domain: str) -> Any:
        domain = idn_to_ascii(domain)
        record = self.dkim.get(domain)
        if record is None:
            return {}
        pubkey = record["pubkey"]
        txt = f"v=DKIM1;k=rsa;t=s;s=email;p={pubkey}"
        if self.config.split_dkim_255:
            txt = " ".join(f'"{txt[i : i + 255]}"' for i in range(0, len(txt), 255))
        privkey = ""
        if self.config.show_dkim_priv_keys:
            privkey = base64.b64encode(record["privkey"].encode()).decode()
        return {
            "pubkey": pubkey,
            "length": _dkim_length(pubkey),
            "dkim_txt": txt,
            "dkim_selector": record["selector"],
            "privkey": privkey,
        }

    async def ensure_dkim_key(self, domain: str) -> None:
        """Generate the RSA key of a DKIM record on first read (off the event loop)."""
        domain = idn_to_ascii(domain)
        with self._lock:
            record = self.dkim.get(domain)
            if record is None or record.get("pubkey"):
                return
            bits = int(record["key_size"])
        priv, pub = await anyio.to_thread.run_sync(generate_dkim_key, bits, self.config.dkim_reuse_keys)
        with self._lock:
            record = self.dkim.get(domain)
            if record is not None and not record.get("pubkey") and int(record["key_size"]) == bits:
                record["privkey"], record["pubkey"] = priv, pub
                self._persist()

    def get_password_policy(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.password_policy.items()}


# --------------------------------------------------------------------------------------------- HTTP layer


def _abort_connection(request: Request) -> Response:
    """Close the TCP connection without any response.

    uvicorn hands the ASGI app a bound `RequestResponseCycle.send`; its `transport` is aborted and the cycle
    marked disconnected so uvicorn does not write its own 500. On other servers we fall back to a response
    whose body is cut short (headers sent, then the connection closes): the client still gets no usable reply.
    """
    raw_send = request.scope.get(RAW_SEND_KEY)
    cycle = getattr(raw_send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is not None and hasattr(cycle, "disconnected"):
        transport.abort()
        cycle.disconnected = True
        return Response(status_code=200)  # swallowed: sends on a disconnected cycle are no-ops

    async def broken() -> AsyncIterator[bytes]:
        yield b"["
        raise ConnectionAbortedError("sandbox: injected dropped connection")

    return StreamingResponse(broken(), media_type="application/json")


async def _wait_or_disconnect(request: Request, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await request.is_disconnected():
            return
        await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


def _injected(status: int) -> Response:
    return Response(f"{status} injected by the sandbox\n", status_code=status, media_type="text/plain")


def _as_items(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return _as_items(value["items"]) if "items" in value else list(value.values())
    return [value]


def _envelope(entries: list[dict[str, Any]], action: str) -> Response:
    if entries:
        return _json(entries)
    if action == "add":
        return _json({"type": "error", "msg": "Cannot add item"})
    if action == "edit":
        return _json({"type": "error", "msg": "Cannot edit item"})
    return _json({"type": "error", "msg": "Cannot delete item"})


async def _process(request: Request, sb: MailcowSandbox, action: str, category: str, obj: str, extra: str) -> Response:
    method = request.method.upper()
    dest = request.headers.get("sec-fetch-dest")
    if dest is not None and dest != "empty":
        return Response(status_code=403)

    ip = request.client.host if request.client else ""
    raw_key = request.headers.get("x-api-key")
    level: str | None = None
    if raw_key:
        key = re.sub(r"[^a-zA-Z0-9-]", "", raw_key)
        if key and key in sb.config.rw_keys:
            level = "rw"
        elif key and key in sb.config.ro_keys:
            level = "ro"
        else:
            sb.auth_failure(ip)
            return _error(401, "authentication failed")
        if not sb.ip_allowed(ip):
            sb.auth_failure(ip)
            return _error(401, f"api access denied for ip {ip}")
    admin = level is not None

    if action not in ACTIONS:
        return _error(404, "route not found")
    if action == "get" and method not in ("GET", "HEAD"):
        return _error(405, "only GET method is allowed")
    if action != "get" and method != "POST":
        return _error(405, "only POST method is allowed")
    if action != "get":
        if level == "ro" or (level is None and action in ("edit", "delete", "search")):
            return _error(403, "API read/write access denied")
    elif level is None:
        return Response(b"", status_code=200)  # the get switch needs a session (derived)

    if action == "get":
        tags_q = request.query_params.get("tags")
        tags = [t for t in tags_q.split(",") if t] if tags_q else None
        with sb._lock:
            if category == "domain":
                return _json(sb.get_domains(obj or "all", tags))
            if category == "mailbox":
                return _json(sb.get_mailboxes(obj or "all", extra, tags))
            if category == "passwordpolicy":
                return _json(sb.get_password_policy())
        if category == "dkim":
            await sb.ensure_dkim_key(obj)
            with sb._lock:
                return _json(sb.get_dkim(obj))
        return _error(404, "route not found")

    # POST: decode the body the way json_api.php does.
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        try:
            decoded = json.loads(raw) if raw.strip() else None
        except ValueError:
            decoded = None
        if decoded is None:
            return _error(400, "Request body doesn't contain valid json!")
        if action == "add":
            data, items, attr = decoded, None, None
        elif action == "edit":
            if not isinstance(decoded, dict) or "attr" not in decoded:
                return _json({"type": "error", "msg": "Cannot find attributes in post data"})
            data, items, attr = None, _as_items(decoded.get("items")), decoded.get("attr")
        else:
            data, items, attr = None, _as_items(decoded), None
    else:
        form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        try:
            attr_form = json.loads(form["attr"]) if "attr" in form else None
            items_form = json.loads(form["items"]) if "items" in form else None
        except ValueError:
            return _json({"type": "error", "msg": "Cannot find attributes in post data"})
        if action in ("add", "edit") and attr_form is None:
            return _json({"type": "error", "msg": "Cannot find attributes in post data"})
        if action in ("edit", "delete") and items_form is None:
            return _json({"type": "error", "msg": "Cannot find items in post data"})
        data, items, attr = attr_form, _as_items(items_form), attr_form
    if action == "add" and not isinstance(data, dict):
        return _json({"type": "error", "msg": "Cannot find attributes in post data"})
    if action == "edit" and not isinstance(attr, dict):
        return _json({"type": "error", "msg": "Cannot find attributes in post data"})

    with sb._lock:
        if action == "add":
            assert isinstance(data, dict)
            if category == "domain":
                return _envelope(sb.add_domain(data, admin), action)
            if category == "mailbox":
                if len(str(data.get("name") or "")) > 255:
                    return Response(b"", status_code=200)  # a database error: the handler throws (contract §7)
                sb.race_foreign_mailbox(data)
                return _envelope(sb.add_mailbox(data, admin), action)
            if category == "dkim":
                if not isinstance(data.get("domains", ""), str):
                    # preg_split() on an array is a PHP TypeError: a 500 with an empty body.
                    return Response(b"", status_code=500)
                return _envelope(sb.add_dkim(data, admin), action)
        elif action == "edit":
            assert isinstance(attr, dict) and items is not None
            if category == "mailbox":
                return _envelope(sb.edit_mailbox(items, attr, admin), action)
            if category == "domain":
                return _envelope(sb.edit_domain(items, attr, admin), action)
            if category == "passwordpolicy":
                return _envelope(sb.edit_password_policy(attr, admin), action)
        elif action == "delete":
            assert items is not None
            if category == "mailbox":
                return _envelope(sb.delete_mailboxes(items, admin), action)
            if category == "domain":
                return _envelope(sb.delete_domains(items, admin), action)
            if category == "dkim":
                return _envelope(sb.delete_dkim(items, admin), action)
    return _error(404, "route not found")


async def api_endpoint(request: Request) -> Response:
    sb: MailcowSandbox = request.app.state.sandbox
    query = request.path_params.get("query", "")
    parts = [*query.split("/", 3), "", "", ""][:4]
    action, category, obj, extra = parts
    sb.count(request.method.upper(), action, category)
    ip = request.client.host if request.client else ""
    if sb.is_banned(ip):
        return _abort_connection(request)
    if sb.config.latency_ms:
        await asyncio.sleep(sb.config.latency_ms / 1000)

    if action in WRITE_ACTIONS and request.method.upper() == "POST":
        raw = await request.body()
        try:
            received: Any = json.loads(raw) if raw.strip() else None
        except ValueError:
            received = {"undecodable": len(raw)}
        sb.record_write(request.method.upper(), f"{action}/{category}", received)

    fault = sb.draw_fault(action)
    if fault == "empty_200":
        return Response(b"", status_code=200)  # a crashed handler: nothing applied, empty body
    if fault == "429":
        return Response(
            "429 Too Many Requests\n",
            status_code=429,
            headers={"Retry-After": str(sb.config.retry_after_seconds)},
            media_type="text/plain",
        )
    if fault in ("502", "503", "504"):
        return _injected(int(fault))
    if fault == "drop":
        return _abort_connection(request)
    if fault == "timeout":
        await _wait_or_disconnect(request, sb.config.timeout_seconds)
        return _injected(504)

    response = await _process(request, sb, action, category, obj, extra)

    if fault == "error_after_apply":
        return _injected(503)
    if fault == "drop_after_apply":
        return _abort_connection(request)
    if fault == "timeout_after_apply":
        await _wait_or_disconnect(request, sb.config.timeout_seconds)
    return response


# -- debug routes (no auth)


async def debug_counters(request: Request) -> Response:
    sb: MailcowSandbox = request.app.state.sandbox
    with sb._lock:
        return JSONResponse(dict(sb.counters))


async def debug_counters_reset(request: Request) -> Response:
    request.app.state.sandbox.reset_counters()
    return JSONResponse({"ok": True})


async def debug_faults(request: Request) -> Response:
    sb: MailcowSandbox = request.app.state.sandbox
    if request.method == "GET":
        return JSONResponse({**sb.faults(), "injected": dict(sb.fault_counts), "auth_failures": sb.auth_failure_count})
    try:
        changes = json.loads(await request.body() or b"{}")
        if not isinstance(changes, dict):
            raise ValueError("body must be a JSON object")
        return JSONResponse(sb.update_faults(**changes))
    except (ValueError, ValidationError) as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)


async def debug_writes(request: Request) -> Response:
    return JSONResponse(request.app.state.sandbox.writes_received())


async def debug_state(request: Request) -> Response:
    return JSONResponse(request.app.state.sandbox.snapshot())


async def debug_reset(request: Request) -> Response:
    request.app.state.sandbox.reset()
    return JSONResponse({"ok": True})


class _SandboxStarlette(Starlette):
    """Starlette that remembers the server's own `send` (needed to drop a connection on purpose)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") == "http":
            scope[RAW_SEND_KEY] = send
        await super().__call__(scope, receive, send)


def create_mailcow_app(config: MailcowSandboxConfig | None = None) -> Starlette:
    """The stand-in as an ASGI app; `app.state.sandbox` is the `MailcowSandbox` (state, counters, faults)."""
    config = (config or MailcowSandboxConfig()).model_copy(deep=True)
    all_methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    routes = [
        Route("/_sandbox/counters", debug_counters, methods=["GET"]),
        Route("/_sandbox/counters/reset", debug_counters_reset, methods=["POST"]),
        Route("/_sandbox/faults", debug_faults, methods=["GET", "POST"]),
        Route("/_sandbox/state", debug_state, methods=["GET"]),
        Route("/_sandbox/writes", debug_writes, methods=["GET"]),
        Route("/_sandbox/reset", debug_reset, methods=["POST"]),
        Route("/api/v1/{query:path}", api_endpoint, methods=all_methods),
        Route("/api/v1", api_endpoint, methods=all_methods),
    ]
    app = _SandboxStarlette(routes=routes)
    app.state.sandbox = MailcowSandbox(config)
    return app


__all__ = [
    "FaultSettings",
    "MailcowSandbox",
    "MailcowSandboxConfig",
    "PasswordPolicy",
    "create_mailcow_app",
    "generate_dkim_key",
    "verify_password",
]
