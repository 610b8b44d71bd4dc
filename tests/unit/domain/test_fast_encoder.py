"""The fast paths equal their canonical definitions on varied specs and locales (hypothesis).

- JSON lines and the content hash from the column encoders == `canonical_json(record)` row by row (the stdlib
  `json.dumps`), for v1 and v2, with and without the escape scan being skipped.
- Columnar bios (v1 and v2) == the row-by-row template code.
- Address uniqueness with set operations == the in-order loop, chunk after chunk.
- Usernames and local parts joined from the piece table == the four forms built row by row, clipped, in order.
- Agent ids (one hash state copied a row, hex text for all rows) == `str(uuid5(...))`.
"""

from __future__ import annotations

import hashlib
import uuid

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from azt3knet_pipeline.domain import bios as bios_v2
from azt3knet_pipeline.domain import bios_columnar, text
from azt3knet_pipeline.domain import columns as col
from azt3knet_pipeline.domain.addresses import (
    AGENT_ID_NAMESPACE,
    _AddressBook,
    _addresses,
    _clip,
    _unique_all,
    _unique_in_order,
    agent_ids,
)
from azt3knet_pipeline.domain.generation import INTEREST_CATALOGUE, TONES, _Tables, iter_chunks
from azt3knet_pipeline.domain.models import PopulationSpec, canonical_json

COUNTRIES = ("ES", "US", "JP", "CN", "RU", "GR", "IN", "NG", "BR", "DE", "FR", "IL", "KR", "TH", "PL", "AQ", "IT")
EXTRA_INTERESTS = (*INTEREST_CATALOGUE, "chess", "go_kart")
SEEDS = st.one_of(st.integers(0, 10**6), st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,8}", fullmatch=True))
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def specs(draw: st.DrawFn) -> PopulationSpec:
    version = draw(st.sampled_from((1, 2)))
    lo = draw(st.integers(13, 80))
    fields: dict[str, object] = {
        "count": draw(st.integers(1, 2600)),
        "seed": draw(
            st.one_of(st.integers(0, 10**6), st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,8}", fullmatch=True))
        ),
        "country": draw(st.sampled_from(COUNTRIES)),
        "age_range": f"{lo}-{draw(st.integers(lo, 90))}",
        "generator_version": version,
    }
    if draw(st.booleans()):
        fields["gender"] = draw(st.sampled_from(("female", "male", "non_binary", "unspecified")))
    if draw(st.booleans()):
        fields["interests"] = draw(st.lists(st.sampled_from(EXTRA_INTERESTS), min_size=1))
    if version == 1 and draw(st.booleans()):
        # v1 takes any plain city: quotes, backslashes and non-Latin text exercise the escaping paths.
        fields["city"] = draw(st.sampled_from(('50% "Quote" \\ Ciudad', "Ñandú", "東京", "Zürich")))
    return PopulationSpec.model_validate(fields)


@SETTINGS
@given(spec=specs())
def test_json_lines_and_hash_equal_canonical_json_row_by_row(spec: PopulationSpec) -> None:
    chunks = list(iter_chunks(spec, spec.default_key(), chunk_rows=1024))
    records = [record for chunk in chunks for record in col.records(chunk)]
    assert len(records) == spec.count
    assert b"".join(col.jsonl(chunk) for chunk in chunks) == "".join(canonical_json(r) + "\n" for r in records).encode()
    expected = hashlib.sha256(canonical_json(records).encode("utf-8")).hexdigest()
    assert col.content_hash(chunks) == expected


@SETTINGS
@given(
    language=st.sampled_from(bios_v2.BIO_LANGUAGES),
    n=st.integers(1, 300),
    pool=st.lists(st.sampled_from(EXTRA_INTERESTS), min_size=1, unique=True),
    seed=st.integers(0, 2**32),
)
def test_columnar_bios_equal_the_row_by_row_templates(language: str, n: int, pool: list[str], seed: int) -> None:
    pool = sorted(pool)
    rng = np.random.default_rng(seed)
    name_table, city_table = ["Ana", "José", "佐藤", 'O"Neil', "Łukasz"], ("Madrid", "São Paulo", "東京")
    given, city = col.Coded(rng.integers(0, 5, size=n), name_table), col.Coded(rng.integers(0, 3, size=n), city_table)
    names, cities = col.object_values(given, n), col.object_values(city, n)
    ages = rng.integers(0, 105, size=n)
    hi = min(3, len(pool))
    sizes = rng.integers(0, hi + 1, size=n)
    rows = np.full((n, max(hi, 1)), len(pool), dtype=np.int64)
    for i, size in enumerate(sizes.tolist()):
        rows[i, :size] = np.sort(rng.choice(len(pool), size=size, replace=False))
    tones = rng.integers(0, len(TONES), size=n)
    seeds = rng.integers(0, 2**62, size=n)
    interests = [tuple(pool[j] for j in row[:size]) for row, size in zip(rows.tolist(), sizes.tolist(), strict=True)]
    tone_names = [TONES[t] for t in tones.tolist()]

    memo = bios_columnar.BioMemo()
    fast = bios_columnar.columnar_bios(language, given, ages, city, pool, rows, sizes, tones, TONES, seeds, memo)
    slow = bios_v2.bios(language, names.tolist(), ages.tolist(), cities.tolist(), interests, tone_names, seeds)
    assert col.column_values(fast, n) == slow
    # As JSON: each part escaped on its own is the whole text escaped (quotes and non-ASCII names included).
    chunk = col.ProfileChunk(0, n, {"bio": fast})
    assert col.jsonl(chunk).decode().splitlines() == [canonical_json({"bio": bio}) for bio in slow]

    fast_v1 = text.columnar_bios(names.tolist(), ages.tolist(), cities.tolist(), pool, rows, sizes, TONES, tones, seeds)
    rowwise = zip(names.tolist(), ages.tolist(), cities.tolist(), interests, tone_names, seeds.tolist(), strict=True)
    assert fast_v1 == [text.offline_bio(*row) for row in rowwise]


@SETTINGS
@given(
    chunks=st.lists(
        st.lists(st.sampled_from(["ana", "ana2", "ana3", "ana22", "b", "b2", "ana.b", "ana.b2", "c"]), max_size=40),
        max_size=5,
    )
)
def test_address_uniqueness_equals_the_in_order_rule(chunks: list[list[str]]) -> None:
    fast_taken: set[bytes] = set()
    fast_counters: dict[bytes, int] = {}
    slow_taken: set[bytes] = set()
    slow_counters: dict[bytes, int] = {}
    seen: list[bytes] = []
    for bases in chunks:
        keys = [base.encode() for base in bases]
        fast = _unique_all(list(keys), fast_taken, fast_counters)
        assert fast == _unique_in_order(list(keys), slow_taken, slow_counters)
        assert fast_taken == slow_taken
        seen += fast
    assert len(seen) == len(set(seen))


# Few slugs of few letters, some long enough to be clipped: many collisions, within and across chunks.
SLUGS = st.lists(st.text("ab1", min_size=1, max_size=32), min_size=1, max_size=5)


@settings(max_examples=60, deadline=None)
@given(
    given_slugs=SLUGS,
    family_slugs=SLUGS,
    sizes=st.lists(st.integers(0, 3) | st.integers(0, 60), min_size=1, max_size=4),
    seed=st.integers(0, 2**32),
)
def test_addresses_equal_the_forms_built_row_by_row(
    given_slugs: list[str], family_slugs: list[str], sizes: list[int], seed: int
) -> None:
    tables = _Tables(
        given=given_slugs,
        given_slug=np.array(given_slugs, dtype=object),
        given_initial=np.array([s[0] for s in given_slugs], dtype=object),
        offsets=(0, 0, 0),
        family=family_slugs,
        family_slug=np.array(family_slugs, dtype=object),
        family_initial=np.array([s[0] for s in family_slugs], dtype=object),
        given_arr=np.array(given_slugs, dtype=object),
        family_arr=np.array(family_slugs, dtype=object),
        names_plain=True,
    )
    rng = np.random.default_rng(seed)
    book = _AddressBook()
    users_taken: set[bytes] = set()
    locals_taken: set[bytes] = set()
    users_next: dict[bytes, int] = {}
    locals_next: dict[bytes, int] = {}
    for n in sizes:
        g, f = rng.integers(0, len(given_slugs), n), rng.integers(0, len(family_slugs), n)
        years, styles, numbers = rng.integers(1930, 2013, n), rng.integers(0, 4, n), rng.integers(1, 100, n)
        users, local_parts = [], []
        for gc, fc, year, style, number in zip(g, f, years, styles, numbers, strict=True):
            gs, fs = given_slugs[gc], family_slugs[fc]
            user, local = (
                (gs + fs, f"{gs}.{fs}"),
                (f"{gs}_{fs}{number}", f"{gs}.{fs}{number}"),
                (f"{gs[0]}{fs}{year % 100:02d}", f"{gs[0]}.{fs}{year % 100:02d}"),
                (f"{gs}{year}", f"{gs}.{fs[0]}{year}"),
            )[style]
            users.append(user if len(user) <= 30 else _clip(user, 30))
            local_parts.append(local if len(local) <= 58 else _clip(local, 58))
        expected = (
            _unique_in_order([user.encode() for user in users], users_taken, users_next),
            _unique_in_order([local.encode() for local in local_parts], locals_taken, locals_next),
        )
        assert _addresses(tables, g, f, years, styles, numbers, book) == expected
        assert (book.users, book.locals) == (users_taken, locals_taken)


@SETTINGS
@given(
    key=st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", fullmatch=True),
    start=st.one_of(st.integers(0, 200), st.sampled_from([9, 95, 998, 9_990, 99_995, 999_999])),
    size=st.integers(0, 40),
)
def test_agent_ids_equal_uuid5(key: str, start: int, size: int) -> None:
    expected = [str(uuid.uuid5(AGENT_ID_NAMESPACE, f"{key}:{index}")).encode() for index in range(start, start + size)]
    assert agent_ids(key, start + size, start=start) == expected
