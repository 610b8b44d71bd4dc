"""Mailbox passwords derived with HMAC from the installation's derivation secret, the population key and the
address: recreate restores the same password, and the seed alone reveals nothing."""

from __future__ import annotations

import hashlib
import hmac

LOWER = "abcdefghijkmnopqrstuvwxyz"
UPPER = "ABCDEFGHJKLMNPQRSTUVWXYZ"
DIGITS = "23456789"
SPECIAL = "-_.!#%+="
ALPHABET = LOWER + UPPER + DIGITS + SPECIAL
PASSWORD_LENGTH = 24
_CONTEXT = b"azt3knet/mailbox-password/v1"


def _stream(secret: bytes, message: bytes, size: int) -> bytes:
    out = b""
    counter = 0
    while len(out) < size:
        out += hmac.new(secret, message + counter.to_bytes(4, "big"), hashlib.sha256).digest()
        counter += 1
    return out[:size]


def derive_password(secret: bytes, population_key: str, address: str, length: int = PASSWORD_LENGTH) -> str:
    """A `length`-char password with lower, upper, digit and special characters (meets any Mailcow policy
    whose length requirement is ≤ `length`). Pure: the same inputs always give the same password."""
    if len(secret) < 16:
        raise ValueError("derivation secret must be at least 16 bytes")
    if length < 8:
        raise ValueError("password length must be at least 8")
    message = _CONTEXT + b"\0" + population_key.encode() + b"\0" + address.lower().encode()
    stream = _stream(secret, message, length * 2)
    # One character from each class first, so every policy class is met, then a keyed shuffle.
    chars = [
        LOWER[stream[0] % len(LOWER)],
        UPPER[stream[1] % len(UPPER)],
        DIGITS[stream[2] % len(DIGITS)],
        SPECIAL[stream[3] % len(SPECIAL)],
    ]
    chars += [ALPHABET[b % len(ALPHABET)] for b in stream[4:length]]
    for i in range(len(chars) - 1, 0, -1):  # Fisher-Yates driven by the second half of the stream
        j = stream[length + i] % (i + 1)
        chars[i], chars[j] = chars[j], chars[i]
    return "".join(chars)


def meets_policy(password: str, policy: dict[str, object]) -> bool:
    """Whether `password` satisfies a Mailcow password policy (length, chars, special_chars, lowerupper, numbers)."""

    def flag(name: str) -> bool:
        return str(policy.get(name, "0")) in {"1", "true", "True"}

    length = int(str(policy.get("length", 6)) or 6)
    checks = [
        len(password) >= length,
        not flag("chars") or any(c.isalpha() for c in password),
        not flag("special_chars") or any(not c.isalnum() for c in password),
        not flag("lowerupper") or (any(c.islower() for c in password) and any(c.isupper() for c in password)),
        not flag("numbers") or any(c.isdigit() for c in password),
    ]
    return all(checks)
