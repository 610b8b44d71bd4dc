"""Determinism across processes: different PYTHONHASHSEED, same bytes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

SCRIPT = (
    "from azt3knet_pipeline.domain.models import PopulationSpec;"
    "from azt3knet_pipeline.domain.generation import generate_population;"
    "s = PopulationSpec(count=3000, seed='det-check', country='FR', interests=['jazz','tea','film','chess']);"
    "print(generate_population(s).content_hash)"
)


def _run(args: list[str], hashseed: str) -> bytes:
    env = {**os.environ, "PYTHONHASHSEED": hashseed}
    return subprocess.run(args, env=env, check=True, capture_output=True, timeout=120).stdout


def test_content_hash_identical_across_processes_with_different_hash_seeds() -> None:
    outputs = {_run([sys.executable, "-c", SCRIPT], seed) for seed in ("0", "1", "12345")}
    assert len(outputs) == 1
    assert len(outputs.pop().strip()) == 64


def test_cli_preview_json_prints_identical_bytes_every_run(isolated_env) -> None:
    args = [
        sys.executable,
        "-m",
        "azt3knet_pipeline.cli.app",
        "populate",
        "--preview",
        "--count",
        "5",
        "--seed",
        "42",
        "--country",
        "ES",
        "--format",
        "json",
    ]
    first, second = _run(args, "1"), _run(args, "999")
    assert first == second
    assert hashlib.sha256(first).hexdigest() == hashlib.sha256(second).hexdigest()
    assert first.count(b'"synthetic": true') == 5
    # --preview writes nothing anywhere: no store, no Dagster instance directory.
    assert not isolated_env.exists()
