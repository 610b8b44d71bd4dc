"""Deterministic, vectorised generation of agent profiles from a PopulationSpec.

Generation v1: this exact algorithm must reproduce every registered population byte for byte, forever
(tests/unit/test_golden_hashes.py). A different algorithm is a new version beside this one, never an edit of it:
version 2 lives in generation_v2.py and `iter_chunks` dispatches on `spec.version`.

Every draw follows the derivation scheme of draws.py (prefix-stable: growing a population keeps every existing
agent and its mailbox unchanged); ids and addresses come from addresses.py. Profiles are generated and encoded
as column chunks (columns.py), never one Python object a row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from azt3knet_pipeline.domain import columns as col
from azt3knet_pipeline.domain.addresses import AGENT_ID_NAMESPACE as AGENT_ID_NAMESPACE  # re-exported
from azt3knet_pipeline.domain.addresses import _AddressBook, _addresses, agent_ids
from azt3knet_pipeline.domain.draws import BLOCK, Memo, Seeds, _choice, _draw, _subsets
from azt3knet_pipeline.domain.draws import NAMESPACE as NAMESPACE  # re-exported
from azt3knet_pipeline.domain.draws import derive_seed as derive_seed  # re-exported
from azt3knet_pipeline.domain.locale_data import LocaleData, load_locale, locale_for_country
from azt3knet_pipeline.domain.models import AgentProfile, PopulationSpec, validate_population_key
from azt3knet_pipeline.domain.text import columnar_bios, template_text

if TYPE_CHECKING:
    import pandas as pd


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
_MIXED_GENDERS: tuple[str, ...] = ("female", "male", "non_binary")
_MIXED_WEIGHTS = np.array([0.48, 0.48, 0.04])

PROFILE_COLUMNS: tuple[str, ...] = tuple(AgentProfile.model_fields)
# Profiles are generated and streamed this many blocks at a time: working memory does not grow with the count.
CHUNK_BLOCKS = 8
# The fields every chunk of either generator version draws besides its age, gender and city draws (`_chunk`);
# a chunk's are hashed together (`Seeds`).
CHUNK_FIELDS: tuple[str, ...] = (
    "given_name",
    "family_name",
    "tone",
    "posting_cadence",
    "interests:size",
    "interests:order",
    "behavioral_biases:size",
    "behavioral_biases:order",
    "bio",
    "address_style",
    "address_number",
)


class GeneratedPopulation:
    """A generated population held as column chunks, with its frame, records, canonical JSON and content hash.

    Built either by `generate_population` (columns) or from a frame (e.g. after LLM enrichment of the bios).
    """

    def __init__(
        self,
        population_key: str,
        spec: PopulationSpec,
        frame: pd.DataFrame | None = None,
        *,
        chunks: Sequence[col.ProfileChunk] | None = None,
    ) -> None:
        if (frame is None) == (chunks is None):
            raise ValueError("a GeneratedPopulation needs either a frame or chunks")
        self.population_key = population_key
        self.spec = spec
        self._chunks = list(chunks) if chunks is not None else None
        if frame is not None:
            self.__dict__["frame"] = frame

    @cached_property
    def frame(self) -> pd.DataFrame:
        """One row per agent, columns in `PROFILE_COLUMNS` order (pandas is imported only when asked for)."""
        import pandas as pd

        assert self._chunks is not None
        data: dict[str, Any] = {}
        for name in PROFILE_COLUMNS:
            first = self._chunks[0].columns[name]
            if isinstance(first, col.Const) and all(c.columns[name] == first for c in self._chunks):
                data[name] = first.value
            elif isinstance(first, col.Ints):
                data[name] = np.concatenate([c.columns[name].values for c in self._chunks]).astype(np.int64)  # type: ignore[union-attr]
            else:
                data[name] = [v for c in self._chunks for v in c.values(name)]
        return pd.DataFrame(data, columns=list(PROFILE_COLUMNS))

    def chunks(self) -> list[col.ProfileChunk]:
        """The profiles as column chunks, in index order."""
        if self._chunks is not None:
            return self._chunks
        frame = self.frame
        return [col.ProfileChunk(0, len(frame), {n: col.Values(frame[n].tolist()) for n in PROFILE_COLUMNS})]

    def records(self) -> list[dict[str, Any]]:
        """Profiles as JSON-ready dicts in index order (tuples become lists, numpy ints become ints)."""
        return [record for chunk in self.chunks() for record in col.records(chunk)]

    @cached_property
    def canonical_json(self) -> str:
        """`canonical_json(self.records())`, byte for byte, built from the column encoders."""
        return b"".join(col.canonical_content(self.chunks())).decode("utf-8")

    @cached_property
    def content_hash(self) -> str:
        """sha256 of the canonical JSON of every profile: equal hashes ⇔ byte-identical populations."""
        return col.content_hash(self.chunks())

    def profiles(self) -> list[AgentProfile]:
        return [AgentProfile.model_validate(row) for row in self.records()]


@dataclass(frozen=True)
class PopulationStream:
    """A population generated chunk by chunk on demand (each `chunks()` call regenerates from the start)."""

    spec: PopulationSpec
    population_key: str

    def chunks(self, chunk_rows: int = BLOCK * CHUNK_BLOCKS) -> Iterator[col.ProfileChunk]:
        return iter_chunks(self.spec, self.population_key, chunk_rows)


def resolved_locale(spec: PopulationSpec) -> str:
    return spec.locale or locale_for_country(spec.country)


def stream_population(spec: PopulationSpec, population_key: str | None = None) -> PopulationStream:
    """`spec`'s population as a stream of chunks: for previews and files of any size in flat memory."""
    return PopulationStream(spec, validate_population_key(population_key or spec.default_key()))


def generate_population(spec: PopulationSpec, population_key: str | None = None) -> GeneratedPopulation:
    """Generate every profile of `spec`. Pure and deterministic: same spec and key ⇒ same bytes."""
    stream = stream_population(spec, population_key)
    return GeneratedPopulation(stream.population_key, spec, chunks=list(stream.chunks()))


@dataclass(frozen=True)
class _Tables:
    """Per-population lookup tables: every name of the locale once, with its address slug and initial."""

    given: list[str]
    given_slug: np.ndarray
    given_initial: np.ndarray
    offsets: tuple[int, int, int]
    family: list[str]
    family_slug: np.ndarray
    family_initial: np.ndarray
    given_arr: np.ndarray
    family_arr: np.ndarray
    names_plain: bool  # no name needs JSON escaping, so neither does a display name
    memo: dict[str, Any] = dataclasses.field(default_factory=dict)  # per-population caches (by code, tables)

    @staticmethod
    def of(data: LocaleData) -> _Tables:
        given_tables = (data.female, data.male, data.any_gender)
        given = [name for table in given_tables for name in table.names.tolist()]
        given_slug = [slug or "agent" for table in given_tables for slug in table.slugs.tolist()]
        family_slug = [slug or "synth" for slug in data.family.slugs.tolist()]
        sizes = [len(table.names) for table in given_tables]
        return _Tables(
            given=given,
            given_slug=np.array(given_slug, dtype=object),
            given_initial=np.array([s[0] for s in given_slug], dtype=object),
            offsets=(0, sizes[0], sizes[0] + sizes[1]),
            family=data.family.names.tolist(),
            family_slug=np.array(family_slug, dtype=object),
            family_initial=np.array([s[0] for s in family_slug], dtype=object),
            given_arr=np.array(given, dtype=object),
            family_arr=data.family.names,
            names_plain=not col.needs_escaping([*given, *data.family.names.tolist()]),
        )


def bios_plain(city: col.Column, interest_pool: Sequence[str]) -> bool:
    """Whether v1 bios made of these cities, interests and template texts (and checked names) need no escaping."""
    cities = [city.value] if isinstance(city, col.Const) else list(city.values)  # type: ignore[union-attr]
    return not col.needs_escaping([*cities, *interest_pool, template_text()])


def iter_chunks(
    spec: PopulationSpec, population_key: str, chunk_rows: int = BLOCK * CHUNK_BLOCKS
) -> Iterator[col.ProfileChunk]:
    """Every profile of `spec`, `chunk_rows` (a multiple of BLOCK) at a time, in index order."""
    if chunk_rows <= 0 or chunk_rows % BLOCK:
        raise ValueError(f"chunk_rows must be a positive multiple of {BLOCK}")
    key = validate_population_key(population_key)
    if spec.version != 1:
        from azt3knet_pipeline.domain import generation_v2

        yield from generation_v2.iter_chunks(spec, key, chunk_rows)
        return
    data = load_locale(resolved_locale(spec), spec.country)
    tables = _Tables.of(data)
    book = _AddressBook()
    for start in range(0, spec.count, chunk_rows):
        yield _chunk(spec, key, data, tables, book, start, min(spec.count, start + chunk_rows))


def _chunk(
    spec: PopulationSpec,
    key: str,
    data: LocaleData,
    tables: _Tables,
    book: _AddressBook,
    start: int,
    stop: int,
) -> col.ProfileChunk:
    """Profiles `start..stop-1`: every field drawn for the whole chunk at once."""
    n = stop - start
    seed = spec.seed
    fields = (("gender",) if spec.gender is None else ()) + (() if spec.city else ("city",))
    seeds = Seeds(seed, NAMESPACE, start, stop, (*fields, "age", *CHUNK_FIELDS))

    def draw(field: str, sample: Callable[[np.random.Generator, int], np.ndarray]) -> np.ndarray:
        return _draw(seed, field, start, stop, sample, seeds=seeds)

    gender: col.Column
    if spec.gender is None:
        gender_codes = _choice(seed, "gender", start, stop, _MIXED_WEIGHTS, seeds=seeds)
        gender = col.Coded(gender_codes, _MIXED_GENDERS)
        table_at = gender_codes  # female → female names, male → male names, anything else → any-gender names
    else:
        gender = col.Const(spec.gender)
        table_at = np.full(n, {"female": 0, "male": 1}.get(spec.gender, 2), dtype=np.int64)
    ages = draw("age", lambda rng, k: rng.integers(spec.age_range.lo, spec.age_range.hi + 1, size=k))
    given_u = draw("given_name", lambda rng, k: rng.random(k))
    family_u = draw("family_name", lambda rng, k: rng.random(k))

    given_codes = np.empty(n, dtype=np.int64)
    for at, table in enumerate((data.female, data.male, data.any_gender)):
        mask = table_at == at
        given_codes[mask] = table.pick(given_u[mask]) + tables.offsets[at]
    family_codes = data.family.pick(family_u)

    city: col.Column
    timezone: col.Column
    if spec.city:
        city, timezone = col.Const(spec.city), col.Const(data.timezone_of(spec.city))
    else:
        city_codes = draw("city", lambda rng, k: rng.integers(0, len(data.cities), size=k))
        city = col.Coded(city_codes, data.cities)
        timezone = col.Coded(city_codes, [data.timezone_of(str(c)) for c in data.cities])
    tone_codes = draw("tone", lambda rng, k: rng.integers(0, len(TONES), size=k))
    cadence_codes = _choice(seed, "posting_cadence", start, stop, _CADENCE_WEIGHTS, seeds=seeds)
    interest_pool = spec.interests or INTEREST_CATALOGUE
    memo = tables.memo
    interests = _subsets(
        seed, "interests", start, stop, interest_pool, 1, 3, memo.setdefault("interests", Memo()), seeds=seeds
    )
    biases = _subsets(
        seed, "behavioral_biases", start, stop, BEHAVIORAL_BIASES, 1, 2, memo.setdefault("biases", Memo()), seeds=seeds
    )
    bio_seeds = draw("bio", lambda rng, k: rng.integers(0, 2**62, size=k))
    styles = draw("address_style", lambda rng, k: rng.integers(0, 4, size=k))
    numbers = draw("address_number", lambda rng, k: rng.integers(1, 100, size=k))

    birth_years = spec.reference_year - ages
    usernames, local_parts = _addresses(tables, given_codes, family_codes, birth_years, styles, numbers, book)
    given_names = col.Coded(given_codes, tables.given)
    family_names = col.Coded(family_codes, tables.family)
    given_arr, family_arr = tables.given_arr[given_codes], tables.family_arr[family_codes]
    display = (family_arr + " " + given_arr if data.family_name_first else given_arr + " " + family_arr).tolist()
    given_list = given_arr.tolist()
    bios = columnar_bios(
        given_list,
        ages.tolist(),
        col.column_values(city, n),
        interest_pool,
        interests.rows,
        interests.sizes,
        TONES,
        tone_codes,
        bio_seeds,
    )
    columns: dict[str, col.Column] = {
        "id": col.Utf8(agent_ids(key, stop, start=start)),
        "population_key": col.Const(key),
        "index": col.Ints(np.arange(start, stop, dtype=np.int64)),
        "given_name": given_names,
        "family_name": family_names,
        "display_name": col.Strs(display, plain=tables.names_plain),
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
        "bio": col.Strs(bios, plain=tables.names_plain and bios_plain(city, interest_pool)),
        "posting_cadence": col.Coded(cadence_codes, POSTING_CADENCES),
        "tone": col.Coded(tone_codes, TONES),
        "behavioral_biases": biases.column,
        "synthetic": col.Const(True),
    }
    return col.ProfileChunk(start=start, size=n, columns={name: columns[name] for name in PROFILE_COLUMNS})
