"""TXT presentation: parsing quoted character-strings, quoting a value for deSEC, the canonical form. Pure.

deSEC answers TXT records split at 255 bytes with canonical escapes, which rarely matches what was sent byte for
byte; `txt_content` is the data a record carries, whatever its presentation.
"""

from __future__ import annotations

from collections.abc import Iterable

TXT_STRING_MAX_BYTES = 255


def parse_txt_strings(value: str) -> list[bytes] | None:
    """Parse `"a" "b\\"c"` into its character-strings (escapes resolved); None unless the whole value is a
    whitespace-separated sequence of quoted strings."""
    strings: list[bytes] = []
    i, n = 0, len(value)
    while True:
        while i < n and value[i].isspace():
            i += 1
        if i == n:
            return strings if strings else None
        if value[i] != '"':
            return None
        i += 1
        buf = bytearray()
        while i < n and value[i] != '"':
            char = value[i]
            if char == "\\":
                if i + 1 >= n:
                    return None
                digits = value[i + 1 : i + 4]
                if len(digits) == 3 and digits.isascii() and digits.isdigit():
                    code = int(digits)
                    if code > 255:
                        return None
                    buf.append(code)
                    i += 4
                    continue
                buf += value[i + 1].encode("utf-8")
                i += 2
                continue
            buf += char.encode("utf-8")
            i += 1
        if i >= n:
            return None  # unterminated string
        i += 1
        if i < n and not value[i].isspace():
            return None  # `"a"b` is not a sequence of quoted strings
        strings.append(bytes(buf))


def txt_content(value: str) -> bytes:
    """The data of a TXT record: quoted strings are unescaped and joined; anything else is taken verbatim."""
    parsed = parse_txt_strings(value)
    if parsed is not None:
        return b"".join(parsed)
    return value.encode("utf-8")


def _escape(chunk: bytes, *, keep_utf8: bool) -> str:
    if keep_utf8:
        return chunk.decode("utf-8").replace("\\", "\\\\").replace('"', '\\"')
    out = []
    for byte in chunk:
        if byte in (0x22, 0x5C):
            out.append("\\" + chr(byte))
        elif 0x20 <= byte <= 0x7E:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return "".join(out)


def _utf8_chunks(text: str, limit: int) -> list[bytes]:
    """Split text into UTF-8 chunks of at most `limit` bytes without cutting a character in two."""
    chunks: list[bytes] = []
    current = bytearray()
    for char in text:
        encoded = char.encode("utf-8")
        if len(current) + len(encoded) > limit:
            chunks.append(bytes(current))
            current = bytearray()
        current += encoded
    chunks.append(bytes(current))
    return chunks


def quote_txt(value: str) -> str:
    """A TXT value as deSEC wants it: quoted strings of at most 255 bytes, `"` and `\\` escaped.

    A value that already is a sequence of quoted strings (Mailcow's split `dkim_txt`) is unquoted and joined
    first, so quoting is idempotent: `quote_txt(quote_txt(v)) == quote_txt(v)`.
    """
    content = txt_content(value)
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return present_txt([content])
    return " ".join(f'"{_escape(c, keep_utf8=True)}"' for c in _utf8_chunks(text, TXT_STRING_MAX_BYTES))


def _split255(data: bytes) -> list[bytes]:
    return [data[i : i + TXT_STRING_MAX_BYTES] for i in range(0, len(data), TXT_STRING_MAX_BYTES)] or [b""]


def present_txt(strings: Iterable[bytes]) -> str:
    """Canonical presentation of TXT character-strings (as deSEC/dnspython print them): each string split at
    255 bytes, quoted, `"` and `\\` escaped, bytes outside printable ASCII as `\\DDD`."""
    return " ".join(f'"{_escape(chunk, keep_utf8=False)}"' for s in strings for chunk in _split255(s))
