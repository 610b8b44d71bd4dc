"""Generator v2: populations shaped like the country's real population (docs/data.md).

What differs from v1 (generation.py), everything else (derivation scheme, blocks, address forms and collision
rule, ids, column encoders) is shared:
- age and sex drawn jointly from the UN WPP 2024 age-sex structure of the country, within the spec's bounds;
  a configurable share (`NON_BINARY_SHARE`) of a mixed population is non-binary, with the same ages;
- places drawn in proportion to their GeoNames population, each with its own IANA time zone;
- names weighted by frequency where Faker's tables carry weights, addresses from transliterated names
  (romanised readings for Japanese), so no address is a placeholder;
- bios in the agent's language (bios.py); interests and posting cadence conditioned on age.
Draws use their own namespace, so no v2 draw ever coincides with a v1 draw.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from azt3knet_pipeline.domain import columns as col
from azt3knet_pipeline.domain import reference
from azt3knet_pipeline.domain.addresses import _AddressBook, _addresses, agent_ids
from azt3knet_pipeline.domain.bios import bio_language
from azt3knet_pipeline.domain.bios_columnar import BioMemo, columnar_bios
from azt3knet_pipeline.domain.draws import Memo, Seeds, _choice, _draw, _subsets
from azt3knet_pipeline.domain.generation import (
    BEHAVIORAL_BIASES,
    CHUNK_FIELDS,
    INTEREST_CATALOGUE,
    POSTING_CADENCES,
    PROFILE_COLUMNS,
    TONES,
    _Tables,
    resolved_locale,
)
from azt3knet_pipeline.domain.locale_data import LocaleData, load_locale_v2, supported_locales
from azt3knet_pipeline.domain.models import PopulationSpec

NAMESPACE = "azt3knet/profiles/v2"
# Share of non-binary agents in a mixed population. A parameter, not data: surveys put self-described
# non-binary identity at roughly 0.5-3% of adults depending on age and country; 1% is a middle value.
NON_BINARY_SHARE = 0.01

# Age groups (lower bounds) that condition interests and posting cadence.
AGE_GROUPS: tuple[int, ...] = (13, 18, 30, 45, 65)
# Interest weights by age group (default 1): a simple, documented lean, not a survey estimate.
_INTEREST_LEAN: dict[str, tuple[float, float, float, float, float]] = {
    "gaming": (3.0, 2.5, 1.2, 0.6, 0.3),
    "comics": (2.5, 2.0, 1.0, 0.6, 0.3),
    "skating": (3.0, 1.8, 0.6, 0.3, 0.1),
    "fashion": (2.0, 1.8, 1.0, 0.7, 0.5),
    "fitness": (1.5, 2.0, 1.5, 1.0, 0.6),
    "music": (2.5, 1.8, 1.0, 0.9, 0.8),
    "programming": (1.5, 1.8, 1.4, 0.8, 0.4),
    "climbing": (1.5, 2.0, 1.3, 0.6, 0.2),
    "podcasts": (1.2, 2.0, 1.5, 0.8, 0.4),
    "football": (2.0, 1.5, 1.2, 1.0, 0.8),
    "cooking": (0.6, 1.0, 1.6, 1.5, 1.3),
    "coffee": (0.4, 1.4, 1.5, 1.2, 1.0),
    "diy": (0.5, 0.8, 1.6, 1.6, 1.2),
    "travel": (0.8, 1.5, 1.4, 1.4, 1.3),
    "gardening": (0.3, 0.4, 1.0, 2.0, 3.0),
    "history": (0.8, 0.8, 1.0, 1.8, 2.5),
    "politics": (0.5, 1.0, 1.2, 1.8, 2.0),
    "reading": (1.0, 1.0, 1.1, 1.5, 2.2),
    "volunteering": (1.0, 0.9, 0.9, 1.4, 2.2),
    "painting": (1.2, 0.8, 0.8, 1.3, 2.0),
    "wildlife": (1.0, 0.9, 1.0, 1.4, 1.8),
    "theatre": (1.0, 0.8, 0.9, 1.3, 1.8),
    "economics": (0.3, 1.0, 1.3, 1.4, 1.0),
    "tea": (0.7, 0.9, 1.0, 1.3, 1.6),
}
# Posting cadence weights (POSTING_CADENCES order) by age group: younger agents post more often.
_CADENCE_BY_AGE = np.array(
    [
        [0.08, 0.30, 0.35, 0.17, 0.07, 0.03],
        [0.06, 0.25, 0.34, 0.22, 0.09, 0.04],
        [0.03, 0.15, 0.32, 0.28, 0.15, 0.07],
        [0.01, 0.08, 0.27, 0.32, 0.21, 0.11],
        [0.005, 0.045, 0.20, 0.30, 0.25, 0.20],
    ]
)
_GENDERS: tuple[str, ...] = ("female", "male", "non_binary")


def age_group(ages: np.ndarray) -> np.ndarray:
    """Index into AGE_GROUPS of each age."""
    return np.searchsorted(np.array(AGE_GROUPS), ages, side="right") - 1


def interest_weights(pool: tuple[str, ...]) -> np.ndarray:
    """(age group x pool) weights; interests without a lean (custom ones too) weigh 1 at every age."""
    return np.array([_INTEREST_LEAN.get(name, (1.0,) * len(AGE_GROUPS)) for name in pool], dtype=np.float64).T


def check_spec(spec: PopulationSpec) -> None:
    """What v2 requires of a spec beyond its shape: a locale of the country and, if a city is named, one of the
    country's places. Raises ValueError with the valid choices."""
    if spec.locale is not None:
        valid = supported_locales(spec.country)
        if spec.locale not in valid:
            raise ValueError(
                f"locale {spec.locale!r} is not supported for country {spec.country}; choose one of: {', '.join(valid)}"
            )
    if spec.city is not None:
        places = reference.places(spec.country)
        if places is not None and places.find(spec.city) is None:
            close = places.close_matches(spec.city)
            hint = f"; did you mean: {', '.join(close)}?" if close else " (GeoNames places of 15,000+ people)"
            raise ValueError(f"city {spec.city!r} is not a known place in {spec.country}{hint}")


def iter_chunks(spec: PopulationSpec, population_key: str, chunk_rows: int) -> Iterator[col.ProfileChunk]:
    """Every v2 profile of `spec`, `chunk_rows` at a time, in index order."""
    check_spec(spec)
    data = load_locale_v2(resolved_locale(spec), spec.country)
    tables = _Tables.of(data)
    book = _AddressBook()
    for start in range(0, spec.count, chunk_rows):
        yield _chunk(spec, population_key, data, tables, book, start, min(spec.count, start + chunk_rows))


def _chunk(
    spec: PopulationSpec,
    key: str,
    data: LocaleData,
    tables: _Tables,
    book: _AddressBook,
    start: int,
    stop: int,
) -> col.ProfileChunk:
    n = stop - start
    seed = spec.seed
    places = reference.places(spec.country)
    fields = ("age_sex", "non_binary") if spec.gender is None else ("age",)
    fields += ("city",) if not spec.city else ()
    seeds = Seeds(seed, NAMESPACE, start, stop, (*fields, *CHUNK_FIELDS))

    def draw(field: str, sample: Callable[[np.random.Generator, int], np.ndarray]) -> np.ndarray:
        return _draw(seed, field, start, stop, sample, NAMESPACE, seeds)

    lo, hi = spec.age_range.lo, spec.age_range.hi
    weights = reference.age_sex_weights(spec.country, lo, hi)
    span = hi - lo + 1
    gender: col.Column
    if spec.gender is None:
        cells = weights.reshape(-1) / weights.sum()
        cell = _choice(seed, "age_sex", start, stop, cells, NAMESPACE, seeds)
        sex, ages = cell // span, lo + cell % span
        non_binary = draw("non_binary", lambda rng, k: rng.random(k)) < NON_BINARY_SHARE
        gender_codes = np.where(non_binary, 2, sex)
        gender = col.Coded(gender_codes, _GENDERS)
        table_at = gender_codes
    else:
        per_age = weights[reference.SEXES.index(spec.gender)] if spec.gender in reference.SEXES else weights.sum(0)
        p = per_age / per_age.sum()
        ages = lo + _choice(seed, "age", start, stop, p, NAMESPACE, seeds)
        gender = col.Const(spec.gender)
        table_at = np.full(n, {"female": 0, "male": 1}.get(spec.gender, 2), dtype=np.int64)
    groups = age_group(ages)

    given_u = draw("given_name", lambda rng, k: rng.random(k))
    family_u = draw("family_name", lambda rng, k: rng.random(k))
    given_codes = np.empty(n, dtype=np.int64)
    for at, table in enumerate((data.female, data.male, data.any_gender)):
        mask = table_at == at
        given_codes[mask] = table.pick(given_u[mask]) + tables.offsets[at]
    family_codes = data.family.pick(family_u)

    city: col.Column
    timezone: col.Column
    if places is None:  # a territory without a GeoNames place of 15,000+: v1's capital and zone
        if spec.city:
            city, timezone = col.Const(spec.city), col.Const(data.timezone_of(spec.city))
        else:
            city_codes = draw("city", lambda rng, k: rng.integers(0, len(data.cities), size=k))
            city = col.Coded(city_codes, data.cities)
            timezone = col.Coded(city_codes, [data.timezone_of(str(c)) for c in data.cities])
    elif spec.city:
        at = places.find(spec.city)
        assert at is not None  # check_spec
        city, timezone = col.Const(places.names[at]), col.Const(places.timezones[at])
    else:
        city_codes = _choice(seed, "city", start, stop, places.shares, NAMESPACE, seeds)
        city = col.Coded(city_codes, places.names)
        zones, zone_codes = places.zones
        timezone = col.Coded(zone_codes[city_codes], zones)

    tone_codes = draw("tone", lambda rng, k: rng.integers(0, len(TONES), size=k))
    cadence_u = draw("posting_cadence", lambda rng, k: rng.random(k))
    cadence_cdf = np.cumsum(_CADENCE_BY_AGE, axis=1)
    cadence_cdf /= cadence_cdf[:, -1:]
    cadence_codes = np.minimum((cadence_u[:, None] >= cadence_cdf[groups]).sum(axis=1), len(POSTING_CADENCES) - 1)

    interest_pool = spec.interests or INTEREST_CATALOGUE
    interests = _subsets(
        seed,
        "interests",
        start,
        stop,
        interest_pool,
        1,
        3,
        tables.memo.setdefault("interests", Memo()),
        namespace=NAMESPACE,
        weights=interest_weights(tuple(interest_pool))[groups],
        seeds=seeds,
    )
    biases = _subsets(
        seed,
        "behavioral_biases",
        start,
        stop,
        BEHAVIORAL_BIASES,
        1,
        2,
        tables.memo.setdefault("biases", Memo()),
        namespace=NAMESPACE,
        seeds=seeds,
    )
    bio_seeds = draw("bio", lambda rng, k: rng.integers(0, 2**62, size=k))
    styles = draw("address_style", lambda rng, k: rng.integers(0, 4, size=k))
    numbers = draw("address_number", lambda rng, k: rng.integers(1, 100, size=k))

    birth_years = spec.reference_year - ages
    usernames, local_parts = _addresses(tables, given_codes, family_codes, birth_years, styles, numbers, book)
    sep = "" if data.locale.startswith("ja") or data.locale.startswith("zh") else " "
    given_part, family_part = col.Coded(given_codes, tables.given), col.Coded(family_codes, tables.family)
    if data.family_name_first:
        display = col.Concat((family_part, col.Const(sep), given_part))
    else:
        display = col.Concat((given_part, col.Const(" "), family_part))
    if isinstance(city, col.Const):
        city_part = col.Coded(np.zeros(n, dtype=np.int64), tables.memo.setdefault("city", (city.value,)))
    else:
        city_part = city
    bio = columnar_bios(
        bio_language(data.locale),
        given_part,
        ages,
        city_part,
        interest_pool,
        interests.rows,
        interests.sizes,
        tone_codes,
        TONES,
        bio_seeds,
        tables.memo.setdefault("bios", BioMemo()),
    )
    columns: dict[str, col.Column] = {
        "id": col.Utf8(agent_ids(key, stop, start=start)),
        "population_key": col.Const(key),
        "index": col.Ints(np.arange(start, stop, dtype=np.int64)),
        "given_name": col.Coded(given_codes, tables.given),
        "family_name": col.Coded(family_codes, tables.family),
        "display_name": display,
        "username": col.Utf8(usernames),
        "email_local_part": col.Utf8(local_parts),
        "gender": gender,
        "age": col.Ints(ages.astype(np.int64)),
        "birth_year": col.Ints(birth_years.astype(np.int64)),
        "country": col.Const(spec.country),
        "city": city,
        "locale": col.Const(data.locale),
        "timezone": timezone,
        "interests": interests.column,
        "bio": bio,
        "posting_cadence": col.Coded(cadence_codes, POSTING_CADENCES),
        "tone": col.Coded(tone_codes, TONES),
        "behavioral_biases": biases.column,
        "synthetic": col.Const(True),
    }
    return col.ProfileChunk(start=start, size=n, columns={name: columns[name] for name in PROFILE_COLUMNS})
