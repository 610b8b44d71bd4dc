"""Deterministic, vectorised generation of agent profiles from a PopulationSpec.

Generation v1: this exact algorithm must reproduce every registered population byte for byte, forever
(tests/unit/test_golden_hashes.py). A different algorithm is a new version beside this one, never an edit of it:
version 2 lives in generation_v2.py and `iter_chunks` dispatches on `spec.version`.

Derivation scheme (DESIGN.md): every random draw comes from a generator seeded by
`sub_seed = sha256(seed, namespace, block, field)`, never Python's `hash()`. Rows are drawn in blocks of
`BLOCK` agents so a whole field is sampled with one numpy call per block; the row's position inside its block
stands for the index. Because draws are prefix-stable, agent `i` is the same whatever the population's count,
so growing a population keeps every existing agent (and its mailbox) unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import repeat
from typing import TYPE_CHECKING, Any

import numpy as np

from azt3knet_pipeline.domain import columns as col
from azt3knet_pipeline.domain.locale_data import LocaleData, load_locale, locale_for_country
from azt3knet_pipeline.domain.models import AgentProfile, PopulationSpec, canonical_json, validate_population_key
from azt3knet_pipeline.domain.text import columnar_bios

if TYPE_CHECKING:
    import pandas as pd

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
_MIXED_GENDERS: tuple[str, ...] = ("female", "male", "non_binary")
_MIXED_WEIGHTS = np.array([0.48, 0.48, 0.04])

PROFILE_COLUMNS: tuple[str, ...] = tuple(AgentProfile.model_fields)
_LOCAL_PART_MAX = 64
_USERNAME_MAX = 30
# Profiles are generated and streamed this many blocks at a time: working memory does not grow with the count.
CHUNK_BLOCKS = 8


def derive_seed(seed: int | str, namespace: str, index: int, field: str) -> int:
    """`H(seed, namespace, index, field)` as a 128-bit integer: the one derivation behind every draw."""
    material = canonical_json([type(seed).__name__, str(seed), namespace, index, field])
    return int.from_bytes(hashlib.sha256(material.encode("utf-8")).digest()[:16], "big")


def _draw(
    seed: int | str,
    field: str,
    start: int,
    stop: int,
    sample: Callable[[np.random.Generator, int], np.ndarray],
    namespace: str = NAMESPACE,
) -> np.ndarray:
    """Rows `start..stop-1` (`start` on a block boundary, `stop` a block boundary or the population's end) of
    a field: `sample(rng, n)` per block, each block with its own derived generator."""
    parts = []
    for row in range(start, stop, BLOCK):
        size = min(BLOCK, stop - row)
        rng = np.random.Generator(np.random.PCG64(derive_seed(seed, namespace, row // BLOCK, field)))
        parts.append(sample(rng, size))
    return np.concatenate(parts) if parts else np.empty(0)


def _smallest_keys(keys: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's `k` smallest keys, in key order (== argsort(keys)[:, :k], but O(m) a row)."""
    if k >= keys.shape[1]:
        return np.argsort(keys, axis=1)
    part = np.argpartition(keys, k - 1, axis=1)[:, :k]
    return np.take_along_axis(part, np.argsort(np.take_along_axis(keys, part, axis=1), axis=1), axis=1)


@dataclass(frozen=True)
class _Subsets:
    """Per row a subset of a pool: `rows[i, :sizes[i]]` are pool indices in pool order, padded with len(pool)."""

    rows: np.ndarray
    sizes: np.ndarray
    column: col.Coded


def _subsets(
    seed: int | str,
    field: str,
    start: int,
    stop: int,
    pool: Sequence[str],
    lo: int,
    hi: int,
    memo: dict[int, tuple[str, ...]] | None = None,
    *,
    namespace: str = NAMESPACE,
    weights: np.ndarray | None = None,
) -> _Subsets:
    """For each row, a subset of `pool` of size lo..hi (clipped to the pool), in pool order.

    `weights` (rows x pool, positive) makes the draw weighted without replacement (exponential race: the
    smallest `-log(1 - u) / w` keys win); without it every member is equally likely, as in v1.
    """
    if list(pool) != sorted(pool):
        raise ValueError(f"{field}: the pool must be sorted so index order is name order")
    hi = min(hi, len(pool))
    lo = min(lo, hi)
    sizes = _draw(seed, f"{field}:size", start, stop, lambda rng, n: rng.integers(lo, hi + 1, size=n), namespace)
    if weights is None:
        chosen = _draw(
            seed,
            f"{field}:order",
            start,
            stop,
            lambda rng, n: _smallest_keys(rng.random((n, len(pool))), hi),
            namespace,
        )
    else:
        uniforms = _draw(seed, f"{field}:order", start, stop, lambda rng, n: rng.random((n, len(pool))), namespace)
        chosen = _smallest_keys(-np.log1p(-uniforms) / weights, hi)
    # Sort each row's first `size` picks by index (= by name); unused slots sort last.
    rows = np.sort(np.where(np.arange(hi)[None, :] < sizes[:, None], chosen, len(pool)), axis=1)
    radix = len(pool) + 1
    if hi * np.log2(radix) < 62:  # one integer per row: much faster to deduplicate than rows
        distinct, codes = np.unique(rows @ radix ** np.arange(hi, dtype=np.int64), return_inverse=True)
        memo = {} if memo is None else memo  # code -> subset, kept across the chunks of one population
        values = []
        for code in distinct.tolist():
            subset = memo.get(code)
            if subset is None:
                digits = ((code // radix**j) % radix for j in range(hi))
                subset = memo[code] = tuple(pool[i] for i in digits if i < len(pool))
            values.append(subset)
    else:
        unique_rows, codes = np.unique(rows, axis=0, return_inverse=True)
        values = [tuple(pool[i] for i in row if i < len(pool)) for row in unique_rows.tolist()]
    return _Subsets(rows=rows, sizes=sizes, column=col.Coded(codes.reshape(-1), values))


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
        return "".join(col.canonical_content(self.chunks()))

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
    memo: dict[str, dict[int, tuple[str, ...]]] = dataclasses.field(default_factory=dict)

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
        )


class _AddressBook:
    """Usernames and local parts taken so far: unique within the population, collisions resolved in index
    order by the first free numeric suffix. Kept as integer keys (`_address_key`): a million of them take a
    third less memory than the strings."""

    def __init__(self) -> None:
        self.users: set[int] = set()
        self.locals: set[int] = set()
        self.next_user: dict[int, int] = {}
        self.next_local: dict[int, int] = {}

    def take_users(self, bases: list[str]) -> list[str]:
        return _unique_all(bases, self.users, self.next_user)

    def take_locals(self, bases: list[str]) -> list[str]:
        return _unique_all(bases, self.locals, self.next_local)


def _address_key(value: str) -> int:
    """An exact, injective integer for a string (the leading 1 byte keeps leading NULs significant)."""
    return int.from_bytes(b"\x01" + value.encode("utf-8"), "big")


def _address_keys(values: list[str]) -> list[int]:
    """`_address_key` of every value, encoded and split in C (values never contain a newline; checked)."""
    parts = ("\x01" + "\n\x01".join(values)).encode("utf-8").split(b"\n") if values else []
    if len(parts) != len(values):
        return [_address_key(v) for v in values]
    return list(map(int.from_bytes, parts, repeat("big")))


def _unique_all(bases: list[str], taken: set[int], counters: dict[int, int]) -> list[str]:
    out = []
    append, add, key = out.append, taken.add, _address_key
    for base, base_key in zip(bases, _address_keys(bases), strict=True):
        if base_key in taken:
            k = counters.get(base_key, 2)
            while key(f"{base}{k}") in taken:
                k += 1
            counters[base_key] = k + 1
            base = f"{base}{k}"
            base_key = key(base)
        add(base_key)
        append(base)
    return out


_TWO_DIGITS = np.array([f"{i:02d}" for i in range(100)], dtype=object)


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

    def draw(field: str, sample: Callable[[np.random.Generator, int], np.ndarray]) -> np.ndarray:
        return _draw(seed, field, start, stop, sample)

    gender: col.Column
    if spec.gender is None:
        gender_codes = draw("gender", lambda rng, k: rng.choice(len(_MIXED_GENDERS), size=k, p=_MIXED_WEIGHTS))
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
    cadence_codes = draw(
        "posting_cadence", lambda rng, k: rng.choice(len(POSTING_CADENCES), size=k, p=_CADENCE_WEIGHTS)
    )
    interest_pool = spec.interests or INTEREST_CATALOGUE
    interests = _subsets(seed, "interests", start, stop, interest_pool, 1, 3, tables.memo.setdefault("interests", {}))
    biases = _subsets(
        seed, "behavioral_biases", start, stop, BEHAVIORAL_BIASES, 1, 2, tables.memo.setdefault("biases", {})
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
        "id": col.Strs(agent_ids(key, stop, start=start), plain=True),
        "population_key": col.Const(key),
        "index": col.Ints(np.arange(start, stop, dtype=np.int64)),
        "given_name": given_names,
        "family_name": family_names,
        "display_name": col.Strs(display),
        "username": col.Strs(usernames, plain=True),
        "email_local_part": col.Strs(local_parts, plain=True),
        "gender": gender,
        "age": col.Ints(ages.astype(np.int64)),
        "birth_year": col.Ints(birth_years.astype(np.int64)),
        "country": col.Const(spec.country),
        "city": city,
        "locale": col.Const(data.locale),
        "timezone": timezone,
        "interests": interests.column,
        "bio": col.Strs(bios),
        "posting_cadence": col.Coded(cadence_codes, POSTING_CADENCES),
        "tone": col.Coded(tone_codes, TONES),
        "behavioral_biases": biases.column,
        "synthetic": col.Const(True),
    }
    return col.ProfileChunk(start=start, size=n, columns={name: columns[name] for name in PROFILE_COLUMNS})


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# Where the 32 hex digits go in the 36-character UUID text (the rest are dashes).
_UUID_DIGITS = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])


def agent_ids(population_key: str, count: int, *, start: int = 0) -> list[str]:
    """`str(uuid5(AGENT_ID_NAMESPACE, f"{key}:{index}"))` for every index in `start..count-1`: one sha1 a row,
    the version bits and hex text for all rows at once."""
    prefix = AGENT_ID_NAMESPACE.bytes + f"{population_key}:".encode()
    sha1 = hashlib.sha1
    digests = b"".join([sha1(prefix + b"%d" % index).digest() for index in range(start, count)])
    n = max(count - start, 0)
    raw = np.frombuffer(digests, dtype=np.uint8).reshape(n, 20)[:, :16].copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x50
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    nibbles = np.empty((n, 32), dtype=np.uint8)
    nibbles[:, 0::2], nibbles[:, 1::2] = raw >> 4, raw & 0x0F
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    text[:, _UUID_DIGITS] = _HEX[nibbles]
    joined = text.tobytes().decode("ascii")
    return [joined[i : i + 36] for i in range(0, 36 * n, 36)]


def _addresses(
    tables: _Tables,
    given_codes: np.ndarray,
    family_codes: np.ndarray,
    birth_years: np.ndarray,
    styles: np.ndarray,
    numbers: np.ndarray,
    book: _AddressBook,
) -> tuple[list[str], list[str]]:
    """Usernames and email local parts, unique within the population, collisions resolved in index order."""
    n = len(given_codes)
    g, gi = tables.given_slug[given_codes], tables.given_initial[given_codes]
    f, fi = tables.family_slug[family_codes], tables.family_initial[family_codes]
    year = np.array(birth_years.astype(np.int64).astype(str), dtype=object)
    yy = _TWO_DIGITS[birth_years.astype(np.int64) % 100]
    num = np.array(numbers.astype(np.int64).astype(str), dtype=object)
    user = np.empty(n, dtype=object)
    local = np.empty(n, dtype=object)
    forms = (
        lambda i: (g[i] + f[i], g[i] + "." + f[i]),
        lambda i: (g[i] + "_" + f[i] + num[i], g[i] + "." + f[i] + num[i]),
        lambda i: (gi[i] + f[i] + yy[i], gi[i] + "." + f[i] + yy[i]),
        lambda i: (g[i] + year[i], g[i] + "." + fi[i] + year[i]),
    )
    for style, form in enumerate(forms):
        where = np.flatnonzero(styles == style)
        if len(where):
            user[where], local[where] = form(where)
    return (
        book.take_users(_clipped(user.tolist(), _USERNAME_MAX)),
        book.take_locals(_clipped(local.tolist(), _LOCAL_PART_MAX - 6)),
    )


def _clipped(values: list[str], limit: int) -> list[str]:
    """`_clip` of every value. Unclipped values need no strip: slugs are [a-z0-9]+, so no form starts or ends
    with a dot."""
    if not values or max(map(len, values)) <= limit:
        return values
    return [v if len(v) <= limit else _clip(v, limit) for v in values]


def _clip(value: str, limit: int) -> str:
    return value[:limit].strip(".")
