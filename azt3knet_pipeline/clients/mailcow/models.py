"""Typed Mailcow objects, read back (quotas in MiB) and sent (`DomainSpec`, `MailboxSpec`).

Mailcow's numbers arrive as ints, numeric strings, floats or junk, its booleans as 1/"1"/true or an HTML check
mark, its tags as a list, a dict or a comma-separated string: the coercions below accept them all. Quotas go OUT
in MiB and come BACK in bytes; the models convert them back to MiB.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator

from azt3knet_pipeline.clients.mailcow.scrub import is_password_key

MIB = 1024 * 1024
TAGGING_LIMIT = 25


def to_int(value: Any, default: int = 0) -> int:
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


def to_bool(value: Any) -> bool:
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
    raw = to_int(value)
    if raw <= 0:
        return 0
    return max(1, round(raw / MIB))


def tag_list(value: Any) -> list[str]:
    """Tags as a list, whether Mailcow sent a list, a dict of them or a comma-separated string."""
    if value is None or value == "" or value == {}:
        return []
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, Iterable):
        return [str(t) for t in value if t is not None and str(t) != ""]
    return [str(value)]


def flag(value: Any) -> int:
    """A boolean as the 0/1 the PHP side expects."""
    return 1 if to_bool(value) else 0


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
        return to_bool(v)

    @field_validator("max_mailboxes", "mailboxes_in_domain", "max_aliases", "aliases_in_domain", mode="before")
    @classmethod
    def _ints(cls, v: Any) -> int:
        return to_int(v)

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
        return tag_list(v)

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
        return to_bool(v)

    @field_validator("quota_mib", mode="before")
    @classmethod
    def _mib(cls, v: Any) -> int:
        return bytes_to_mib(v)

    @field_validator("quota_used_bytes", "messages", mode="before")
    @classmethod
    def _ints(cls, v: Any) -> int:
        return to_int(v)

    @field_validator("tags", mode="before")
    @classmethod
    def _tag_list(cls, v: Any) -> list[str]:
        return tag_list(v)

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
            "active": flag(self.active),
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
        body: dict[str, Any] = {k: v for k, v in self.extra.items() if not is_password_key(k)}
        body.update(
            {
                "local_part": self.local_part,
                "domain": self.domain,
                "name": self.name if self.name is not None else self.local_part,
                "password": password,
                "password2": password2,
                "quota": self.quota,
                "active": flag(self.active),
                "force_pw_update": flag(self.force_pw_update),
                "tags": list(self.tags),
            }
        )
        return body
