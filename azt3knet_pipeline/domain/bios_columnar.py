"""Generator v2 bios from columns: the same text as `bios.bios`, row for row, without formatting row by row.

Each distinct interest sentence and tone line is written once, and the rows are assembled by one C-level join
of all pieces. tests/unit/domain/test_fast_encoder.py checks it against `bios.bios`.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from functools import cache

import numpy as np

from azt3knet_pipeline.domain.bios import INTEREST_WORDS, TEMPLATES, _word, bios

_SEPARATOR = "\x00"


@cache
def _openers(language: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The language's openers as literals (openers x 4) around their fields (openers x 3: 0 name, 1 age,
    2 city, in template order); None if an opener does not use each field exactly once."""
    literals, orders = [], []
    for template in TEMPLATES[language][0]:
        parts, fields = [""], []
        for literal, field, spec, conversion in string.Formatter().parse(template):
            parts[-1] += literal
            if spec or conversion:
                return None
            if field is not None:
                fields.append(("name", "age", "city").index(field) if field in ("name", "age", "city") else -1)
                parts.append("")
        if sorted(fields) != [0, 1, 2]:
            return None
        literals.append(parts)
        orders.append(fields)
    return np.array(literals, dtype=object), np.array(orders, dtype=np.int64)


def template_text(language: str) -> str:
    """Every literal a bio in `language` can contain but names and cities (to check escaping once)."""
    openers, pairs, singles, closers, mark = TEMPLATES[language]
    words = INTEREST_WORDS.get(language, {}).values()
    return "".join([*openers, *pairs, *singles, *(line for lines in closers.values() for line in lines), mark, *words])


def columnar_bios(
    language: str,
    given_names: np.ndarray,
    ages: np.ndarray,
    cities: np.ndarray,
    pool: Sequence[str],
    interest_rows: np.ndarray,
    sizes: np.ndarray,
    tone_codes: np.ndarray,
    tone_names: Sequence[str],
    seeds: np.ndarray,
    memo: dict[int, str] | None = None,
) -> list[str]:
    """`bios(...)` for every row, from columns: row `i` has interests `pool[interest_rows[i, :sizes[i]]]` (pool
    order) and tone `tone_names[tone_codes[i]]`; names and cities are object arrays.

    The template arithmetic is vectorised, each distinct interest sentence and tone line is written once, and
    the rows are assembled by one C-level join of all pieces, split back on a separator no input contains
    (checked; else row by row). `memo` keeps the interest sentences across the chunks of one population (same
    language and pool).
    """
    n = len(seeds)
    parts = _openers(language)
    openers, pairs, singles, closers, mark = TEMPLATES[language]
    if any(len(lines) != 2 for lines in closers.values()) or (n and int(sizes.max()) > 3):
        raise ValueError("bio templates assume 2 tone lines and at most 3 interests")
    if not n or parts is None:
        return _rowwise(language, given_names, ages, cities, pool, interest_rows, sizes, tone_codes, tone_names, seeds)
    sep = "" if language == "ja" else " "
    rest = np.abs(np.asarray(seeds, dtype=np.int64))
    rest, opener_at = np.divmod(rest, len(openers))
    rest, line_at = np.divmod(rest, len(pairs) * len(singles))
    rows = np.arange(n)
    # The interest sentence: words a, b (pool indices) picked by r mod len(words), as `_tail` picks them.
    safe = np.maximum(sizes, 1)
    first = rest % safe
    a = interest_rows[rows, first]
    b = np.where(sizes >= 2, interest_rows[rows, (first + 1) % safe], 0)
    kind = np.minimum(sizes, 2)
    line = np.where(sizes >= 2, line_at % len(pairs), line_at % len(singles))
    p = len(pool) + 1
    middle_keys, middle_at = np.unique(((kind * p + a) * p + b) * 6 + line, return_inverse=True)
    words = [_word(language, slug) for slug in pool]
    memo = {} if memo is None else memo
    middles = []
    for middle_key in middle_keys.tolist():
        known = memo.get(middle_key)
        if known is not None:
            middles.append(known)
            continue
        key, line_of = divmod(middle_key, 6)
        key, b_of = divmod(key, p)
        kind_of, a_of = divmod(key, p)
        if kind_of == 2:
            middle = sep + pairs[line_of].format(a=words[a_of], b=words[b_of])
        elif kind_of == 1:
            middle = sep + singles[line_of].format(a=words[a_of])
        else:
            middle = ""
        middles.append(memo.setdefault(middle_key, middle))
    # The tone line: tone_lines[(r // 7) % 2], then the synthetic mark.
    closer_table = np.array(
        [f"{sep}{line}{sep}{mark}{_SEPARATOR}" for t in tone_names for line in closers.get(t, closers["casual"])],
        dtype=object,
    )
    literals, orders = parts
    fields = np.empty((3, n), dtype=object)
    fields[0], fields[2] = given_names, cities
    fields[1] = np.array([str(age) for age in range(int(ages.max()) + 1)], dtype=object)[ages]
    stride = 9
    flat: list[str] = [""] * (n * stride)
    for j in range(4):
        flat[2 * j :: stride] = literals[opener_at, j].tolist()
    for j in range(3):
        flat[2 * j + 1 :: stride] = fields[orders[opener_at, j], rows].tolist()
    flat[7::stride] = np.array(middles, dtype=object)[middle_at.reshape(-1)].tolist()
    flat[8::stride] = closer_table[tone_codes * 2 + (rest // 7) % 2].tolist()
    bios = "".join(flat).split(_SEPARATOR)
    if len(bios) != n + 1:  # a name or city contained the separator
        return _rowwise(language, given_names, ages, cities, pool, interest_rows, sizes, tone_codes, tone_names, seeds)
    bios.pop()
    return bios


def _rowwise(
    language: str,
    given_names: np.ndarray,
    ages: np.ndarray,
    cities: np.ndarray,
    pool: Sequence[str],
    interest_rows: np.ndarray,
    sizes: np.ndarray,
    tone_codes: np.ndarray,
    tone_names: Sequence[str],
    seeds: np.ndarray,
) -> list[str]:
    picked = zip(interest_rows.tolist(), sizes.tolist(), strict=True)
    interests = [tuple(pool[i] for i in row[:size]) for row, size in picked]
    tones = [tone_names[t] for t in tone_codes.tolist()]
    return bios(language, list(given_names), ages.tolist(), list(cities), interests, tones, seeds)
