"""Seeded offline text: readable synthetic bios and flavour fields with no model and no network.

`offline_bio` is the single source of the offline `bio` field: generation calls it per agent, and the LLM
adapter's offline backend calls it for `generate_field("bio", ...)`, so both always agree.
"""

from __future__ import annotations

from collections.abc import Sequence

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
    """`offline_bio` for many rows at once: the same text, row for row, with the template arithmetic vectorised."""
    import numpy as np

    rest = np.abs(np.asarray(seeds, dtype=np.int64))
    sizes = np.fromiter((len(i) for i in interests), dtype=np.int64, count=len(interests))
    rest, opener_at = np.divmod(rest, len(_OPENERS))
    multi = sizes >= 2
    safe = np.maximum(sizes, 1)
    rest_multi, first = np.divmod(rest, safe)
    rest_multi, offset = np.divmod(rest_multi, np.maximum(sizes - 1, 1))
    rest_multi, pair_line = np.divmod(rest_multi, len(_INTEREST_LINES))
    rest_single, single_line = np.divmod(rest, len(_SINGLE_INTEREST_LINES))
    rest = np.where(multi, rest_multi, np.where(sizes == 1, rest_single, rest))
    pretty_cache: dict[str, str] = {}
    out = []
    for i, row_interests in enumerate(interests):
        opener = _OPENERS[opener_at[i]].format(name=given_names[i], age=ages[i], city=cities[i])
        pretty = [pretty_cache.get(x) or pretty_cache.setdefault(x, _pretty(x)) for x in row_interests]
        size = len(pretty)
        if size >= 2:
            a, b = pretty[first[i]], pretty[(first[i] + 1 + offset[i]) % size]
            middle = _INTEREST_LINES[pair_line[i]].format(a=a, b=b, A=a[:1].upper() + a[1:])
        elif size == 1:
            a = pretty[0]
            middle = _SINGLE_INTEREST_LINES[single_line[i]].format(a=a, A=a[:1].upper() + a[1:])
        else:
            middle = ""
        closers = _TONE_LINES.get(tones[i], _TONE_LINES["casual"])
        closer = closers[rest[i] % len(closers)]
        out.append(f"{opener} {middle} {closer} {SYNTHETIC_MARK}" if middle else f"{opener} {closer} {SYNTHETIC_MARK}")
    return out
