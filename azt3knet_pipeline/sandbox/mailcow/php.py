"""PHP semantics and Mailcow's helper functions (functions.inc.php) the handlers rely on: no state, no I/O."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from azt3knet_pipeline.sandbox.mailcow.config import PASSWORD_FIELDS


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


def mask_data(data: Any) -> Any:
    """The `log` copy of request data: password fields replaced by "*"."""
    if isinstance(data, dict):
        return {k: ("*" if k in PASSWORD_FIELDS else mask_data(v)) for k, v in data.items()}
    if isinstance(data, list):
        return [mask_data(v) for v in data]
    return data


def idn_to_unicode(domain: str) -> str:
    try:
        return domain.encode("ascii").decode("idna")
    except UnicodeError:
        return domain


def log_head(fn: str, action: str, typ: str, data: Any) -> tuple[str, str, str, Any]:
    """The `log` head of envelope entries; request data masked once per request (shared by its entries)."""
    return (fn, action, typ, mask_data(data))


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")


def strip_angles(value: Any) -> str:
    """Mailcow's sanitising of names and descriptions."""
    return str(value).replace("<", "").replace(">", "")


def tag_list(value: Any) -> list[str]:
    """`tags` as given on add: a string or a list; empty and repeated tags dropped."""
    tags = value or []
    if isinstance(tags, str):
        tags = [tags]
    return list(dict.fromkeys(str(t) for t in tags if str(t)))


def like_tags(tags: list[str], wanted: list[str]) -> bool:
    """Mailcow: `tag_name LIKE '%<tag>%'` for any of the wanted tags (case-insensitive)."""
    return any(w.lower() in t.lower() for w in wanted for t in tags)


def flag(value: Any) -> int:
    """A 0/1 switch as Mailcow stores it."""
    return 1 if php_intval(value) else 0
