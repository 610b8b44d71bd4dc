"""Keeping secrets out of what Mailcow answers: passwords and the API key never reach an exception or a log.

Mailcow echoes the request in each entry's `log`, so every entry of a write's reply is scrubbed: password-ish
fields are masked and every known secret (the request's passwords, the API key) is replaced wherever it appears.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
PASSWORD_KEY = re.compile(r"(app_|new_|old_)?pass(word|wd)?[_-]?\d*", re.IGNORECASE)


def is_password_key(key: Any) -> bool:
    """`password`, `password2`, `app_passwd`, ... but not `passwd_update` (a timestamp)."""
    return bool(PASSWORD_KEY.fullmatch(str(key)))


def collect_secrets(data: Any, out: set[str]) -> None:
    """Add to `out` every value of a password-ish field found anywhere in `data`."""
    if isinstance(data, Mapping):
        for k, v in data.items():
            if is_password_key(k) and isinstance(v, str | int) and str(v):
                out.add(str(v))
            else:
                collect_secrets(v, out)
    elif isinstance(data, list | tuple):
        for v in data:
            collect_secrets(v, out)


def scrub_text(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced by the mask."""
    # Longest first so a secret containing another is masked whole.
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, MASK)
    return text


def scrub(data: Any, secrets: frozenset[str]) -> Any:
    """Deep copy with password-ish fields masked and every known secret replaced in strings."""
    if isinstance(data, Mapping):
        return {k: ("*" if is_password_key(k) and v not in (None, "") else scrub(v, secrets)) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [scrub(v, secrets) for v in data]
    if isinstance(data, str):
        return scrub_text(data, secrets)
    return data
