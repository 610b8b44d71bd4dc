"""What the Mailcow stand-in can be told: API keys, limits, fault rates and the contract §7 quirk switches."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MIB = 1024 * 1024
ACTIONS = ("add", "get", "edit", "delete", "search")
WRITE_ACTIONS = frozenset({"add", "edit", "delete"})
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
