"""Deterministic, vectorised generation of agent profiles from a PopulationSpec.

Derivation scheme (DESIGN.md): every random draw comes from a generator seeded by
`sub_seed = sha256(seed, namespace, block, field)`, never Python's `hash()`. Rows are drawn in blocks of
`BLOCK` agents so a whole field is sampled with one numpy call per block; the row's position inside its block
stands for the index. Because draws are prefix-stable, agent `i` is the same whatever the population's count,
so growing a population keeps every existing agent (and its mailbox) unchanged.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from azt3knet_pipeline.domain.locale_data import load_locale, locale_for_country
from azt3knet_pipeline.domain.models import (
    AgentProfile,
    PopulationSpec,
    canonical_json,
    sha256_hex,
    validate_population_key,
)
from azt3knet_pipeline.domain.text import offline_bios

NAMESPACE = "azt3knet/profiles/v1"
BLOCK = 1024
AGENT_ID_NAMESPACE = uuid.UUID("5b0c1a52-7d2e-4f39-9d0b-a27e3c1f4e11")

INTEREST_CATALOGUE: tuple[str, ...] = (
    "astronomy",
    "baking",
    "board-games",
    "climbing",
    "coffee",
    "comics",
    "cooking",
    "cycling",
    "design",
    "diy",
    "economics",
    "fashion",
    "film",
    "fitness",
    "football",
    "gaming",
    "gardening",
    "hiking",
    "history",
    "jazz",
    "languages",
    "music",
    "open-source",
    "painting",
    "philosophy",
    "photography",
    "podcasts",
    "politics",
    "programming",
    "reading",
    "running",
    "science",
    "skating",
    "tea",
    "technology",
    "theatre",
    "travel",
    "urbanism",
    "volunteering",
    "wildlife",
    "writing",
    "yoga",
)
TONES: tuple[str, ...] = ("casual", "enthusiastic", "formal", "sarcastic", "thoughtful", "witty")
POSTING_CADENCES: tuple[str, ...] = ("hourly", "several_daily", "daily", "few_weekly", "weekly", "monthly")
_CADENCE_WEIGHTS = np.array([0.03, 0.15, 0.32, 0.28, 0.15, 0.07])
BEHAVIORAL_BIASES: tuple[str, ...] = (
    "anchoring",
    "authority_bias",
    "availability_heuristic",
    "bandwagon_effect",
    "confirmation_bias",
    "loss_aversion",
    "negativity_bias",
    "optimism_bias",
    "status_quo_bias",
    "sunk_cost_fallacy",
)
_MIXED_GENDERS = np.array(["female", "male", "non_binary"], dtype=object)
_MIXED_WEIGHTS = np.array([0.48, 0.48, 0.04])

PROFILE_COLUMNS: tuple[str, ...] = tuple(AgentProfile.model_fields)
_LOCAL_PART_MAX = 64
_USERNAME_MAX = 30


def derive_seed(seed: int | str, namespace: str, index: int, field: str) -> int:
    """`H(seed, namespace, index, field)` as a 128-bit integer: the one derivation behind every draw."""
    material = canonical_json([type(seed).__name__, str(seed), namespace, index, field])
    return int.from_bytes(hashlib.sha256(material.encode("utf-8")).digest()[:16], "big")


def _draw(
    seed: int | str, field: str, count: int, sample: Callable[[np.random.Generator, int], np.ndarray]
) -> np.ndarray:
    """Concatenate `sample(rng, n)` over blocks, each block with its own derived generator."""
    parts = []
    for block, start in enumerate(range(0, count, BLOCK)):
        size = min(BLOCK, count - start)
        rng = np.random.Generator(np.random.PCG64(derive_seed(seed, NAMESPACE, block, field)))
        parts.append(sample(rng, size))
    return np.concatenate(parts) if parts else np.empty(0)


def _smallest_keys(keys: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's `k` smallest keys, in key order (== argsort(keys)[:, :k], but O(m) a row)."""
    if k >= keys.shape[1]:
        return np.argsort(keys, axis=1)
    part = np.argpartition(keys, k - 1, axis=1)[:, :k]
    return np.take_along_axis(part, np.argsort(np.take_along_axis(keys, part, axis=1), axis=1), axis=1)


def _subsets(seed: int | str, field: str, count: int, pool: Sequence[str], lo: int, hi: int) -> list[tuple[str, ...]]:
    """For each row, a subset of `pool` of size lo..hi (clipped to the pool), in pool order."""
    if list(pool) != sorted(pool):
        raise ValueError(f"{field}: the pool must be sorted so index order is name order")
    hi = min(hi, len(pool))
    lo = min(lo, hi)
    sizes = _draw(seed, f"{field}:size", count, lambda rng, n: rng.integers(lo, hi + 1, size=n))
    chosen = _draw(seed, f"{field}:order", count, lambda rng, n: _smallest_keys(rng.random((n, len(pool))), hi))
    # Sort each row's first `size` picks by index (= by name); unused slots sort last.
    masked = np.where(np.arange(hi)[None, :] < sizes[:, None], chosen, len(pool))
    rows = np.sort(masked, axis=1).tolist()
    cache: dict[tuple[int, ...], tuple[str, ...]] = {}
    out = []
    for row, size in zip(rows, sizes.tolist(), strict=True):
        picked = tuple(row[:size])
        names = cache.get(picked)
        if names is None:
            names = cache[picked] = tuple(pool[i] for i in picked)
        out.append(names)
    return out


@dataclass(frozen=True)
class GeneratedPopulation:
    """A generated population: a column-oriented frame plus its canonical JSON and content hash."""

    population_key: str
    spec: PopulationSpec
    frame: pd.DataFrame

    def records(self) -> list[dict[str, Any]]:
        """Profiles as JSON-ready dicts in index order (tuples become lists, numpy ints become ints)."""
        columns = {name: self.frame[name].tolist() for name in PROFILE_COLUMNS}
        columns["interests"] = [list(v) for v in columns["interests"]]
        columns["behavioral_biases"] = [list(v) for v in columns["behavioral_biases"]]
        names = list(columns)
        return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]

    @cached_property
    def canonical_json(self) -> str:
        """`canonical_json(self.records())`, byte for byte, built column-wise (about 3x faster at 100k rows)."""
        return _canonical_profiles_json(self.frame)

    @cached_property
    def content_hash(self) -> str:
        """sha256 of the canonical JSON of every profile: equal hashes ⇔ byte-identical populations."""
        return sha256_hex(self.canonical_json)

    def profiles(self) -> list[AgentProfile]:
        return [AgentProfile.model_validate(row) for row in self.records()]


def _json_encoder(cache_values: bool) -> Callable[[Any], str]:
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    if not cache_values:
        return encode
    cache: dict[Any, str] = {}

    def cached(value: Any) -> str:
        found = cache.get(value)
        if found is None:
            found = cache[value] = encode(list(value) if isinstance(value, tuple) else value)
        return found

    return cached


def _canonical_profiles_json(frame: pd.DataFrame) -> str:
    """The canonical JSON (sorted keys, compact, UTF-8) of every profile row. Low-cardinality columns are encoded
    once per distinct value; a unit test pins the output to `canonical_json(records)` byte for byte."""
    names = sorted(PROFILE_COLUMNS)
    per_row = {"bio", "display_name"}
    # uuids and the addresses are [a-z0-9._-] by construction: nothing in them needs JSON escaping.
    plain = {"id", "username", "email_local_part"}
    encoded = []
    for name in names:
        if name in plain:
            encoded.append([f'"{v}"' for v in frame[name].tolist()])
        elif name == "synthetic":
            encoded.append(["true"] * len(frame))
        elif name in {"age", "birth_year", "index"}:
            encoded.append([str(int(v)) for v in frame[name].tolist()])
        else:
            encode = _json_encoder(cache_values=name not in per_row)
            encoded.append([encode(v) for v in frame[name].tolist()])
    template = "{" + ",".join(f'"{name}":%s' for name in names) + "}"
    rows = [template % values for values in zip(*encoded, strict=True)]
    return "[" + ",".join(rows) + "]"


def resolved_locale(spec: PopulationSpec) -> str:
    return spec.locale or locale_for_country(spec.country)


def generate_population(spec: PopulationSpec, population_key: str | None = None) -> GeneratedPopulation:
    """Generate every profile of `spec`. Pure and deterministic: same spec and key ⇒ same bytes."""
    key = validate_population_key(population_key or spec.default_key())
    n = spec.count
    seed = spec.seed
    data = load_locale(resolved_locale(spec), spec.country)

    if spec.gender is None:
        genders = _draw(seed, "gender", n, lambda rng, k: rng.choice(_MIXED_GENDERS, size=k, p=_MIXED_WEIGHTS))
    else:
        genders = np.full(n, spec.gender, dtype=object)
    ages = _draw(seed, "age", n, lambda rng, k: rng.integers(spec.age_range.lo, spec.age_range.hi + 1, size=k))
    given_u = _draw(seed, "given_name", n, lambda rng, k: rng.random(k))
    family_u = _draw(seed, "family_name", n, lambda rng, k: rng.random(k))

    given = np.empty(n, dtype=object)
    given_slug = np.empty(n, dtype=object)
    for gender_value, table in (("female", data.female), ("male", data.male)):
        mask = genders == gender_value
        picks = table.pick(given_u[mask])
        given[mask], given_slug[mask] = table.names[picks], table.slugs[picks]
    other = ~((genders == "female") | (genders == "male"))
    picks = data.any_gender.pick(given_u[other])
    given[other], given_slug[other] = data.any_gender.names[picks], data.any_gender.slugs[picks]
    family_picks = data.family.pick(family_u)
    family, family_slug = data.family.names[family_picks], data.family.slugs[family_picks]

    if spec.city:
        cities = np.full(n, spec.city, dtype=object)
    else:
        city_arr = np.array(data.cities, dtype=object)
        cities = city_arr[_draw(seed, "city", n, lambda rng, k: rng.integers(0, len(city_arr), size=k))]
    timezones = [data.timezone_of(str(city)) for city in cities]
    tones = np.array(TONES, dtype=object)[_draw(seed, "tone", n, lambda rng, k: rng.integers(0, len(TONES), size=k))]
    cadences = np.array(POSTING_CADENCES, dtype=object)[
        _draw(
            seed,
            "posting_cadence",
            n,
            lambda rng, k: rng.choice(len(POSTING_CADENCES), size=k, p=_CADENCE_WEIGHTS),
        )
    ]
    interest_pool = spec.interests or INTEREST_CATALOGUE
    interests = _subsets(seed, "interests", n, interest_pool, 1, 3)
    biases = _subsets(seed, "behavioral_biases", n, BEHAVIORAL_BIASES, 1, 2)
    bio_seeds = _draw(seed, "bio", n, lambda rng, k: rng.integers(0, 2**62, size=k))
    styles = _draw(seed, "address_style", n, lambda rng, k: rng.integers(0, 4, size=k))
    numbers = _draw(seed, "address_number", n, lambda rng, k: rng.integers(1, 100, size=k))

    birth_years = spec.reference_year - ages
    locale = data.locale
    usernames, local_parts = _addresses(given_slug, family_slug, birth_years, styles, numbers)
    display = [f"{f} {g}" if data.family_name_first else f"{g} {f}" for g, f in zip(given, family, strict=True)]
    bios = offline_bios(given, ages.tolist(), cities, interests, tones, bio_seeds)
    frame = pd.DataFrame(
        {
            "id": agent_ids(key, n),
            "population_key": key,
            "index": np.arange(n, dtype=np.int64),
            "given_name": given,
            "family_name": family,
            "display_name": display,
            "username": usernames,
            "email_local_part": local_parts,
            "gender": genders,
            "age": ages.astype(np.int64),
            "birth_year": birth_years.astype(np.int64),
            "country": spec.country,
            "city": cities,
            "locale": locale,
            "timezone": timezones,
            "interests": interests,
            "bio": bios,
            "posting_cadence": cadences,
            "tone": tones,
            "behavioral_biases": biases,
            "synthetic": True,
        },
        columns=list(PROFILE_COLUMNS),
    )
    return GeneratedPopulation(population_key=key, spec=spec, frame=frame)


def agent_ids(population_key: str, count: int) -> list[str]:
    """`uuid5(AGENT_ID_NAMESPACE, f"{key}:{index}")` for every index (same values as uuid.uuid5, computed inline)."""
    prefix = AGENT_ID_NAMESPACE.bytes
    ids = []
    for index in range(count):
        digest = bytearray(hashlib.sha1(prefix + f"{population_key}:{index}".encode()).digest()[:16])
        digest[6] = (digest[6] & 0x0F) | 0x50
        digest[8] = (digest[8] & 0x3F) | 0x80
        h = digest.hex()
        ids.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return ids


def _addresses(
    given_slug: np.ndarray,
    family_slug: np.ndarray,
    birth_years: np.ndarray,
    styles: np.ndarray,
    numbers: np.ndarray,
) -> tuple[list[str], list[str]]:
    """Usernames and email local parts, unique within the population, collisions resolved in index order."""
    usernames: list[str] = []
    local_parts: list[str] = []
    taken_user: set[str] = set()
    taken_local: set[str] = set()
    next_user: dict[str, int] = {}
    next_local: dict[str, int] = {}
    for i in range(len(given_slug)):
        g = given_slug[i] or "agent"
        f = family_slug[i] or "synth"
        style, num, year = int(styles[i]), int(numbers[i]), int(birth_years[i])
        if style == 0:
            user, local = f"{g}{f}", f"{g}.{f}"
        elif style == 1:
            user, local = f"{g}_{f}{num}", f"{g}.{f}{num}"
        elif style == 2:
            user, local = f"{g[0]}{f}{year % 100:02d}", f"{g[0]}.{f}{year % 100:02d}"
        else:
            user, local = f"{g}{year}", f"{g}.{f[0]}{year}"
        usernames.append(_unique(_clip(user, _USERNAME_MAX), taken_user, next_user))
        local_parts.append(_unique(_clip(local, _LOCAL_PART_MAX - 6), taken_local, next_local))
    return usernames, local_parts


def _clip(value: str, limit: int) -> str:
    return value[:limit].strip(".")


def _unique(base: str, taken: set[str], counters: dict[str, int]) -> str:
    candidate = base
    if candidate in taken:
        k = counters.get(base, 2)
        while f"{base}{k}" in taken:
            k += 1
        candidate = f"{base}{k}"
        counters[base] = k + 1
    taken.add(candidate)
    return candidate
