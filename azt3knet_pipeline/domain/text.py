"""Seeded offline text: readable synthetic bios and flavour fields with no model and no network.

`offline_bio` is the single source of the offline `bio` field: generation calls it per agent, and the LLM
adapter's offline backend calls it for `generate_field("bio", ...)`, so both always agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
    import numpy as np

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


def _percent_template(template: str) -> tuple[str, tuple[str, ...]]:
    """A `str.format` template with named fields as a `%` template plus its field order (same output)."""
    import string

    parts, order = [], []
    for literal, field, _, _ in string.Formatter().parse(template):
        parts.append(literal.replace("%", "%%"))
        if field is not None:
            parts.append("%s")
            order.append(field)
    return "".join(parts), tuple(order)


_OPENER_TEMPLATES = tuple(_percent_template(t) for t in _OPENERS)


def columnar_bios(
    given_names: list[str],
    ages: list[int],
    cities: list[str],
    pool: Sequence[str],
    interest_rows: Any,
    sizes: Any,
    tone_names: Sequence[str],
    tone_codes: Any,
    seeds: Any,
) -> list[str]:
    """`offline_bio` for every row, from columns: row `i`'s interests are `pool[interest_rows[i, :sizes[i]]]`
    and its tone `tone_names[tone_codes[i]]`. The template arithmetic is vectorised; the text after the opener
    (interests, closer, mark) is built once per distinct combination; only the opener is formatted per row."""
    import numpy as np

    n = len(given_names)
    rest = np.abs(np.asarray(seeds, dtype=np.int64))
    sizes = np.asarray(sizes, dtype=np.int64)
    rest, opener_at = np.divmod(rest, len(_OPENERS))
    safe = np.maximum(sizes, 1)
    rest_multi, first = np.divmod(rest, safe)
    rest_multi, offset = np.divmod(rest_multi, np.maximum(sizes - 1, 1))
    rest_multi, pair_line = np.divmod(rest_multi, len(_INTEREST_LINES))
    rest_single, single_line = np.divmod(rest, len(_SINGLE_INTEREST_LINES))
    rest = np.where(sizes >= 2, rest_multi, np.where(sizes == 1, rest_single, rest))
    rows = np.arange(n)
    a = interest_rows[rows, first]
    b = interest_rows[rows, (first + 1 + offset) % safe]
    closer_sets = [_TONE_LINES.get(t, _TONE_LINES["casual"]) for t in tone_names]
    closer_len = np.array([len(c) for c in closer_sets], dtype=np.int64)[np.asarray(tone_codes, dtype=np.int64)]
    closer_at = rest % closer_len
    # One integer per distinct tail: (kind, a, b, line, tone, closer).
    p = len(pool) + 1
    kind = np.where(sizes >= 2, 2, np.where(sizes == 1, 1, 0))
    line = np.where(sizes >= 2, pair_line, np.where(sizes == 1, single_line, 0))
    b = np.where(sizes >= 2, b, 0)
    a = np.where(sizes >= 1, a, 0)
    tail_key = ((((kind * p + a) * p + b) * len(_INTEREST_LINES) + line) * len(tone_names) + tone_codes) * 3 + closer_at
    keys, tail_codes = np.unique(tail_key, return_inverse=True)
    tails = []
    for key in keys.tolist():
        key, closer = divmod(key, 3)
        key, tone = divmod(key, len(tone_names))
        key, line_at = divmod(key, len(_INTEREST_LINES))
        key, b_at = divmod(key, p)
        kind_at, a_at = divmod(key, p)
        closer_text = closer_sets[tone][closer]
        if kind_at == 2:
            x, y = _pretty(pool[a_at]), _pretty(pool[b_at])
            middle = _INTEREST_LINES[line_at].format(a=x, b=y, A=x[:1].upper() + x[1:])
        elif kind_at == 1:
            x = _pretty(pool[a_at])
            middle = _SINGLE_INTEREST_LINES[line_at].format(a=x, A=x[:1].upper() + x[1:])
        else:
            middle = ""
        tails.append(" ".join(part for part in (middle, closer_text, SYNTHETIC_MARK) if part))
    tail_table = np.array(tails, dtype=object)[tail_codes.reshape(-1)]
    out = np.empty(n, dtype=object)
    columns = {"name": given_names, "age": ages, "city": cities}
    for at, (template, order) in enumerate(_OPENER_TEMPLATES):
        where = np.flatnonzero(opener_at == at)
        if not len(where):
            continue
        picked = [[column[i] for i in where.tolist()] for column in (columns[f] for f in order)]
        template_tail = template + " %s"
        out[where] = [template_tail % row for row in zip(*picked, tail_table[where].tolist(), strict=True)]
    return out.tolist()
