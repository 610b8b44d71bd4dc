"""The offline backend: seeded templates, no network; the default, and a pure function of (field, context, seed).

Its results are not cached (`deterministic = True`): the `bio` field is exactly `domain.text.offline_bio`, so a
cache row would only duplicate it. Since nothing pins old offline output, changing the templates changes every
re-run: treat that as a generator change and bump `OFFLINE_MODEL`.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from typing import Any

from azt3knet_pipeline.domain.models import canonical_json, sha256_hex
from azt3knet_pipeline.domain.text import offline_bio
from azt3knet_pipeline.llm.prompt import check_field, check_seed, parse_prompt, plain

OFFLINE_MODEL = "offline-v1"

_OFFLINE_TONES = ("casual", "enthusiastic", "formal", "sarcastic", "thoughtful", "witty")
_OFFLINE_CADENCES = {
    "hourly": "Posts almost every hour.",
    "several_daily": "Several short posts a day.",
    "daily": "Checks in daily, usually over morning coffee.",
    "few_weekly": "Posts a few times a week, mostly in the evening.",
    "weekly": "Weekly roundups, rarely more.",
    "monthly": "Shows up monthly with a long thread.",
}
_OFFLINE_TONE_TEMPLATES = ("{tone}", "{tone}, mostly {adj}", "{adj} and {tone}")
_OFFLINE_HEADLINES = (
    "{Interest} enthusiast from {city}",
    "{city} local, {interest} on the side",
    "Mostly {interest}, sometimes everything else",
    "Notes on {interest} from {city}",
    "{name} on {interest} and {city} life",
)
_OFFLINE_MOTTOS = (
    "Stay curious, stay kind.",
    "One more chapter, one more try.",
    "Less scrolling, more {interest}.",
    "Small steps, every day.",
    "If in doubt, ask {city}.",
    "Good questions beat quick answers.",
)
_OFFLINE_GENERIC = (
    "{Field}: {adj} and {adj2}, with a nod to {interest}.",
    "{name}'s {field}: {adj}, shaped by {city}.",
    "{Field} in short: {adj}, a little {adj2}.",
    "Something {adj} about {interest}, as {name} would put it.",
)
_OFFLINE_ADJECTIVES = ("easygoing", "curious", "practical", "playful", "careful", "warm", "dry", "upbeat")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


class OfflineBackend:
    """Seeded templates, no network. `bio` is exactly `offline_bio`; other fields get a short seeded line."""

    name = "offline"
    model = OFFLINE_MODEL
    deterministic = True

    def generate(self, prompt: str, seed: int) -> str:
        """Read field and persona back from a `build_prompt` prompt; any other prompt gets a generic line."""
        seed = check_seed(seed)
        parsed = parse_prompt(prompt)
        if parsed is None:
            rng = random.Random(int(sha256_hex(canonical_json([OFFLINE_MODEL, prompt, seed]))[:32], 16))
            return f"A {rng.choice(_OFFLINE_ADJECTIVES)} answer (synthetic persona)."
        field, context = parsed
        return self.render(field, context, seed)

    def render(self, field: str, context: Mapping[str, Any], seed: int) -> str:
        """The offline value of `field` for `context` and `seed` (what `generate` returns for its prompt)."""
        check_field(field)
        seed = check_seed(seed)
        ctx = plain(dict(context))
        interests = ctx.get("interests") or []
        if isinstance(interests, str):
            interests = [interests]
        if field == "bio":
            missing = [key for key in ("given_name", "age", "city") if key not in ctx]
            if missing:
                raise ValueError(f"offline bio needs context keys {missing}")
            tone = ctx.get("tone")
            return offline_bio(
                str(ctx["given_name"]),
                ctx["age"],
                str(ctx["city"]),
                [str(i) for i in interests],
                tone if isinstance(tone, str) else "casual",
                seed,
            )
        # Each field draws from its own stream, so `headline` and `motto` of one persona are independent.
        digest = hashlib.sha256(canonical_json([OFFLINE_MODEL, field, seed]).encode("utf-8")).digest()
        rng = random.Random(int.from_bytes(digest[:16], "big"))
        interest = str(rng.choice(interests)) if interests else rng.choice(("reading", "music", "travel"))
        interest = interest.replace("_", " ").replace("-", " ")
        words = {
            "name": str(ctx.get("given_name") or ctx.get("display_name") or "This persona"),
            "city": str(ctx.get("city") or "the city"),
            "interest": interest,
            "Interest": _cap(interest),
            "field": field.replace("_", " "),
            "Field": _cap(field.replace("_", " ")),
            "adj": rng.choice(_OFFLINE_ADJECTIVES),
            "adj2": rng.choice(_OFFLINE_ADJECTIVES),
        }
        if field == "tone":  # the persona's own tone when it has one, with a seeded qualifier
            tone = ctx.get("tone")
            words["tone"] = tone if isinstance(tone, str) and tone else rng.choice(_OFFLINE_TONES)
            return rng.choice(_OFFLINE_TONE_TEMPLATES).format(**words)
        if field == "posting_cadence":
            cadence = ctx.get("posting_cadence")
            if isinstance(cadence, str) and cadence in _OFFLINE_CADENCES:
                return _OFFLINE_CADENCES[cadence]
            return rng.choice(sorted(_OFFLINE_CADENCES.values()))
        templates = {"headline": _OFFLINE_HEADLINES, "motto": _OFFLINE_MOTTOS}.get(field, _OFFLINE_GENERIC)
        return rng.choice(templates).format(**words)
