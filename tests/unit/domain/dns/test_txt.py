"""TXT presentation (pure): quoting splits at 255 bytes without cutting a character, parsing reads it back."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from azt3knet_pipeline.domain.dns import (
    normalise_record,
    parse_txt_strings,
    quote_txt,
    txt_content,
)


def dkim_2048() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "v=DKIM1;k=rsa;t=s;s=email;p=" + base64.b64encode(der).decode()


def test_quote_txt_quotes_and_escapes():
    assert quote_txt("v=spf1 -all") == '"v=spf1 -all"'
    assert quote_txt('say "hi" \\ bye') == '"say \\"hi\\" \\\\ bye"'
    assert txt_content(quote_txt('say "hi" \\ bye')) == b'say "hi" \\ bye'


def test_quote_txt_splits_a_2048_bit_dkim_key_into_255_byte_strings():
    value = dkim_2048()
    assert len(value) > 255
    quoted = quote_txt(value)
    strings = parse_txt_strings(quoted)
    assert strings is not None and len(strings) == 2
    assert all(len(s) <= 255 for s in strings)
    assert b"".join(strings) == value.encode()
    assert quote_txt(quoted) == quoted  # idempotent
    # Mailcow's SPLIT_DKIM_255 form ("…" "…" at other boundaries) is the same record
    mailcow_split = " ".join(f'"{value[i : i + 200]}"' for i in range(0, len(value), 200))
    assert quote_txt(mailcow_split) == quoted
    assert normalise_record("TXT", mailcow_split) == normalise_record("TXT", quoted)


def test_quote_txt_never_splits_a_multibyte_character():
    value = "é" * 200  # 400 bytes
    strings = parse_txt_strings(quote_txt(value))
    assert strings is not None and all(len(s) <= 255 for s in strings)
    assert [s.decode("utf-8") for s in strings]  # each chunk is valid UTF-8 on its own
    assert b"".join(strings).decode() == value


@settings(max_examples=100, deadline=None)
@given(content=st.text(min_size=0, max_size=700))
def test_txt_normalisation_preserves_the_data(content):
    assert txt_content(normalise_record("TXT", quote_txt(content))) == txt_content(quote_txt(content))
