"""Commands pay only for what they use: `--help` and previews never import Dagster or the web stack.

Each check runs the real Typer app in a fresh interpreter (so nothing imported by pytest leaks in) and reports
which heavy packages ended up in `sys.modules`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("dagster", "dagster_webserver", "dagster_graphql", "fastapi", "uvicorn", "starlette", "sqlalchemy", "pandas")

SCRIPT = """
import contextlib, io, json, sys
from azt3knet_pipeline.cli.main import app
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        app(sys.argv[1:], standalone_mode=False)
    except SystemExit:
        pass
heavy = {heavy!r}
print(json.dumps({{"loaded": sorted(m for m in heavy if m in sys.modules), "stdout": out.getvalue()}}))
"""


def _loaded(args: list[str], home: Path, modules: tuple[str, ...] = HEAVY) -> dict:
    env = {**os.environ, "AZT3KNET_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    script = SCRIPT.format(heavy=modules)
    done = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_help_imports_no_dagster_web_stack_or_pandas(tmp_path: Path) -> None:
    result = _loaded(["--help"], tmp_path / "home")
    assert result["loaded"] == []


def test_version_imports_no_dagster_web_stack_or_pandas(tmp_path: Path) -> None:
    result = _loaded(["--version"], tmp_path / "home")
    assert result["loaded"] == []
    assert result["stdout"].startswith("azt3knet ")


def test_preview_imports_no_dagster_web_stack_or_pandas(tmp_path: Path) -> None:
    result = _loaded(["populate", "--preview", "--count", "5", "--seed", "42", "--country", "ES"], tmp_path / "home")
    assert result["loaded"] == []
    assert "population seed-42 (synthetic)" in result["stdout"]
    result = _loaded(
        ["populate", "--preview", "--count", "5", "--seed", "42", "--country", "ES", "--format", "jsonl"],
        tmp_path / "home",
    )
    assert result["loaded"] == []
    assert [json.loads(line)["index"] for line in result["stdout"].splitlines()] == [0, 1, 2, 3, 4]
    assert not (tmp_path / "home").exists()


def test_jsonl_preview_imports_neither_rich_nor_click(tmp_path: Path) -> None:
    """Rich only for what prints through it (tables, messages): a JSONL preview writes bytes itself."""
    args = ["populate", "--preview", "--count", "2", "--seed", "1", "--country", "ES", "--format", "jsonl"]
    result = _loaded(args, tmp_path / "home", modules=("rich", "click"))
    assert result["loaded"] == []
    assert len(result["stdout"].splitlines()) == 2


def test_populations_list_imports_no_dagster(tmp_path: Path) -> None:
    result = _loaded(["populations", "list", "--json"], tmp_path / "home")
    assert "dagster" not in result["loaded"]
    assert "fastapi" not in result["loaded"]


def test_plan_of_an_unknown_key_imports_no_dagster(tmp_path: Path) -> None:
    result = _loaded(["plan", "no-such-population"], tmp_path / "home")
    assert "dagster" not in result["loaded"]
    assert "fastapi" not in result["loaded"]


def test_populations_show_of_an_unknown_key_imports_no_dagster(tmp_path: Path) -> None:
    result = _loaded(["populations", "show", "no-such-population"], tmp_path / "home")
    assert "dagster" not in result["loaded"]
    assert "fastapi" not in result["loaded"]


def test_list_plan_and_show_of_a_registered_population_import_no_dagster(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "AZT3KNET_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    populate = [sys.executable, "-m", "azt3knet_pipeline.cli.app", "populate", "-n", "2", "--seed", "3", "--country"]
    done = subprocess.run([*populate, "ES", "--quiet"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    listed = _loaded(["populations", "list", "--json"], home)
    assert [json.loads(line)["key"] for line in listed["stdout"].splitlines()] == ["seed-3"]
    assert "dagster" not in listed["loaded"] and "fastapi" not in listed["loaded"]
    planned = _loaded(["plan", "seed-3"], home)  # reads Mailcow (not configured here), never Dagster
    assert "dagster" not in planned["loaded"] and "fastapi" not in planned["loaded"]
    shown = _loaded(["populations", "show", "seed-3", "--json"], home)  # the store answers
    assert "dagster" not in shown["loaded"] and "fastapi" not in shown["loaded"]
    info = json.loads(shown["stdout"])
    assert (info["key"], info["spec"]["count"], info["mailboxes"], info["credentials"]) == ("seed-3", 2, {}, 0)
    assert "assets" not in info
    human = _loaded(["populations", "show", "seed-3"], home)
    assert "dagster" not in human["loaded"] and "population seed-3: " in human["stdout"]
    with_assets = _loaded(["populations", "show", "seed-3", "--json", "--assets"], home)  # asked for: Dagster
    assert "dagster" in with_assets["loaded"]
    assert list(json.loads(with_assets["stdout"])["assets"]) == ["agent_profiles", "population_spec"]


def test_preview_into_a_pipe_closed_early_stops_quietly(tmp_path: Path) -> None:
    env = {**os.environ, "AZT3KNET_HOME": str(tmp_path / "home")}
    args = ["populate", "--preview", "--count", "50000", "--seed", "1", "--country", "ES", "--format", "jsonl"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "azt3knet_pipeline.cli.app", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # like `| head -1`
    stderr = proc.stderr.read()
    assert proc.wait(timeout=120) == 1
    assert json.loads(first)["index"] == 0
    assert b"Traceback" not in stderr and b"BrokenPipe" not in stderr
