"""The CLI as a user runs it: a real subprocess, exit codes, one-line errors, nothing written on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def azt3knet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "azt3knet_pipeline.cli.app", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(os.environ),
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--count", "0", "--seed", "1", "--country", "ES"], "count"),
        (["--count", "100001", "--seed", "1", "--country", "ES"], "above the maximum"),
        (["--count", "5", "--seed", "1", "--country", "ES", "--age-range", "10-5"], "age_range"),
        (["--count", "5", "--seed", "1", "--country", "XX"], "country"),
        (["--count", "5", "--seed", "1", "--country", "ES", "--interests", ","], "interests"),
        (["--count", "5", "--seed", "1", "--country", "ES", "--key", "Not_A_Label"], "DNS label"),
        (["--count", "5", "--country", "ES"], "seed: required"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(args: list[str], fragment: str, isolated_env: Path) -> None:
    result = azt3knet("populate", *args)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and fragment in lines[0]
    assert not isolated_env.exists()


def test_populate_registers_materializes_and_lists(isolated_env: Path) -> None:
    result = azt3knet("populate", "--count", "12", "--seed", "5", "--country", "DE", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["key"] == "seed-5" and summary["success"] and summary["registered"]
    assert len(summary["content_hash"]) == 64
    listed = azt3knet("populations", "list", "--json")
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [row["key"] for row in rows] == ["seed-5"]
    shown = json.loads(azt3knet("populations", "show", "seed-5", "--json", "--assets").stdout)
    assert shown["assets"]["agent_profiles"]["metadata"]["content_hash"] == summary["content_hash"]
    conflict = azt3knet("populate", "--count", "13", "--seed", "5", "--country", "DE")
    assert conflict.returncode == 2 and "different spec" in conflict.stderr
    missing = azt3knet("populations", "show", "nope")
    assert missing.returncode == 2 and "no population" in missing.stderr


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "table"])
def test_preview_formats(fmt: str) -> None:
    result = azt3knet("populate", "--preview", "--count", "4", "--seed", "3", "--country", "GB", "--format", fmt)
    assert result.returncode == 0, result.stderr
    if fmt == "jsonl":
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        assert [row["index"] for row in rows] == [0, 1, 2, 3] and all(row["synthetic"] for row in rows)
    elif fmt == "csv":
        lines = result.stdout.splitlines()
        assert lines[0].startswith("id,population_key,index") and len(lines) == 5
    else:
        assert "synthetic" in result.stdout and "content hash" in result.stderr
