"""Seeded offline text: readable synthetic bios and flavour fields with no model and no network.

`offline_bio` is the single source of the offline `bio` field: generation calls it per agent, and the LLM
adapter's offline backend calls it for `generate_field("bio", ...)`, so both always agree.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

_OPENERS = (
    "{name}, {age}, lives in {city}.",
    "{name} is {age} and calls {city} home.",
    "Based in {city}, {name} ({age}) keeps busy.",
    "{name} ({age}) splits time between work and {city}'s corners.",
    "From {city}: {name}, {age}.",
)
_INTEREST_LINES = (
    "Into {a} and {b}.",
    "Spends weekends on {a}; weeknights on {b}.",
    "Talks about {a} more than {b}, but loves both.",
    "Usually found reading about {a} or trying out {b}.",
    "{A} first, {b} a close second.",
)
_SINGLE_INTEREST_LINES = (
    "Mostly into {a}.",
    "Can talk about {a} for hours.",
    "{A} is the main thing.",
)
_TONE_LINES = {
    "casual": ("Keeps it light.", "Here for the good threads.", "Low-key, mostly lurking."),
    "formal": ("Prefers well-sourced discussion.", "Writes carefully.", "Values clear arguments."),
    "enthusiastic": ("Always excited to share!", "Big fan of new ideas!", "Loves a good recommendation!"),
    "sarcastic": (
        "Opinions are, regrettably, my own.",
        "Professional overthinker.",
        "Mildly amused by everything.",
    ),
    "thoughtful": ("Asks more than answers.", "Likes slow conversations.", "Thinks before posting."),
    "witty": ("Puns are a lifestyle.", "Collector of one-liners.", "Here for the jokes."),
}
SYNTHETIC_MARK = "(synthetic persona)"


def template_text() -> str:
    """Every literal an offline bio can contain but names, cities and interests (to check escaping once)."""
    lines = [line for lines in _TONE_LINES.values() for line in lines]
    return "".join([*_OPENERS, *_INTEREST_LINES, *_SINGLE_INTEREST_LINES, *lines, SYNTHETIC_MARK])


def _pretty(slug: str) -> str:
    return slug.replace("_", " ").replace("-", " ")


def offline_bio(given_name: str, age: int, city: str, interests: Sequence[str], tone: str, seed: int) -> str:
    """A short bio from seeded templates; identical for identical arguments on every machine.

    Template choices are digits of `seed` in mixed radix (no RNG object per call), which keeps 100k bios fast.
    """
    rest = abs(int(seed))
    rest, opener_at = divmod(rest, len(_OPENERS))
    opener = _OPENERS[opener_at].format(name=given_name, age=age, city=city)
    pretty = [_pretty(i) for i in interests]
    if len(pretty) >= 2:
        rest, first = divmod(rest, len(pretty))
        rest, offset = divmod(rest, len(pretty) - 1)
        a, b = pretty[first], pretty[(first + 1 + offset) % len(pretty)]
        rest, line_at = divmod(rest, len(_INTEREST_LINES))
        middle = _INTEREST_LINES[line_at].format(a=a, b=b, A=a[:1].upper() + a[1:])
    elif pretty:
        a = pretty[0]
        rest, line_at = divmod(rest, len(_SINGLE_INTEREST_LINES))
        middle = _SINGLE_INTEREST_LINES[line_at].format(a=a, A=a[:1].upper() + a[1:])
    else:
        middle = ""
    closers = _TONE_LINES.get(tone, _TONE_LINES["casual"])
    closer = closers[rest % len(closers)]
    return " ".join(part for part in (opener, middle, closer, SYNTHETIC_MARK) if part)


def offline_bios(
    given_names: Sequence[str],
    ages: Sequence[int],
    cities: Sequence[str],
    interests: Sequence[Sequence[str]],
    tones: Sequence[str],
    seeds: Sequence[int],
) -> list[str]:
    """`offline_bio` for many rows at once: the same text, row for row."""
    pool = sorted({name for row in interests for name in row})
    at = {name: i for i, name in enumerate(pool)}
    width = max((len(row) for row in interests), default=0)
    rows = np.full((len(interests), max(width, 1)), len(pool), dtype=np.int64)
    for i, row in enumerate(interests):
        rows[i, : len(row)] = [at[name] for name in row]
    sizes = np.fromiter((len(row) for row in interests), dtype=np.int64, count=len(interests))
    tone_names = sorted(set(tones))
    tone_at = {name: i for i, name in enumerate(tone_names)}
    tone_codes = np.fromiter((tone_at[t] for t in tones), dtype=np.int64, count=len(tones))
    return columnar_bios(list(given_names), list(ages), list(cities), pool, rows, sizes, tone_names, tone_codes, seeds)


def _opener_parts(template: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """An opener as 4 literals around its 3 fields, and which field (0 name, 1 age, 2 city) comes where."""
    literals, fields = [""], []
    for literal, field, _, _ in string.Formatter().parse(template):
        literals[-1] += literal
        if field is not None:
            fields.append(("name", "age", "city").index(field))
            literals.append("")
    if sorted(fields) != [0, 1, 2]:
        raise ValueError(f"opener {template!r} must use name, age and city once each")
    return tuple(literals), tuple(fields)


_OPENER_PARTS = tuple(_opener_parts(t) for t in _OPENERS)
_SEPARATOR = "\x00"


@lru_cache(maxsize=1 << 16)
def _middle(kind: int, a: str, b: str, line: int) -> str:
    """The interests sentence of a bio with a leading space ('' without interests): kind 2 = a pair, 1 = one."""
    if kind == 2:
        x, y = _pretty(a), _pretty(b)
        return " " + _INTEREST_LINES[line].format(a=x, b=y, A=x[:1].upper() + x[1:])
    if kind == 1:
        x = _pretty(a)
        return " " + _SINGLE_INTEREST_LINES[line].format(a=x, A=x[:1].upper() + x[1:])
    return ""


def columnar_bios(
    given_names: Sequence[str],
    ages: Sequence[int],
    cities: Sequence[str],
    pool: Sequence[str],
    interest_rows: Any,
    sizes: Any,
    tone_names: Sequence[str],
    tone_codes: Any,
    seeds: Any,
) -> list[str]:
    """`offline_bio` for every row, from columns: row `i`'s interests are `pool[interest_rows[i, :sizes[i]]]`
    and its tone `tone_names[tone_codes[i]]`.

    The template arithmetic is vectorised, each distinct interest line is written once, and the rows are
    assembled by one C-level join of all pieces (split back on a separator no input contains; checked).
    """
    n = len(given_names)
    if not n:
        return []
    rest = np.abs(np.asarray(seeds, dtype=np.int64))
    sizes = np.asarray(sizes, dtype=np.int64)
    tone_codes = np.asarray(tone_codes, dtype=np.int64)
    rest, opener_at = np.divmod(rest, len(_OPENERS))
    safe = np.maximum(sizes, 1)
    rest_multi, first = np.divmod(rest, safe)
    rest_multi, offset = np.divmod(rest_multi, np.maximum(sizes - 1, 1))
    rest_multi, pair_line = np.divmod(rest_multi, len(_INTEREST_LINES))
    rest_single, single_line = np.divmod(rest, len(_SINGLE_INTEREST_LINES))
    rest = np.where(sizes >= 2, rest_multi, np.where(sizes == 1, rest_single, rest))
    rows = np.arange(n)
    kind = np.where(sizes >= 2, 2, np.where(sizes == 1, 1, 0))
    a = np.where(sizes >= 1, interest_rows[rows, first], 0)
    b = np.where(sizes >= 2, interest_rows[rows, (first + 1 + offset) % safe], 0)
    line = np.where(sizes >= 2, pair_line, np.where(sizes == 1, single_line, 0))
    p = len(pool) + 1
    middle_keys, middle_at = np.unique(((kind * p + a) * p + b) * len(_INTEREST_LINES) + line, return_inverse=True)
    middles = []
    for key in middle_keys.tolist():
        key, line_at = divmod(key, len(_INTEREST_LINES))
        key, b_at = divmod(key, p)
        kind_at, a_at = divmod(key, p)
        middles.append(_middle(kind_at, pool[a_at] if kind_at else "", pool[b_at] if kind_at == 2 else "", line_at))
    closer_sets = [_TONE_LINES.get(t, _TONE_LINES["casual"]) for t in tone_names]
    closer_at = rest % np.array([len(c) for c in closer_sets], dtype=np.int64)[tone_codes]
    closers = np.array([f" {c} {SYNTHETIC_MARK}{_SEPARATOR}" for cs in closer_sets for c in cs], dtype=object)
    closer_base = np.cumsum([0] + [len(c) for c in closer_sets])[:-1]

    fields = np.empty((3, n), dtype=object)
    fields[0], fields[1], fields[2] = list(given_names), [str(x) for x in ages], list(cities)
    literal_table = np.array([parts[0] for parts in _OPENER_PARTS], dtype=object)
    field_table = np.array([parts[1] for parts in _OPENER_PARTS], dtype=np.int64)
    stride = 9
    flat: list[str] = [""] * (n * stride)
    for j in range(4):
        flat[2 * j :: stride] = literal_table[opener_at, j].tolist()
    for j in range(3):
        flat[2 * j + 1 :: stride] = fields[field_table[opener_at, j], rows].tolist()
    flat[7::stride] = np.array(middles, dtype=object)[middle_at.reshape(-1)].tolist()
    flat[8::stride] = closers[closer_base[tone_codes] + closer_at].tolist()
    bios = "".join(flat).split(_SEPARATOR)
    if len(bios) != n + 1:  # a name or city contained the separator: format row by row instead
        picked = zip(interest_rows.tolist(), sizes.tolist(), strict=True)
        interests = [tuple(pool[i] for i in row[:size]) for row, size in picked]
        tones = [tone_names[t] for t in tone_codes.tolist()]
        return [
            offline_bio(*row)
            for row in zip(given_names, ages, cities, interests, tones, np.asarray(seeds).tolist(), strict=True)
        ]
    bios.pop()
    return bios
