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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
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
    """Row `i` holds `values[codes[i]]`: low-cardinality columns (cities, tones, names, interest sets)."""

    codes: np.ndarray
    values: Sequence[Any]


@dataclass(frozen=True)
class Ints:
    """Integers, one a row."""

    values: np.ndarray


@dataclass(frozen=True)
class Strs:
    """Free text, one string a row."""

    values: list[str]


@dataclass(frozen=True)
class Values:
    """Anything JSON-ready, one a row (a frame read back after enrichment): encoded generically."""

    values: list[Any]


Column = Const | Coded | Ints | Strs | Values


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
    return list(column.values)


def _take(values: Sequence[Any], codes: np.ndarray, encode: Callable[[Any], Any]) -> list[Any]:
    """`[encode(values[c]) for c in codes]`, encoding each distinct used value once."""
    table = np.empty(len(values), dtype=object)
    for code in np.unique(codes).tolist():
        table[code] = encode(values[code])
    return table[codes].tolist()


def _escaped(values: list[str]) -> list[str]:
    """JSON string bodies (no quotes): the values themselves unless one of them needs escaping (rare)."""
    if not _JSON_ESCAPE.search("".join(values)):
        return values
    return [_encode_basestring(v)[1:-1] for v in values]


def _dumps(value: Any) -> str:
    return json.dumps(list(value) if isinstance(value, tuple) else value, ensure_ascii=False, separators=(",", ":"))


def json_rows(chunk: ProfileChunk) -> list[str]:
    """Each profile's canonical JSON (sorted keys, compact, UTF-8): `canonical_json(record)` byte for byte."""
    parts: list[str] = []
    args: list[list[Any]] = []
    for name in sorted(chunk.columns):
        column = chunk.columns[name]
        key = _dumps(name) + ":"
        if isinstance(column, Const):
            parts.append((key + _dumps(column.value)).replace("%", "%%"))
            continue
        if isinstance(column, Strs):
            parts.append(key + '"%s"')
            args.append(_escaped(column.values))
            continue
        parts.append(key + "%s")
        if isinstance(column, Coded):
            args.append(_take(column.values, column.codes, _dumps))
        elif isinstance(column, Ints):
            args.append(list(map(str, column.values.tolist())))
        else:
            cache: dict[Any, str] = {}
            args.append([cache.get(v) or cache.setdefault(v, _dumps(v)) for v in map(_hashable, column.values)])
    template = "{" + ",".join(parts) + "}"
    if not args:
        return [template.replace("%%", "%")] * chunk.size
    return [template % row for row in zip(*args, strict=True)]


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def canonical_content(chunks: Iterable[ProfileChunk]) -> Iterator[str]:
    """The canonical JSON of every profile (`[row,row,...]`) as consecutive pieces, one a chunk."""
    opened = False
    for chunk in chunks:
        rows = json_rows(chunk)
        if rows:
            yield ("," if opened else "[") + ",".join(rows)
            opened = True
    yield "]" if opened else "[]"


def content_hash(chunks: Iterable[ProfileChunk]) -> str:
    """sha256 of the canonical JSON, fed piece by piece: memory does not grow with the population."""
    digest = hashlib.sha256()
    for piece in canonical_content(chunks):
        digest.update(piece.encode("utf-8"))
    return digest.hexdigest()


def jsonl(chunk: ProfileChunk) -> str:
    """The chunk as JSON lines: one canonical row a line."""
    rows = json_rows(chunk)
    return "\n".join(rows) + "\n" if rows else ""


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
