"""Mailbox passwords: `{SSHA256}` hashes as Mailcow stores them, and the password policy (redis `PASSWD_POLICY`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from typing import TYPE_CHECKING, Any

from azt3knet_pipeline.sandbox.mailcow.php import log_head, php_intval

if TYPE_CHECKING:
    from azt3knet_pipeline.sandbox.mailcow.state import Entries, MailcowSandbox

POLICY_KEYS = ("length", "chars", "special_chars", "lowerupper", "numbers")


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


def password_problem(policy: dict[str, int], password: Any, password2: Any) -> str | None:
    """The message Mailcow answers for a password that breaks `policy` or does not match, else None."""
    p1 = "" if password is None else str(password)
    p2 = "" if password2 is None else str(password2)
    if not p1 or not p2 or len(p1) < int(policy.get("length", 6)):
        return "password_complexity"
    rules = (
        ("chars", lambda p: re.search(r"[A-Za-z]", p)),
        ("special_chars", lambda p: re.search(r"[^A-Za-z0-9]", p)),
        ("lowerupper", lambda p: re.search(r"[a-z]", p) and re.search(r"[A-Z]", p)),
        ("numbers", lambda p: re.search(r"\d", p)),
    )
    if any(int(policy.get(name, 0)) and not holds(p1) for name, holds in rules):
        return "password_complexity"
    if p1 != p2:
        return "password_mismatch"
    return None


def edit_password_policy(sb: MailcowSandbox, attr: dict[str, Any], admin: bool) -> Entries:
    log = log_head("password_complexity", "edit", "passwordpolicy", attr)
    if not admin:
        return [sb.entry("danger", log, "access_denied")]
    policy = dict(sb.password_policy)
    for k in POLICY_KEYS:
        if attr.get(k) is not None:
            policy[k] = php_intval(attr[k])
    if policy["length"] < 3:
        return [sb.entry("danger", log, "policy_length_invalid")]
    sb.password_policy = policy
    sb.mutated()
    return [sb.entry("success", log, "password_policy_saved")]


def get_password_policy(sb: MailcowSandbox) -> dict[str, str]:
    return {k: str(v) for k, v in sb.password_policy.items()}
