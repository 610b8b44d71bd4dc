"""Seeded offline text: readable synthetic bios and flavour fields with no model and no network.

`offline_bio` is the single source of the offline `bio` field: generation calls it per agent, and the LLM
adapter's offline backend calls it for `generate_field("bio", ...)`, so both always agree.
"""

from __future__ import annotations

import random
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
    "sarcastic": ("Opinions are, regrettably, my own.", "Professional overthinker.", "Mildly amused by everything."),
    "thoughtful": ("Asks more than answers.", "Likes slow conversations.", "Thinks before posting."),
    "witty": ("Puns are a lifestyle.", "Collector of one-liners.", "Here for the jokes."),
}
SYNTHETIC_MARK = "(synthetic persona)"


def _pretty(slug: str) -> str:
    return slug.replace("_", " ").replace("-", " ")


def offline_bio(given_name: str, age: int, city: str, interests: Sequence[str], tone: str, seed: int) -> str:
    """A short bio from seeded templates; identical for identical arguments on every machine."""
    rng = random.Random(seed)
    opener = rng.choice(_OPENERS).format(name=given_name, age=age, city=city)
    pretty = [_pretty(i) for i in interests]
    if len(pretty) >= 2:
        a, b = rng.sample(pretty, 2)
        middle = rng.choice(_INTEREST_LINES).format(a=a, b=b, A=a[:1].upper() + a[1:])
    elif pretty:
        a = pretty[0]
        middle = rng.choice(_SINGLE_INTEREST_LINES).format(a=a, A=a[:1].upper() + a[1:])
    else:
        middle = ""
    closer = rng.choice(_TONE_LINES.get(tone, _TONE_LINES["casual"]))
    return " ".join(part for part in (opener, middle, closer, SYNTHETIC_MARK) if part)
