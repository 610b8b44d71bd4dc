"""Mailbox passwords: HMAC-derived (deterministic, keyed, policy-compliant), and the policy check itself."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azt3knet_pipeline.domain.passwords import (
    ALPHABET,
    DIGITS,
    LOWER,
    PASSWORD_LENGTH,
    SPECIAL,
    UPPER,
    derive_password,
    meets_policy,
)
from azt3knet_pipeline.sandbox.mailcow import MailcowSandbox, MailcowSandboxConfig, PasswordPolicy

SECRET = bytes(range(32))
OTHER_SECRET = bytes(range(1, 33))
ADDRESS = "ana.garcia@seed-42.azt3knet.test"

# The strictest policy Mailcow's UI offers, at our full length.
STRICT = {"length": PASSWORD_LENGTH, "chars": 1, "special_chars": 1, "lowerupper": 1, "numbers": 1}
STRICT_AS_MAILCOW_RETURNS_IT = {k: str(v) for k, v in STRICT.items()}  # get/passwordpolicy answers strings

local_parts = st.from_regex(r"[a-z0-9](?:[a-z0-9._-]{0,20}[a-z0-9])?", fullmatch=True)
keys = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


def test_same_inputs_same_password() -> None:
    assert derive_password(SECRET, "seed-42", ADDRESS) == derive_password(SECRET, "seed-42", ADDRESS)


def test_golden_value_pins_the_derivation_scheme() -> None:
    # Changing the scheme would change every installed mailbox's password on the next recreate.
    assert derive_password(b"0123456789abcdef0123456789abcdef", "seed-42", ADDRESS) == "xL6xb6zsQ_zEC9xr4=AwM!D6"
    assert derive_password(SECRET, "seed-42", ADDRESS, length=12) == "arLd=y78PgGp"


def test_identical_across_processes_and_hash_seeds() -> None:
    script = (
        "from azt3knet_pipeline.domain.passwords import derive_password;"
        f"print(derive_password(bytes(range(32)), 'seed-42', {ADDRESS!r}))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
        for seed in ("0", "4242")
    }
    assert outputs == {derive_password(SECRET, "seed-42", ADDRESS)}


def test_key_address_and_secret_each_change_the_password() -> None:
    base = derive_password(SECRET, "seed-42", ADDRESS)
    assert derive_password(SECRET, "seed-43", ADDRESS) != base
    assert derive_password(SECRET, "seed-42", "ana.garcia2@seed-42.azt3knet.test") != base
    assert derive_password(OTHER_SECRET, "seed-42", ADDRESS) != base


def test_address_case_does_not_matter() -> None:
    # Mailcow lower-cases usernames; the password of record must not depend on how the address was spelled.
    assert derive_password(SECRET, "seed-42", ADDRESS.upper()) == derive_password(SECRET, "seed-42", ADDRESS)


def test_key_and_address_are_separated() -> None:
    # (key, address) pairs that concatenate to the same bytes must still differ.
    assert derive_password(SECRET, "ab", "c@d.test") != derive_password(SECRET, "a", "bc@d.test")


def test_many_addresses_give_distinct_passwords() -> None:
    passwords = {derive_password(SECRET, "pop", f"user{i}@pop.example.test") for i in range(2000)}
    assert len(passwords) == 2000


@settings(max_examples=200, deadline=None)
@given(key=keys, local=local_parts, secret=st.binary(min_size=16, max_size=64))
def test_every_password_meets_the_strictest_policy(key: str, local: str, secret: bytes) -> None:
    password = derive_password(secret, key, f"{local}@{key}.example.test")
    assert len(password) == PASSWORD_LENGTH
    assert set(password) <= set(ALPHABET)
    for chars in (LOWER, UPPER, DIGITS, SPECIAL):
        assert any(c in chars for c in password)
    assert meets_policy(password, STRICT)
    assert meets_policy(password, STRICT_AS_MAILCOW_RETURNS_IT)


@pytest.mark.parametrize("length", [8, 12, 16, 24, 40, 64])
def test_requested_length_and_classes(length: int) -> None:
    for i in range(50):
        password = derive_password(SECRET, "pop", f"u{i}@pop.example.test", length=length)
        assert len(password) == length
        assert meets_policy(password, {**STRICT, "length": length})


def test_the_stand_in_accepts_what_we_derive_under_a_strict_policy() -> None:
    # An independent implementation of Mailcow's policy check (the stand-in's) agrees.
    sandbox = MailcowSandbox(MailcowSandboxConfig(password_policy=PasswordPolicy(**STRICT)))
    for i in range(200):
        password = derive_password(SECRET, "pop", f"u{i}@pop.example.test")
        assert sandbox.password_check(password, password) is None


@pytest.mark.parametrize(
    ("password", "policy"),
    [
        ("Ab1-Ab1-", {"length": 9}),
        ("12345678-", {"chars": 1}),
        ("Abcdefgh1", {"special_chars": 1}),
        ("abcdefg1-", {"lowerupper": 1}),
        ("ABCDEFG1-", {"lowerupper": 1}),
        ("Abcdefgh-", {"numbers": "1"}),
        ("abc", {}),  # Mailcow's default minimum length is 6
    ],
)
def test_meets_policy_rejects_each_violation(password: str, policy: dict[str, object]) -> None:
    assert not meets_policy(password, policy)


def test_meets_policy_accepts_and_ignores_disabled_rules() -> None:
    assert meets_policy("abcdef", {})
    assert meets_policy("abcdef", {"chars": "0", "special_chars": 0, "lowerupper": "0", "numbers": 0})
    assert meets_policy("Ab1-Ab1-Ab", {**STRICT, "length": 10})


@pytest.mark.parametrize(("secret", "length"), [(b"short", PASSWORD_LENGTH), (SECRET, 7)])
def test_refuses_weak_inputs(secret: bytes, length: int) -> None:
    with pytest.raises(ValueError):
        derive_password(secret, "pop", ADDRESS, length=length)
