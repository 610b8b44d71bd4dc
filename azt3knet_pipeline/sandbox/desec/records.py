"""deSEC's canonical presentation of record contents (names lowercased, TXT split at 255 bytes, ...), with
deSEC's messages for malformed contents."""

from __future__ import annotations

import binascii
import ipaddress

from azt3knet_pipeline.domain.dns import parse_txt_strings, present_txt
from azt3knet_pipeline.sandbox.desec.config import MSG_FQDN

_NAME_TYPES = frozenset({"CNAME", "NS", "PTR", "DNAME"})
_HEX_TAIL_TYPES = {"DS": 3, "CDS": 3, "DLV": 3, "TLSA": 3, "SMIMEA": 3, "SSHFP": 2}
_TOKEN_COUNTS = {"MX": 2, "SRV": 4, **dict.fromkeys(_NAME_TYPES, 1)}


def _malformed(rtype: str, what: str) -> ValueError:
    return ValueError(f"Record content for type {rtype} malformed: {what}")


def _target(name: str, rtype: str) -> str:
    if not name.endswith("."):
        raise ValueError(MSG_FQDN)
    if name == ".":
        return name
    labels = name[:-1].split(".")
    if any(not label for label in labels):
        raise _malformed(rtype, "A DNS label is empty.")
    if any(len(label.encode()) > 63 for label in labels):
        raise _malformed(rtype, "A DNS label is > 63 octets long.")
    if len(name.encode()) > 255:
        raise ValueError("Hostname must be no longer than 255 characters")
    return name.lower()


def _uint(text: str, bits: int) -> int:
    try:
        value = int(text, 10)
    except ValueError as exc:
        raise ValueError(f"Cannot parse record contents: {exc}") from None
    if not 0 <= value < 2**bits:
        raise ValueError(f"Cannot parse record contents: {text} is out of range")
    return value


def _txt(rtype: str, content: str) -> str:
    strings = parse_txt_strings(content)
    if strings is None:
        raise ValueError(f"Data for {rtype} records must be given using quotation marks.")
    return present_txt(strings)


def _address(rtype: str, content: str) -> str:
    try:
        if rtype == "A":
            return str(ipaddress.IPv4Address(content.strip()))
        return ipaddress.IPv6Address(content.strip()).compressed
    except ValueError:
        raise _malformed(rtype, "Text input is malformed.") from None


def _caa(rtype: str, content: str, tokens: list[str]) -> str:
    if len(tokens) < 3:
        raise _malformed(rtype, "unexpected end of input")
    value = content.strip().split(None, 2)[2]
    strings = parse_txt_strings(value)
    data = b"".join(strings) if strings is not None else value.encode()
    return f"{_uint(tokens[0], 8)} {tokens[1].lower()} {present_txt([data])}"


def _hex_tail(rtype: str, tokens: list[str]) -> str:
    head = _HEX_TAIL_TYPES[rtype]
    if len(tokens) <= head:
        raise _malformed(rtype, "unexpected end of input")
    digest = "".join(tokens[head:]).lower()
    try:
        binascii.unhexlify(digest)
    except binascii.Error:
        raise ValueError("Cannot parse hexadecimal or base64 record contents") from None
    return " ".join([*(str(_uint(t, 16)) for t in tokens[:head]), digest])


def canonical_record(rtype: str, content: str) -> str:
    """deSEC's canonical presentation of one record, or ValueError with deSEC's message."""
    if rtype in ("TXT", "SPF"):
        return _txt(rtype, content)
    tokens = content.split()
    if not tokens:
        raise _malformed(rtype, "unexpected end of input")
    if rtype in ("A", "AAAA"):
        return _address(rtype, content)
    expected = _TOKEN_COUNTS.get(rtype)
    if expected is not None and len(tokens) != expected:
        raise _malformed(rtype, "unexpected end of input" if len(tokens) < expected else "expected end of input")
    if rtype in _NAME_TYPES:
        return _target(tokens[0], rtype)
    if rtype == "MX":
        return f"{_uint(tokens[0], 16)} {_target(tokens[1], rtype)}"
    if rtype == "SRV":
        return " ".join([*(str(_uint(t, 16)) for t in tokens[:3]), _target(tokens[3], rtype)])
    if rtype == "CAA":
        return _caa(rtype, content, tokens)
    if rtype in _HEX_TAIL_TYPES:
        return _hex_tail(rtype, tokens)
    return " ".join(tokens)
