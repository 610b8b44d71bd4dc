"""Column encoders: every fast path gives the bytes of the stdlib definition (`canonical_json(records)`)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azt3knet_pipeline.domain import columns as col
from azt3knet_pipeline.domain.generation import (
    AGENT_ID_NAMESPACE,
    BLOCK,
    CHUNK_BLOCKS,
    GeneratedPopulation,
    _draw,
    generate_population,
    stream_population,
)
from azt3knet_pipeline.domain.models import PopulationSpec, canonical_json, sha256_hex
from azt3knet_pipeline.domain.text import offline_bio


def spec(**overrides: object) -> PopulationSpec:
    return PopulationSpec.model_validate({"count": 2500, "seed": 42, "country": "ES", **overrides})


def test_a_frame_read_back_after_enrichment_hashes_like_the_stdlib() -> None:
    generated = generate_population(spec(count=300))
    frame = generated.frame.copy()
    frame.loc[0, "bio"] = 'Line one\nline "two"\t\\ naïve — 東京 \x01 (synthetic persona)'
    frame.loc[1, "display_name"] = "50% sure"
    enriched = GeneratedPopulation(generated.population_key, generated.spec, frame)
    records = enriched.records()
    assert records[0]["bio"].startswith("Line one\n")
    assert enriched.canonical_json == canonical_json(records)
    assert enriched.content_hash == sha256_hex(canonical_json(records))
    assert enriched.content_hash != generated.content_hash


@pytest.mark.parametrize("city", ['50% "Quote" \\ Ciudad', "Ñandú %s %d"])
def test_constant_columns_with_percent_and_quotes_encode_exactly(city: str) -> None:
    generated = generate_population(spec(count=40, city=city, interests=["jazz"]))
    assert generated.canonical_json == canonical_json(generated.records())
    assert {r["city"] for r in generated.records()} == {city}


def test_chunk_size_changes_nothing() -> None:
    stream = stream_population(spec())
    small = list(stream.chunks(chunk_rows=BLOCK))
    large = list(stream.chunks(chunk_rows=BLOCK * 4))
    assert [c.size for c in small] == [1024, 1024, 452] and [c.size for c in large] == [2500]
    assert col.content_hash(small) == col.content_hash(large) == generate_population(spec()).content_hash
    assert [r for c in small for r in col.records(c)] == [r for c in large for r in col.records(c)]


def test_stream_hash_equals_the_whole_canonical_json() -> None:
    generated = generate_population(spec(country="GR"))
    pieces = list(col.canonical_content(generated.chunks()))
    assert b"".join(pieces).decode() == canonical_json(generated.records())


def test_jsonl_and_csv_rows_match_their_stdlib_definitions() -> None:
    generated = generate_population(spec(count=1100, country="JP"))
    records = generated.records()
    text = b"".join(col.jsonl(c) for c in generated.chunks()).decode()
    assert text.splitlines() == [canonical_json(r) for r in records]
    assert [json.loads(line) for line in text.splitlines()] == records
    names = list(records[0])
    csv_out = "".join(col.csv_text(c, names, header=i == 0) for i, c in enumerate(generated.chunks()))
    rows = list(csv.DictReader(io.StringIO(csv_out)))
    assert len(rows) == 1100
    assert rows[7]["bio"] == records[7]["bio"] and rows[7]["interests"] == "|".join(records[7]["interests"])
    assert {row["synthetic"] for row in rows} == {"True"}


def test_records_do_not_share_mutable_lists() -> None:
    records = generate_population(spec(count=50, interests=["jazz"])).records()
    records[0]["interests"].append("mutated")
    assert records[1]["interests"] == ["jazz"]


def test_bios_fall_back_row_by_row_when_an_input_contains_the_join_separator() -> None:
    generated = generate_population(spec(count=30, city="Nul\x00Town"))
    records = generated.records()
    assert all("Nul\x00Town" in r["bio"] for r in records)
    assert generated.canonical_json == canonical_json(records)
    seeds = _draw(42, "bio", 0, 30, lambda rng, k: rng.integers(0, 2**62, size=k)).tolist()
    for r, seed in zip(records, seeds, strict=True):
        assert r["bio"] == offline_bio(r["given_name"], r["age"], r["city"], r["interests"], r["tone"], seed)


def test_ids_across_a_chunk_boundary_are_the_uuid5_of_their_index() -> None:
    boundary = BLOCK * CHUNK_BLOCKS
    records = generate_population(spec(count=boundary + 3), "k").records()
    for index in (0, boundary - 1, boundary, boundary + 2):
        assert records[index]["id"] == str(uuid.uuid5(AGENT_ID_NAMESPACE, f"k:{index}"))
        assert records[index]["index"] == index


def test_a_table_appended_to_between_chunks_encodes_its_new_entries() -> None:
    table = ["Ana", "Luis"]
    first = col.ProfileChunk(0, 2, {"name": col.Coded(np.array([0, 1]), table)})
    assert col.jsonl(first) == b'{"name":"Ana"}\n{"name":"Luis"}\n'
    table.append('O"Neil')
    second = col.ProfileChunk(2, 3, {"name": col.Coded(np.array([2, 0, 2]), table)})
    assert col.jsonl(second).decode().splitlines() == [canonical_json({"name": v}) for v in ('O"Neil', "Ana", 'O"Neil')]


def test_populations_encoded_in_threads_at_once_equal_one_by_one() -> None:
    """The encoded-table cache is shared by threads (the API generates in several): same bytes as alone."""
    specs = [spec(count=3000, seed=seed, country=country) for seed in (1, 2) for country in ("ES", "JP")]

    def lines(s: PopulationSpec) -> bytes:
        return b"".join(col.jsonl(c) for c in stream_population(s).chunks(chunk_rows=BLOCK))

    alone = [lines(s) for s in specs]
    col._ENCODED.clear()
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(lines, specs * 2)) == alone * 2


def test_utf8_each_encodes_every_text_and_suffix_even_one_holding_the_separator() -> None:
    assert col.utf8_each(["ana.garcia", "José", ""]) == [b"ana.garcia", "José".encode(), b""]
    assert col.utf8_each(["a\x00b", "東京"]) == [b"a\x00b", "東京".encode()]
    assert col.utf8_each([]) == []
    assert col.utf8_each(["ana", "José"], '","x":') == [b'ana","x":', 'José","x":'.encode()]
    assert col.utf8_each(["a\x00b", "c"], "!") == [b"a\x00b!", b"c!"]


def test_utf8_rows_are_suffixed_and_decoded_each_even_one_holding_the_separator() -> None:
    texts = [b"ana.garcia", "José".encode(), b"", b"a\x00b"]
    assert col._suffixed_each(texts, b'","x":') == [text + b'","x":' for text in texts]
    assert col._suffixed_each(texts[:3], b"!") == [b"ana.garcia!", "José!".encode(), b"!"]
    assert col._decoded_each(texts) == ["ana.garcia", "José", "", "a\x00b"]
    assert col._decoded_each([]) == [] and col._suffixed_each([], b"!") == []


@pytest.mark.parametrize("rows", [1, 3, col._JOIN_ROWS + 1, 2 * col._JOIN_ROWS])
def test_each_value_carrying_the_literal_after_it_gives_the_stdlib_rows(rows: int) -> None:
    """Every kind of column first, in the middle and last (where it carries the next row's opening literal),
    blocks of rows joined or not, with and without the last separator."""
    rng = np.random.default_rng(rows)
    names = ["Ana", 'O"Neil', "東京"]
    columns: dict[str, col.Column] = {
        "a_wide": col.Ints(rng.integers(-(10**9), 10**9, size=rows)),
        "b_narrow": col.Ints(rng.integers(13, 90, size=rows)),
        "c_text": col.Strs([f'x"{i}\\\x00' for i in range(rows)]),
        "d_const": col.Const("50%"),
        "e_plain": col.Strs([f"id-{i}" for i in range(rows)], plain=True),
        "f_coded": col.Coded(rng.integers(0, 3, size=rows), names),
        "g_concat": col.Concat((col.Coded(rng.integers(0, 3, size=rows), names), col.Const(" & "))),
        "h_values": col.Values([["a", None] if i % 2 else i / 4 for i in range(rows)]),
        "i_utf8": col.Utf8([f"ana.garcía{i}".encode() for i in range(rows)]),
    }
    for order in (list(columns), list(columns)[::-1], ["d_const"]):
        keys = {f"{i}{name}": columns[name] for i, name in enumerate(order)}
        chunk = col.ProfileChunk(0, rows, keys)
        records = col.records(chunk)
        expected = [canonical_json(record) for record in records]
        assert col.jsonl(chunk) == b"".join(col.jsonl_blocks(chunk)) == "".join(f"{r}\n" for r in expected).encode()
        assert len(col.jsonl_blocks(chunk)) == (rows + col._JOIN_ROWS - 1) // col._JOIN_ROWS or order == ["d_const"]
        assert col.json_rows(chunk, b",", last_sep=False) == ",".join(expected).encode()
        assert b"".join(col.canonical_content([chunk, chunk])) == canonical_json(records * 2).encode()


# Characters and texts that meet the NUL/\x01 separators and their escapes.
TRICKY = st.lists(
    st.sampled_from(["a", "é", "東", '"', "\\", "\x00", "\x01", "\\u0000", "\\u0001", "\n", "u0000"]), max_size=4
).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    values=st.one_of(
        st.lists(TRICKY, max_size=8),
        st.lists(st.tuples(TRICKY) | st.tuples(TRICKY, TRICKY) | st.just(()), max_size=8),
        st.lists(st.one_of(TRICKY, st.integers(0, 9), st.booleans()), max_size=4),
    ),
    suffix=st.sampled_from([b"", b'","x":', b',"bio":"', "\x01é".encode()]),
    body=st.booleans(),
)
def test_json_texts_at_once_equal_one_by_one(values: list[object], suffix: bytes, body: bool) -> None:
    if body:
        values = [v for v in values if isinstance(v, str)]
    assert col._json_texts(values, suffix, body=body) == col._json_texts_one_by_one(values, suffix, body=body)


def test_json_texts_of_plain_strings_and_tuples_take_one_escape_call(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = [b'"Ana"!', b'"O\\"Neil"!', '"東京"!'.encode()], [b'["a","b"]!', b'["c"]!']
    monkeypatch.setattr(col, "_json_texts_one_by_one", None)  # any fallback would fail
    assert col._json_texts(["Ana", 'O"Neil', "東京"], b"!", body=False) == expected[0]
    assert col._json_texts([("a", "b"), ("c",)], b"!", body=False) == expected[1]
    assert col._json_texts(["a b", ""], b"", body=True) == [b"a b", b""]


def test_neighbouring_tables_written_as_one_piece_give_the_stdlib_rows_chunk_after_chunk() -> None:
    """Products of two and three tables, a table appended to and an integer range widened between chunks, and
    a product too large to make: the same rows as the stdlib, and fewer pieces a row."""
    rng = np.random.default_rng(5)
    tones, names = ("casual", 'dry "wit"'), ["Ana", "Luis"]
    big = col._PRODUCT_MAX  # a product with another table is too large
    chunks = []
    for size, ages in ((40, (18, 30)), (50, (16, 65)), (30, (20, 25))):
        names.append(f"Name{len(names)}")  # grows: a new product table
        columns: dict[str, col.Column] = {
            "a_age": col.Ints(rng.integers(*ages, size=size)),
            "b_tone": col.Coded(rng.integers(0, 2, size=size), tones),
            "c_name": col.Coded(rng.integers(0, len(names), size=size), names),
            "d_id": col.Utf8([b"x%d" % i for i in range(size)]),
            "e_big": col.Coded(rng.integers(0, big, size=size), [f"v{i}" for i in range(big)]),
            "f_tone": col.Coded(rng.integers(0, 2, size=size), tones),
        }
        chunks.append(col.ProfileChunk(0, size, columns))
    for chunk in chunks:
        expected = [canonical_json(record) for record in col.records(chunk)]
        assert col.jsonl(chunk).decode().splitlines() == expected
    pieces = col._pieces(
        [chunks[0].columns[name] for name in sorted(chunks[0].columns)], [b","] * len(chunks[0].columns)
    )
    assert len(pieces) == 4  # age x tone x name, id, big (its product with a tone is too large), tone
