"""Generator versions and the population report through the CLI, as a user runs it (real subprocesses, a real
SQLite store and Dagster instance under the test's AZT3KNET_HOME)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from test_cli_spine import azt3knet  # tests/integration is on sys.path (no package)

from azt3knet_pipeline.domain.generation import generate_population
from azt3knet_pipeline.domain.models import PopulationSpec


def test_new_population_is_v2_and_populating_again_keeps_version_and_hash(isolated_env: Path) -> None:
    args = ["populate", "--count", "40", "--seed", "v2", "--country", "JP", "--json"]
    first = azt3knet(*args)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    expected = generate_population(PopulationSpec(count=40, seed="v2", country="JP", generator_version=2), "seed-v2")
    assert summary["content_hash"] == expected.content_hash
    shown = json.loads(azt3knet("populations", "show", "seed-v2", "--json", "--assets").stdout)
    assert shown["generator_version"] == 2 and shown["spec"]["generator_version"] == 2
    assert shown["assets"]["agent_profiles"]["metadata"]["generator_version"] == 2
    again = json.loads(azt3knet(*args).stdout)
    assert again["registered"] is False and again["content_hash"] == summary["content_hash"]
    # An explicit other version for the same key is a different spec: refused, nothing changes.
    conflict = azt3knet(*args[:-1], "--generator-version", "1")
    assert conflict.returncode == 2 and "different spec" in conflict.stderr


def test_a_population_registered_before_versions_stays_v1(isolated_env: Path) -> None:
    """A store row written by the pre-version code (no generator_version in the spec JSON) keeps generating v1,
    and populating the same fields again is a no-op that keeps it."""
    args = ["populate", "--count", "30", "--seed", "old", "--country", "GR", "--generator-version", "1", "--json"]
    first = azt3knet(*args)
    assert first.returncode == 0, first.stderr
    with sqlite3.connect(isolated_env / "azt3knet.db") as db:
        (spec_json,) = db.execute("select spec_json from population where key = 'seed-old'").fetchone()
    assert "generator_version" not in json.loads(spec_json)  # stored exactly as before versions existed
    v1 = generate_population(PopulationSpec(count=30, seed="old", country="GR"), "seed-old").content_hash
    assert json.loads(first.stdout)["content_hash"] == v1
    again = azt3knet("populate", "--count", "30", "--seed", "old", "--country", "GR", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["registered"] is False and json.loads(again.stdout)["content_hash"] == v1
    assert json.loads(azt3knet("populations", "show", "seed-old", "--json").stdout)["generator_version"] == 1
    assert "generator version: 1" in azt3knet("populations", "show", "seed-old").stdout


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--country", "ES", "--city", "Madird"], ["city 'Madird' is not a known place in ES", "Madrid"]),
        (["--country", "US", "--city", "Springfeld"], ["did you mean", "Springfield"]),
        (["--country", "JP", "--locale", "es_ES"], ["locale 'es_ES' is not supported for country JP", "ja_JP"]),
        (["--country", "NG", "--locale", "fr_FR"], ["choose one of", "en_NG", "yo_NG"]),
    ],
)
def test_bad_city_or_locale_is_one_line_with_the_choices(
    args: list[str], fragments: list[str], isolated_env: Path
) -> None:
    for extra in ([], ["--preview", "--generator-version", "2"]):
        result = azt3knet("populate", "--count", "5", "--seed", "1", *args, *extra)
        assert result.returncode == 2, result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:"), lines
        assert all(fragment in lines[0] for fragment in fragments), lines[0]
    assert azt3knet("populations", "list", "--json").stdout == ""  # nothing registered


def test_describe_prints_the_table_and_writes_the_png(isolated_env: Path, tmp_path: Path) -> None:
    assert azt3knet("populate", "--count", "2000", "--seed", "d", "--country", "BR", "--quiet").returncode == 0
    table = azt3knet("populations", "describe", "seed-d")
    assert table.returncode == 0, table.stderr
    assert "generator v2" in table.stdout and "age total-variation distance" in table.stdout
    assert "| São Paulo | America/Sao_Paulo |" in table.stdout
    assert "100.00% from the agent's own name" in table.stdout and "bio language: pt" in table.stdout
    png = tmp_path / "report.png"
    figures = json.loads(azt3knet("populations", "describe", "seed-d", "--json", "--png", str(png)).stdout)
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert figures["generator_version"] == 2 and figures["transliteration_coverage"] == 1.0
    assert figures["age_tv_distance"] < 0.05 and figures["places_spearman_top50"] > 0.5
    assert figures["addresses_unique"] is True and figures["bio_language_fallback"] is False
    shown = json.loads(azt3knet("populations", "show", "seed-d", "--json", "--assets").stdout)
    metadata = shown["assets"]["agent_profiles"]["metadata"]
    assert Path(metadata["report_png"]).read_bytes().startswith(b"\x89PNG")
    assert metadata["report_summary"]["generator_version"] == 2


def test_describe_says_when_bios_fall_back_to_english(isolated_env: Path) -> None:
    assert azt3knet("populate", "--count", "50", "--seed", "s", "--country", "SE", "--quiet").returncode == 0
    figures = json.loads(azt3knet("populations", "describe", "seed-s", "--json").stdout)
    assert figures["bio_language"] == "en" and figures["bio_language_fallback"] is True


def test_preview_shows_what_registering_would_produce(isolated_env: Path) -> None:
    """Without a version a preview is the latest generator, as a new registration; version 1 on request."""
    args = ("populate", "--preview", "--count", "3", "--seed", "1", "--country", "ES", "--format", "jsonl")
    latest = azt3knet(*args)
    assert latest.returncode == 0
    rows = [json.loads(line) for line in latest.stdout.splitlines()]
    expected = generate_population(PopulationSpec(count=3, seed=1, country="ES", generator_version=2)).records()
    assert rows == expected and all(row["bio"].endswith("(persona sintética)") for row in rows)
    v1 = azt3knet(*args, "--generator-version", "1")
    assert v1.returncode == 0
    assert [json.loads(line) for line in v1.stdout.splitlines()] == generate_population(
        PopulationSpec(count=3, seed=1, country="ES")
    ).records()
