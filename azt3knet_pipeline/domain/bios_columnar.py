"""Generator v2 bios from columns: the same text as `bios.bios`, row for row, without formatting row by row.

A bio is a `Concat` of coded parts (opener literals, fields, the interest sentence, the tone line): each distinct
part is written once, and the encoders join the parts of every row in C. tests/unit/domain/test_fast_encoder.py
checks it against `bios.bios`.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from azt3knet_pipeline.domain.bios import TEMPLATES, _word, bios
from azt3knet_pipeline.domain.columns import Coded, Column, Concat, Strs, column_values
from azt3knet_pipeline.domain.draws import Memo

# Ages as text, for bios: ages are bounded by the spec model (13..90); a wider age falls back to row by row.
_AGE_TEXTS: tuple[str, ...] = tuple(str(age) for age in range(256))


@cache
def _openers(language: str) -> tuple[tuple[tuple[str, ...], ...], np.ndarray] | None:
    """The language's openers as 4 literal tables (slot j: every opener's j-th literal) around their fields
    (openers x 3: 0 name, 1 age, 2 city, in template order); None if an opener does not use each field exactly
    once. Cached, so the tables keep one identity (their encoded text is cached by table)."""
    literals, orders = [], []
    for template in TEMPLATES[language][0]:
        parts, fields = [""], []
        for literal, name, spec, conversion in string.Formatter().parse(template):
            parts[-1] += literal
            if spec or conversion:
                return None
            if name is not None:
                fields.append(("name", "age", "city").index(name) if name in ("name", "age", "city") else -1)
                parts.append("")
        if sorted(fields) != [0, 1, 2]:
            return None
        literals.append(parts)
        orders.append(fields)
    return tuple(zip(*literals, strict=True)), np.array(orders, dtype=np.int64)


@cache
def _closers(language: str, tone_names: tuple[str, ...]) -> tuple[str, ...]:
    """The tone line and synthetic mark that end a bio, by `tone code * 2 + which of the tone's two lines`."""
    _, _, _, closers, mark = TEMPLATES[language]
    sep = "" if language == "ja" else " "
    return tuple(f"{sep}{line}{sep}{mark}" for t in tone_names for line in closers.get(t, closers["casual"]))


@dataclass
class BioMemo:
    """What the bios of one population share across its chunks (same language and pool): the table of interest
    sentences, grown as new ones appear, and the field tables (names, ages, cities) as one table."""

    middles: Memo = field(default_factory=Memo)  # interest sentences by key
    fields: dict[tuple[int, int], tuple[tuple[str, ...], int, int]] = field(default_factory=dict)
    held: list[object] = field(default_factory=list)  # keeps keyed tables alive, so their ids stay theirs


def columnar_bios(
    language: str,
    given: Coded,
    ages: np.ndarray,
    city: Coded,
    pool: Sequence[str],
    interest_rows: np.ndarray,
    sizes: np.ndarray,
    tone_codes: np.ndarray,
    tone_names: tuple[str, ...],
    seeds: np.ndarray,
    memo: BioMemo,
) -> Column:
    """`bios(...)` for every row, as columns: row `i` is named `given` and lives in `city` (coded string columns),
    has interests `pool[interest_rows[i, :sizes[i]]]` (pool order) and tone `tone_names[tone_codes[i]]`.

    The template arithmetic is vectorised and the bio is a `Concat` of nine coded parts (four opener literals,
    the three fields in the opener's order, the interest sentence, the tone line): no bio text is built, each
    distinct part is written once. `memo` keeps the tables across the chunks of one population.
    """
    n = len(seeds)
    parts = _openers(language)
    openers, pairs, singles, closers, _ = TEMPLATES[language]
    if any(len(lines) != 2 for lines in closers.values()) or (n and int(sizes.max()) > 3):
        raise ValueError("bio templates assume 2 tone lines and at most 3 interests")
    if not n or parts is None or int(ages.max()) >= len(_AGE_TEXTS):
        names, cities = np.array(column_values(given, n), dtype=object), np.array(column_values(city, n), dtype=object)
        texts = _rowwise(language, names, ages, cities, pool, interest_rows, sizes, tone_codes, tone_names, seeds)
        return Strs(texts)
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
    words = [_word(language, slug) for slug in pool]

    def write(keys: np.ndarray) -> list[str]:
        middles = []
        for key in keys.tolist():
            key, line_of = divmod(key, 6)
            key, b_of = divmod(key, p)
            kind_of, a_of = divmod(key, p)
            if kind_of == 2:
                middles.append(sep + pairs[line_of].format(a=words[a_of], b=words[b_of]))
            elif kind_of == 1:
                middles.append(sep + singles[line_of].format(a=words[a_of]))
            else:
                middles.append("")
        return middles

    middle_codes = memo.middles.slots(((kind * p + a) * p + b) * 6 + line, write)
    fields, age_at, city_at = _field_table(memo, given.values, city.values)
    field_codes = np.stack([given.codes, age_at + ages, city_at + city.codes])  # (name, age, city) x rows
    literal_tables, orders = parts
    concat: list[Coded] = []
    for j in range(3):
        concat.append(Coded(opener_at, literal_tables[j]))
        concat.append(Coded(field_codes[orders[opener_at, j], rows], fields))
    concat.append(Coded(opener_at, literal_tables[3]))
    concat.append(Coded(middle_codes, memo.middles.values))
    concat.append(Coded(tone_codes * 2 + (rest // 7) % 2, _closers(language, tuple(tone_names))))
    return Concat(tuple(concat))


def _field_table(memo: BioMemo, names: Sequence[str], cities: Sequence[str]) -> tuple[tuple[str, ...], int, int]:
    """Names, ages and cities as one table, with where the ages and the cities start in it (one per population
    and pair of tables)."""
    key = (id(names), id(cities))
    known = memo.fields.get(key)
    if known is None:
        memo.held += [names, cities]
        table = (*names, *_AGE_TEXTS, *cities)
        known = memo.fields[key] = (table, len(names), len(names) + len(_AGE_TEXTS))
    return known


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
