"""Settings isolation (issue 9.7) and private files (issue 15.7): only the variables `.env.example` documents
are read (never HOME, DATABASE_URL, ADMIN_TOKEN or a field's bare name), and everything a run creates under
AZT3KNET_HOME / DAGSTER_HOME is private (files 0600, folders 0700)."""

from __future__ import annotations

import os
import pwd
import re
import stat
from pathlib import Path

import pytest
from helpers_populations import open_store
from helpers_sandbox import azt3knet, domain_mailboxes, mail_domain

from azt3knet_pipeline.sandbox.run import Sandbox
from azt3knet_pipeline.settings import Settings, get_settings

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
REAL_HOME = Path(pwd.getpwuid(os.getuid()).pw_dir)


def documented_names() -> set[str]:
    """Every NAME in `.env.example`, set or commented out (`# NAME=example`)."""
    pattern = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=")
    return {m.group(1) for line in ENV_EXAMPLE.read_text().splitlines() if (m := pattern.match(line))}


def read_names() -> set[str]:
    return {str(field.validation_alias) for field in Settings.model_fields.values()}


def test_env_example_documents_exactly_the_variables_settings_read() -> None:
    assert all(isinstance(field.validation_alias, str) for field in Settings.model_fields.values())
    assert read_names() == documented_names()


def hostile_environment(root: Path) -> dict[str, str]:
    """Generic names other programs use, and every field's bare name, set to values that would show if read."""
    env = {
        "HOME": str(root / "hostile-home"),
        "DATABASE_URL": f"sqlite:///{root / 'hostile' / 'evil.db'}",
        "ADMIN_TOKEN": "hostile-admin-token-0123456789",
        "SECRET_KEY": "hostile",
        "LLM_BACKEND": "ollama",
    }
    for name, field in Settings.model_fields.items():
        if name.upper() != field.validation_alias and name.upper() not in env:
            env[name.upper()] = "1" if name != "dkim_selector" else "hostile"  # "1": valid for most types
    return env


def test_undocumented_names_never_change_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    baseline = Settings().model_dump()
    hostile = hostile_environment(tmp_path)
    assert {"HOME", "DATABASE_URL", "ADMIN_TOKEN", "DAGSTER_POSTGRES_URL", "MAX_POPULATION"} <= set(hostile)
    for name, value in hostile.items():
        monkeypatch.setenv(name, value)
        monkeypatch.setenv(name.lower(), value)
    for name in read_names() - {"AZT3KNET_HOME", "DAGSTER_HOME", "SECRET_KEY_FOR_KV_ENC"}:
        monkeypatch.setenv(name.lower(), "1")  # another spelling is another variable
    assert Settings().model_dump() == baseline


def test_home_defaults_and_tilde_come_from_the_password_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "not-the-home"))
    monkeypatch.delenv("AZT3KNET_HOME")
    monkeypatch.delenv("DAGSTER_HOME")
    settings = Settings()
    assert settings.home == REAL_HOME / ".azt3knet"
    assert settings.resolved_dagster_home == REAL_HOME / ".azt3knet" / "dagster"
    monkeypatch.setenv("AZT3KNET_HOME", "~/azt3knet-data")
    monkeypatch.setenv("DAGSTER_HOME", "~/azt3knet-data/dagster")
    settings = Settings()
    assert settings.home == REAL_HOME / "azt3knet-data"
    assert settings.resolved_dagster_home == REAL_HOME / "azt3knet-data" / "dagster"
    assert not (tmp_path / "not-the-home").exists()  # resolving settings touches no disk


def assert_private_tree(root: Path) -> list[Path]:
    """Every folder under (and including) root is 0700, every file 0600; returns the files."""
    files = []
    assert stat.S_IMODE(root.stat().st_mode) == 0o700, root
    for folder, dirnames, filenames in os.walk(root):
        for name in dirnames:
            path = Path(folder) / name
            assert stat.S_IMODE(path.lstat().st_mode) == 0o700, path
        for name in filenames:
            path = Path(folder) / name
            info = path.lstat()
            assert stat.S_ISREG(info.st_mode), path
            assert stat.S_IMODE(info.st_mode) == 0o600, (path, oct(info.st_mode))
            files.append(path)
    return files


def test_populate_with_hostile_environment_uses_only_documented_settings_and_creates_private_files(
    sandbox: Sandbox, isolated_env: Path, tmp_path: Path
) -> None:
    hostile = hostile_environment(tmp_path)
    hostile_home = Path(hostile["HOME"])
    assert hostile_home.is_absolute() and hostile_home.parent == tmp_path
    hostile_home.mkdir()
    (tmp_path / "hostile").mkdir()
    key = "iso-7"

    result = azt3knet(
        "populate", "--count", "3", "--seed", "7", "--country", "ES", "--key", key, "--create-mailboxes", "--json",
        env=hostile,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr

    # Nothing landed in $HOME or at the generic DATABASE_URL; the run used AZT3KNET_HOME and the stand-ins.
    assert list(hostile_home.iterdir()) == []
    assert list((tmp_path / "hostile").iterdir()) == []
    assert open_store().require_population(key).spec.count == 3  # MAX_POPULATION=1 was not read either
    assert len(domain_mailboxes(sandbox, mail_domain(key))) == 3

    # Everything the run created is private: the store (and its WAL files), the Dagster instance, the exports.
    files = assert_private_tree(isolated_env)
    names = {path.relative_to(isolated_env).as_posix() for path in files}
    assert "azt3knet.db" in names
    assert f"exports/{key}.bundle.fernet" in names
    assert "dagster/dagster.yaml" in names
    assert any(name.startswith("dagster/history/") and name.endswith(".db") for name in names), names
    assert get_settings().resolved_dagster_home == isolated_env / "dagster"
