"""Profiles as columns, and the one set of column encoders behind canonical JSON, JSONL, CSV and records.

A `ProfileChunk` holds a run of consecutive profiles column by column. Each column says what it is, so each
encoder does the least work that gives the exact bytes: a constant is encoded once into the row template, a
coded column (codes into a small table of values) encodes each distinct value once and takes by code, and only
truly per-row text (bios, names, addresses) is escaped row by row, and only when it needs escaping at all.
The canonical JSON of a population is `[row,row,...]` of these rows, JSONL is the same rows one per line, so the
content hash and every export come from the same bytes. Pure: no I/O here.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, pairwise
from typing import Any

import numpy as np

# Exactly the escaping `json.dumps(..., ensure_ascii=False)` applies to a string.
_JSON_ESCAPE = json.encoder.ESCAPE  # type: ignore[attr-defined]
_encode_basestring: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Const:
    """The same value in every row."""

    value: Any


@dataclass(frozen=True)
class Coded:
    """Row `i` holds `values[codes[i]]`: low-cardinality columns (cities, tones, names, interest sets).

    A table is never changed once a column uses it, only appended to: encoders cache its text by identity."""

    codes: np.ndarray
    values: Sequence[Any]


@dataclass(frozen=True)
class Ints:
    """Integers, one a row."""

    values: np.ndarray


@dataclass(frozen=True)
class Strs:
    """Text, one string a row. `plain`: known to need no JSON escaping, by construction ([A-Za-z0-9._-] ids and
    addresses) or because every text the values are made of was checked once (`needs_escaping`)."""

    values: list[str]
    plain: bool = False


@dataclass(frozen=True)
class Utf8:
    """Text as UTF-8, one bytes object a row, known by construction to need no JSON escaping ([A-Za-z0-9._-] ids
    and addresses): written as they are, decoded only where text is asked for (records, CSV)."""

    values: list[bytes]


@dataclass(frozen=True)
class Concat:
    """Text made of parts: row `i` is the concatenation of every part's row `i` (display names, bios). Parts
    are constants and coded columns of strings, so no row's text is ever built to be written: JSON escaping
    maps character by character, and each distinct part is escaped and encoded once."""

    parts: tuple[Const | Coded, ...]


@dataclass(frozen=True)
class Values:
    """Anything JSON-ready, one a row (a frame read back after enrichment): encoded generically."""

    values: list[Any]


Column = Const | Coded | Ints | Strs | Utf8 | Concat | Values


@dataclass(frozen=True)
class ProfileChunk:
    """Profiles `start .. start + size - 1` of a population, column by column (keys = profile field names)."""

    start: int
    size: int
    columns: dict[str, Column]

    def values(self, name: str) -> list[Any]:
        """One column as a plain list (tuples stay tuples, numpy integers become ints)."""
        return column_values(self.columns[name], self.size)


def column_values(column: Column, size: int) -> list[Any]:
    if isinstance(column, Const):
        return [column.value] * size
    if isinstance(column, Coded):
        return _take(column.values, column.codes, lambda value: value)
    if isinstance(column, Ints):
        return column.values.tolist()
    if isinstance(column, Concat):
        return list(map("".join, zip(*(column_values(part, size) for part in column.parts), strict=True)))
    if isinstance(column, Utf8):
        return _decoded_each(column.values)
    return list(column.values)


def _decoded_each(texts: list[bytes]) -> list[str]:
    """`[text.decode("utf-8") for text in texts]` in one call: joined on NUL and split back (texts holding a NUL
    are decoded one by one)."""
    parts = b"\x00".join(texts).decode("utf-8").split("\x00") if texts else []
    return parts if len(parts) == len(texts) else [text.decode("utf-8") for text in texts]


def object_table(values: Sequence[Any]) -> np.ndarray:
    """`values` as a 1-d object array (tuples stay elements, never a second axis)."""
    table = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        table[i] = value
    return table


def object_values(column: Column, size: int) -> np.ndarray:
    """One column as a 1-d object array of its row values."""
    if isinstance(column, Const):
        table = object_table([column.value])
        return table[np.zeros(size, dtype=np.intp)]
    if isinstance(column, Coded):
        return object_table(column.values)[column.codes]
    return object_table(column_values(column, size))


def _take(values: Sequence[Any], codes: np.ndarray, encode: Callable[[Any], Any]) -> list[Any]:
    """`[encode(values[c]) for c in codes]`, encoding each distinct used value once."""
    table = np.empty(len(values), dtype=object)
    for code in np.flatnonzero(np.bincount(codes, minlength=len(values))).tolist():
        table[code] = encode(values[code])
    return table[codes].tolist()


def needs_escaping(texts: Iterable[str]) -> bool:
    """Whether any of `texts` has a character JSON must escape (a quote, a backslash, a control character)."""
    return _JSON_ESCAPE.search("".join(texts)) is not None


def _escaped(values: list[str]) -> list[str]:
    """JSON string bodies (no quotes): the values themselves unless one of them needs escaping (rare)."""
    if not _JSON_ESCAPE.search("".join(values)):
        return values
    return [_encode_basestring(v)[1:-1] for v in values]


def _dumps(value: Any) -> str:
    """`json.dumps(value, ensure_ascii=False, separators=(",", ":"))`; strings and lists of strings go straight
    to the C string encoder that json.dumps itself uses (the same bytes, without its per-call overhead)."""
    if type(value) is str:
        return _encode_basestring(value)
    if type(value) in (tuple, list):
        try:
            return "[" + ",".join(map(_encode_basestring, value)) + "]"
        except TypeError:  # an item that is not a string
            pass
    return json.dumps(list(value) if isinstance(value, tuple) else value, ensure_ascii=False, separators=(",", ":"))


def json_rows(chunk: ProfileChunk, sep: bytes, *, last_sep: bool = True) -> bytes:
    """Each profile's canonical JSON as UTF-8 (sorted keys, compact: `canonical_json(record)` byte for byte),
    each followed by `sep` (but the last one only when `last_sep`)."""
    return b"".join(json_blocks(chunk, sep, last_sep=last_sep))


def json_blocks(chunk: ProfileChunk, sep: bytes, *, last_sep: bool = True) -> list[bytes]:
    """`json_rows(chunk, sep, last_sep=...)` as consecutive blocks of rows: a caller that writes or hashes the
    rows needs no copy of the whole chunk in one piece.

    Rows are never formatted one by one: the literal text between values is laid out once, and every value
    is written with the literal that follows it (a coded value or a small integer from a table encoded once per
    process, `_encoded_table`; text and wide integers joined and split in C), so a row is only its values: the
    last one also carries `sep` and the next row's opening literal. Neighbouring table-backed values with a
    small product of tables are one piece (`_pieces`). One flat list of byte strings is joined in C.
    """
    segments: list[tuple[str, Column | _Body]] = []  # (the literal before the value, its column)
    pending = "{"
    for name in sorted(chunk.columns):
        column = chunk.columns[name]
        pending += ("" if pending == "{" else ",") + _dumps(name) + ":"
        if isinstance(column, Const):
            pending += _dumps(column.value)
        elif isinstance(column, Strs | Utf8):
            segments.append((pending + '"', column))
            pending = '"'
        elif isinstance(column, Concat):
            pending += '"'
            for part in column.parts:
                if isinstance(part, Const):
                    pending += _encode_basestring(part.value)[1:-1]
                else:
                    segments.append((pending, _Body(part)))
                    pending = ""
            pending += '"'
        else:
            segments.append((pending, column))
            pending = ""
    n = chunk.size
    if not n:
        return []
    end = (pending + "}").encode("utf-8") + sep
    if not segments:  # every column a constant: every row the same text
        return [(end * n)[: None if last_sep else len(end) * n - len(sep)]]
    head = segments[0][0].encode("utf-8")
    suffixes = [literal.encode("utf-8") for literal, _ in segments[1:]] + [end + head]
    pieces = _pieces([column for _, column in segments], suffixes)
    stride = len(pieces)
    flat: list[bytes] = [b""] * (1 + n * stride)  # the first row's opening literal, then row after row
    flat[0] = head
    for k, piece in enumerate(pieces):
        flat[1 + k :: stride] = piece
    flat[-1] = flat[-1][: len(flat[-1]) - len(head) - (0 if last_sep else len(sep))]  # no row after the last
    # bytes.join holds an 80-byte buffer view per piece while it runs: join a block of rows at a time, small
    # enough that its views and its bytes stay in cache (writing 100,000 rows measured 91 ms in blocks of 256 rows,
    # 97 ms of 512, 111 ms of 1,024).
    edges = [0, *range(1 + _JOIN_ROWS * stride, len(flat), _JOIN_ROWS * stride), len(flat)]
    return [b"".join(flat[at:to]) for at, to in pairwise(edges)]


_JOIN_ROWS = 256


@dataclass(frozen=True)
class _Body:
    """A coded part of a `Concat`: its values are written as JSON string bodies (escaped, no quotes)."""

    part: Coded


@dataclass
class _Texts:
    """The texts of a table's entries by code, made as codes are first used: a coded table's JSON texts (each
    followed by one suffix), or a product of such tables (`_product`)."""

    held: Any  # what the texts are made from, held so its id is not reused while it is cached
    texts: np.ndarray  # object array of bytes; None where not yet made
    done: np.ndarray  # bool: which entries are made
    full: bool = False  # every entry made: nothing to look for until the table grows

    @classmethod
    def empty(cls, held: Any, size: int) -> _Texts:
        return cls(held, np.empty(size, dtype=object), np.zeros(size, dtype=bool))

    def grow(self, size: int) -> None:
        """Room for the entries a table appended since (tables are only appended to)."""
        grown = size - len(self.texts)
        if grown > 0:
            self.texts = np.concatenate([self.texts, np.empty(grown, dtype=object)])
            self.done = np.concatenate([self.done, np.zeros(grown, dtype=bool)])
            self.full = False

    def fill(self, codes: np.ndarray, make: Callable[[np.ndarray], list[bytes]]) -> np.ndarray:
        """The texts, once those that `codes` use and are not made yet are made: `make(missing codes)`."""
        if not self.full:
            missing = np.flatnonzero(np.bincount(codes, minlength=len(self.texts)).astype(bool) & ~self.done)
            if len(missing):
                self.texts[missing] = make(missing)
                self.done[missing] = True
                self.full = bool(self.done.all())
        return self.texts


# Tables are made once per population (names, places, time zones) and recur chunk after chunk: their texts are
# cached by the tables' ids, bounded, least recently used first out.
_ENCODED_MAX = 32
_ENCODED_LOCK = threading.Lock()
# (id of a Coded table, suffix, body) -> its JSON texts
_ENCODED: dict[tuple[int, bytes, bool], _Texts] = {}


def _remember(cache: dict[Any, _Texts], key: Any, entry: _Texts) -> None:
    """`entry` as the most recently used of `cache`; the least recently used goes when there are too many."""
    cache[key] = entry
    if len(cache) > _ENCODED_MAX:
        del cache[next(iter(cache))]


def _encoded_table(values: Sequence[Any], suffix: bytes, codes: np.ndarray, *, body: bool = False) -> np.ndarray:
    """The JSON text + `suffix` of every entry of `values` that `codes` uses, as an object array by code (`body`:
    strings without their quotes). A table that grew since it was cached (appended to) keeps what it had."""
    key = (id(values), suffix, body)
    with _ENCODED_LOCK:  # populations may be generated in several threads (the API): one filler at a time
        entry = _ENCODED.pop(key, None)
        if entry is None or entry.held is not values or len(entry.texts) > len(values):
            entry = _Texts.empty(values, len(values))
        else:
            entry.grow(len(values))
        _remember(_ENCODED, key, entry)
        return entry.fill(codes, lambda missing: _json_texts([values[c] for c in missing.tolist()], suffix, body=body))


def _json_texts(values: list[Any], suffix: bytes, *, body: bool) -> list[bytes]:
    """`[_dumps(value).encode("utf-8") + suffix for value in values]` (`body`: strings without their quotes).

    Strings, or non-empty tuples of strings, are escaped in one call: joined on NUL (\\x01 between a tuple's
    items), which JSON escapes, and split back on the escapes. Where a value holds either character, or its
    escape text, the counts of separators differ and every value is encoded one by one.
    """
    tail = suffix.decode("utf-8")
    kinds = set(map(type, values))
    if kinds == {str}:
        joined, items, (opening, closing) = "\x00".join(values), 0, ("", "") if body else ('"', '"')
    elif kinds == {tuple} and not body and all(values) and set(map(type, chain.from_iterable(values))) == {str}:
        joined, items, (opening, closing) = "\x00".join(map("\x01".join, values)), sum(map(len, values)), ('["', '"]')
    else:
        joined, items, opening, closing = "", 0, "", ""
    counts = (len(values) - 1, max(items - len(values), 0))
    escaped = _encode_basestring(joined)[1:-1] if joined else ""
    if not joined or (joined.count("\x00"), joined.count("\x01")) != counts:
        return _json_texts_one_by_one(values, suffix, body=body)
    if (escaped.count("\\u0000"), escaped.count("\\u0001")) != counts:
        return _json_texts_one_by_one(values, suffix, body=body)
    glue = closing + tail + "\x00" + opening
    text = opening + escaped.replace("\\u0001", '","').replace("\\u0000", glue) + closing + tail
    return text.encode("utf-8").split(b"\x00")


def _json_texts_one_by_one(values: list[Any], suffix: bytes, *, body: bool) -> list[bytes]:
    cut = slice(1, -1) if body else slice(None)
    return [_dumps(value)[cut].encode("utf-8") + suffix for value in values]


def _pieces(columns: list[Column | _Body], suffixes: list[bytes]) -> list[list[bytes]]:
    """Each row's JSON values of the columns, each followed by its suffix, in a list a piece: a column a piece, but
    neighbouring table-backed columns whose tables' product stays small are one piece (`_product`), so rows
    are fewer pieces to join (each costs bytes.join about as much as a short value's bytes)."""
    pieces: list[list[bytes]] = []
    run: list[tuple[np.ndarray, np.ndarray]] = []  # (texts by code, codes) of table-backed values not written yet
    for column, suffix in zip(columns, suffixes, strict=True):
        table = _tabular(column, suffix)
        if table is not None and run and math.prod(len(texts) for texts, _ in run) * len(table[0]) <= _PRODUCT_MAX:
            run.append(table)
            continue
        if run:
            pieces.append(_product(run))
        run = [table] if table is not None else []
        if table is None:
            pieces.append(_row_bytes(column, suffix))
    if run:
        pieces.append(_product(run))
    return pieces


def _tabular(column: Column | _Body, suffix: bytes) -> tuple[np.ndarray, np.ndarray] | None:
    """A column's JSON values followed by `suffix` as a table, and each row's code into it (coded values, a narrow
    range of integers); None for a column without a small table."""
    if isinstance(column, _Body):
        part = column.part
        return _encoded_table(part.values, suffix, part.codes, body=True), part.codes
    if isinstance(column, Coded):
        return _encoded_table(column.values, suffix, column.codes), column.codes
    if isinstance(column, Ints):
        lo, hi = int(column.values.min()), int(column.values.max())
        if hi - lo <= _INT_TABLE_MAX:
            first, texts = _int_table(lo, hi, suffix)
            return texts, column.values - first
    return None


_INT_TABLE_MAX = 4096
_INT_TABLES: dict[bytes, tuple[int, np.ndarray]] = {}  # suffix -> (its first integer, texts): only ever widened


def _int_table(lo: int, hi: int, suffix: bytes) -> tuple[int, np.ndarray]:
    """The texts `b"%d" + suffix` of a range of integers holding lo..hi, and its first integer. Kept by suffix and
    widened as chunks ask, so chunk after chunk it is the same table (and its products are too)."""
    with _ENCODED_LOCK:
        first, texts = _INT_TABLES.get(suffix, (lo, np.empty(0, dtype=object)))
        if first <= lo and hi < first + len(texts):
            return first, texts
        last = max(hi, first + len(texts) - 1) if len(texts) else hi
        first = min(lo, first)
        if last - first > _INT_TABLE_MAX:  # a range of its own (another population's): not kept
            return lo, np.array([b"%d%s" % (v, suffix) for v in range(lo, hi + 1)], dtype=object)
        texts = np.array([b"%d%s" % (v, suffix) for v in range(first, last + 1)], dtype=object)
        if len(_INT_TABLES) >= _ENCODED_MAX:
            _INT_TABLES.clear()
        _INT_TABLES[suffix] = (first, texts)
        return first, texts


# Neighbouring table-backed values are written as one piece while the product of their tables is this small
# (at most this many joined texts to make, once a population: the bio openers with their first fields fit).
_PRODUCT_MAX = 1 << 14
# (ids of the tables) -> the texts of their product: the entry of codes (c0, c1, ...), in mixed radix, is their
# texts joined
_PRODUCTS: dict[tuple[int, ...], _Texts] = {}


def _product(tables: list[tuple[np.ndarray, np.ndarray]]) -> list[bytes]:
    """Each row's texts of table-backed columns, joined: one piece a row from their product table, whose used
    entries are made once (cached like `_encoded_table`: tables recur chunk after chunk)."""
    if len(tables) == 1:
        texts, codes = tables[0]
        return texts[codes].tolist()
    parts = tuple(texts for texts, _ in tables)
    codes = tables[0][1]
    for texts, more in tables[1:]:
        codes = codes * len(texts) + more
    key = tuple(map(id, parts))
    with _ENCODED_LOCK:
        entry = _PRODUCTS.pop(key, None)
        if entry is None or any(held is not part for held, part in zip(entry.held, parts, strict=True)):
            entry = _Texts.empty(parts, math.prod(map(len, parts)))
        _remember(_PRODUCTS, key, entry)
        return entry.fill(codes, lambda missing: _joined_product(parts, missing))[codes].tolist()


def _joined_product(parts: tuple[np.ndarray, ...], codes: np.ndarray) -> list[bytes]:
    """The product entries `codes` (mixed radix over `parts`): each its parts' texts joined."""
    rest, columns = codes, []
    for part in reversed(parts):
        rest, at = np.divmod(rest, len(part))
        columns.append(part[at].tolist())
    return list(map(b"".join, zip(*reversed(columns), strict=True)))


def _row_bytes(column: Column | _Body, suffix: bytes) -> list[bytes]:
    """Each row's JSON value followed by `suffix`, for a column without a small table: text and wide integers
    joined and split in one C call, anything else encoded once a distinct value."""
    if isinstance(column, Ints):
        return utf8_each(list(map(str, column.values.tolist())), suffix.decode("utf-8"))
    if isinstance(column, Strs):
        return utf8_each(column.values if column.plain else _escaped(column.values), suffix.decode("utf-8"))
    if isinstance(column, Utf8):
        return _suffixed_each(column.values, suffix)
    assert isinstance(column, Values)
    cache: dict[Any, bytes] = {}
    return [
        cache.get(v) or cache.setdefault(v, _dumps(v).encode("utf-8") + suffix) for v in map(_hashable, column.values)
    ]


def utf8_each(texts: list[str], suffix: str = "") -> list[bytes]:
    """The UTF-8 bytes of each text followed by `suffix`, encoded in one call: joined on NUL and split back.
    JSON string bodies, JSON literals and addresses never hold a raw NUL (JSON escapes control characters);
    texts that do are encoded one by one."""
    if not texts:
        return []
    parts = ((suffix + "\x00").join(texts) + suffix).encode("utf-8").split(b"\x00")
    return parts if len(parts) == len(texts) else [(text + suffix).encode("utf-8") for text in texts]


def _suffixed_each(texts: list[bytes], suffix: bytes) -> list[bytes]:
    """Each text followed by `suffix`, in one C join and split on NUL (texts holding a NUL, one by one)."""
    if not texts:
        return []
    parts = ((suffix + b"\x00").join(texts) + suffix).split(b"\x00")
    return parts if len(parts) == len(texts) else [text + suffix for text in texts]


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def canonical_content(chunks: Iterable[ProfileChunk]) -> Iterator[bytes]:
    """The canonical JSON of every profile (`[row,row,...]`, UTF-8) as consecutive pieces."""
    opened = False
    for chunk in chunks:
        if chunk.size:
            yield b"," if opened else b"["
            yield from json_blocks(chunk, b",", last_sep=False)
            opened = True
    yield b"]" if opened else b"[]"


def content_hash(chunks: Iterable[ProfileChunk]) -> str:
    """sha256 of the canonical JSON, fed piece by piece: memory does not grow with the population."""
    digest = hashlib.sha256()
    for piece in canonical_content(chunks):
        digest.update(piece)
    return digest.hexdigest()


def jsonl(chunk: ProfileChunk) -> bytes:
    """The chunk as JSON lines (UTF-8): one canonical row a line."""
    return json_rows(chunk, b"\n")


def jsonl_blocks(chunk: ProfileChunk) -> list[bytes]:
    """`jsonl(chunk)` as consecutive blocks of lines (no copy of the whole chunk)."""
    return json_blocks(chunk, b"\n")


def csv_text(chunk: ProfileChunk, columns: Sequence[str], *, header: bool) -> str:
    """The chunk as CSV (quote-minimal, `\\n` line ends, lists joined with `|`, booleans `True`/`False`): the
    same bytes `DataFrame.to_csv(index=False, lineterminator="\\n")` wrote before."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(columns)
    values = []
    for name in columns:
        column = chunk.columns[name]
        if isinstance(column, Coded):
            values.append(_take(column.values, column.codes, _csv_cell))
        else:
            values.append([_csv_cell(v) for v in column_values(column, chunk.size)])
    writer.writerows(zip(*values, strict=True))
    return buffer.getvalue()


def _csv_cell(value: Any) -> Any:
    return "|".join(value) if isinstance(value, tuple | list) else value


def records(chunk: ProfileChunk) -> list[dict[str, Any]]:
    """JSON-ready dicts (tuples become lists), in row order."""
    names = list(chunk.columns)
    columns = []
    for name in names:
        column = chunk.columns[name]
        # A fresh list per row: callers may mutate a record without touching the others.
        columns.append([_jsonable(v) for v in column_values(column, chunk.size)])
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
