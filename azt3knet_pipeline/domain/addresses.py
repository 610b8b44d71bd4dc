"""Agent ids, usernames and e-mail local parts: unique within a population, the same bytes in every version.

Collisions are resolved in index order by the first free numeric suffix (`juan.garcia`, `juan.garcia2`, ...).
Pure: no I/O here.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import TYPE_CHECKING

import numpy as np

from azt3knet_pipeline.domain import columns as col

if TYPE_CHECKING:
    from azt3knet_pipeline.domain.generation import _Tables

AGENT_ID_NAMESPACE = uuid.UUID("5b0c1a52-7d2e-4f39-9d0b-a27e3c1f4e11")
_LOCAL_PART_MAX = 64
_USERNAME_MAX = 30


class _AddressBook:
    """Usernames and local parts taken so far: unique within the population, collisions resolved in index
    order by the first free numeric suffix. Addresses are handled as their UTF-8 bytes, the address keys: a
    million of them take a quarter less memory than the strings, a bytes object caches its hash, and they are
    written to JSON as they are."""

    def __init__(self) -> None:
        self.users: set[bytes] = set()
        self.locals: set[bytes] = set()
        self.next_user: dict[bytes, int] = {}
        self.next_local: dict[bytes, int] = {}

    def take_users(self, bases: list[bytes]) -> list[bytes]:
        return _unique_all(bases, self.users, self.next_user)

    def take_locals(self, bases: list[bytes]) -> list[bytes]:
        return _unique_all(bases, self.locals, self.next_local)


def _unique_all(bases: list[bytes], taken: set[bytes], counters: dict[bytes, int]) -> list[bytes]:
    """`_unique_in_order(bases, taken, counters)`, with set operations in C for the rows that keep their base.

    A row keeps its base when it is the base's first row in the chunk and no earlier chunk took it; only the
    other rows are suffixed, in index order, against everything taken before them. If a suffixed value would
    be the base of a later row (which would then need a suffix itself), the chunk is redone in order.
    """
    n = len(bases)
    first = dict(zip(reversed(bases), range(n - 1, -1, -1), strict=True))  # base -> the first row with it
    clashing = taken.intersection(first)
    if len(first) == n and not clashing:
        taken.update(first)
        return bases
    suffixed = np.ones(n, dtype=bool)
    suffixed[np.fromiter(first.values(), dtype=np.int64, count=len(first))] = False
    suffixed[[first[base] for base in clashing]] = True
    out = list(bases)
    mine: set[bytes] = set()  # suffixed values taken in this chunk
    hints: dict[bytes, int] = {}
    for i in np.flatnonzero(suffixed).tolist():
        base = bases[i]
        k = hints.get(base) or counters.get(base, 2)
        while True:
            value = b"%s%d" % (base, k)
            if value not in taken and value not in mine:
                owner = first.get(value, i)  # a row of this chunk whose base this value is
                if owner == i:
                    break
                if owner > i:  # a later row's base: the in-order rule gives it to this row and suffixes that one
                    return _unique_in_order(bases, taken, counters)
            k += 1
        hints[base] = k + 1
        mine.add(value)
        out[i] = value
    taken.update(first)
    taken |= mine
    counters.update(hints)
    return out


def _unique_in_order(bases: list[bytes], taken: set[bytes], counters: dict[bytes, int]) -> list[bytes]:
    """Each base, or the base with the first free suffix 2, 3, ... when taken: rows in index order."""
    out = []
    append, add = out.append, taken.add
    for base in bases:
        if base in taken:
            k = counters.get(base, 2)
            while b"%s%d" % (base, k) in taken:
                k += 1
            counters[base] = k + 1
            base = b"%s%d" % (base, k)
        add(base)
        append(base)
    return out


_NOTHING, _NEWLINE = 0, 1  # the constant pieces, first in `_pieces`


def _addresses(
    tables: _Tables,
    given_codes: np.ndarray,
    family_codes: np.ndarray,
    birth_years: np.ndarray,
    styles: np.ndarray,
    numbers: np.ndarray,
    book: _AddressBook,
) -> tuple[list[bytes], list[bytes]]:
    """Usernames and email local parts (UTF-8), unique within the population, collisions resolved in index order.

    By style: 0 `juangarcia` / `juan.garcia`, 1 `juan_garcia42` / `juan.garcia42`, 2 `jgarcia85` / `j.garcia85`,
    3 `juan1985` / `juan.g1985`. Each address is three pieces of one table of texts (`_pieces`), picked by
    integer arithmetic and joined for all rows at once.
    """
    years = birth_years.astype(np.int64)
    low = int(years.min()) if len(years) else 0
    pieces, at = _pieces(tables, range(low, int(years.max()) + 1 if len(years) else 0))
    given, given_underscore, initial, family, dot_family, dot_initial, numbers_nl, two_digits_nl, years_nl = at
    last = styles == 3
    tails = np.array([_NEWLINE, numbers_nl, two_digits_nl, years_nl])[styles]
    tails += np.choose(styles, (0, numbers, years % 100, years - low))
    users = np.empty((len(styles), 3), dtype=np.int64)
    users[:, 0] = np.array([given, given_underscore, initial, given])[styles] + given_codes
    users[:, 1] = np.where(last, _NOTHING, family + family_codes)
    users[:, 2] = tails
    local_parts = np.empty((len(styles), 3), dtype=np.int64)
    local_parts[:, 0] = np.array([given, given, initial, given])[styles] + given_codes
    local_parts[:, 1] = np.where(last, dot_initial, dot_family) + family_codes
    local_parts[:, 2] = tails
    return (
        book.take_users(_clipped_rows(_joined(pieces, users), _USERNAME_MAX)),
        book.take_locals(_clipped_rows(_joined(pieces, local_parts), _LOCAL_PART_MAX - 6)),
    )


def _pieces(tables: _Tables, years: range) -> tuple[np.ndarray, tuple[int, ...]]:
    """Every text an address is made of, as UTF-8 in one object array: "" and "\\n", then given slugs, given slugs
    and "_", given initials, family slugs, "." and family slugs, "." and family initials, then numbers 0-99,
    two-digit years 00-99 and `years`, each followed by "\\n"; and where each of those parts starts.
    All but the years are built once a population (`tables.memo`)."""
    cached = tables.memo.setdefault("address_pieces", {})
    if not cached:
        parts = (
            tables.given_slug,
            tables.given_slug + "_",
            tables.given_initial,
            tables.family_slug,
            "." + tables.family_slug,
            "." + tables.family_initial,
            np.array([f"{i}\n" for i in range(100)], dtype=object),
            np.array([f"{i:02d}\n" for i in range(100)], dtype=object),
        )
        texts = np.concatenate([np.array(["", "\n"], dtype=object), *parts]).tolist()
        cached[0] = col.object_table(col.utf8_each(texts))
        cached[1] = tuple(np.cumsum([2, *map(len, parts)]).tolist())
    fixed, starts = cached[0], cached[1]
    return np.concatenate((fixed, col.object_table([b"%d\n" % year for year in years]))), starts


def _joined(pieces: np.ndarray, at: np.ndarray) -> bytes:
    """The texts `pieces[at]`, joined in one C call."""
    return b"".join(pieces.take(at.ravel()).tolist())


def _clipped_rows(data: bytes, limit: int) -> list[bytes]:
    """The rows of newline-ended `data` (addresses: no other newline), each `_clip`ped to `limit` characters.
    Unclipped rows need no strip: slugs are [a-z0-9]+, so no form starts or ends with a dot."""
    rows = data.split(b"\n")
    rows.pop()  # the empty text after the last newline
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
    if len(ends) and int(np.diff(ends, prepend=-1).max()) > limit + 1:  # a row longer in bytes, maybe in characters
        rows = [row if len(row) <= limit else _clipped(row, limit) for row in rows]
    return rows


def _clipped(row: bytes, limit: int) -> bytes:
    text = row.decode("utf-8")
    return row if len(text) <= limit else _clip(text, limit).encode("utf-8")


def _clip(value: str, limit: int) -> str:
    return value[:limit].strip(".")


def agent_ids(population_key: str, count: int, *, start: int = 0) -> list[bytes]:
    """`str(uuid5(AGENT_ID_NAMESPACE, f"{key}:{index}")).encode()` for every index in `start..count-1`: one sha1 a
    row (a copy of the prefix's state), then the version bits and the hex text for all rows at once, a character
    position at a time (rows of `text`)."""
    n = max(count - start, 0)
    prefixed = hashlib.sha1(AGENT_ID_NAMESPACE.bytes + f"{population_key}:".encode())
    digests = []
    for index in range(start, count):
        row = prefixed.copy()
        row.update(b"%d" % index)
        digests.append(row.digest())
    octets = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(n, 20)[:, :16].T.copy()
    octets[6] = (octets[6] & 0x0F) | 0x50
    octets[8] = (octets[8] & 0x3F) | 0x80
    nibbles = np.empty((32, n), dtype=np.uint8)
    nibbles[0::2], nibbles[1::2] = octets >> 4, octets & 0x0F
    text = np.empty((37, n), dtype=np.uint8)
    text[_HEX_DIGITS] = nibbles + ord("0") + (nibbles > 9) * np.uint8(ord("a") - ord("0") - 10)
    text[[8, 13, 18, 23]] = ord("-")
    text[36] = ord("\n")
    ids = text.T.tobytes().split(b"\n")
    ids.pop()  # the empty text after the last newline
    return ids


# Where the 32 hex digits go in the 36-character UUID text (the rest are dashes).
_HEX_DIGITS = [i for i in range(36) if i not in (8, 13, 18, 23)]
