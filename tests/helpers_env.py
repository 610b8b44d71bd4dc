"""The environment of one test (or of a fixture that tests share): its own home, Dagster instance directory and
Fernet key, and none of the machine's settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

_ENV_PREFIXES = (
    "AZT3KNET_",
    "MAILCOW_",
    "DESEC_",
    "DYNDNS_",
    "OLLAMA_",
    "DAGSTER_HOME",
    "SECRET_KEY_FOR_KV_ENC",
    "MAIL_",
)


def reset_caches() -> None:
    """Forget the settings and the store that were read from the environment before."""
    from azt3knet_pipeline.defs import resources
    from azt3knet_pipeline.settings import get_settings

    get_settings.cache_clear()
    resources._open_store.cache_clear()


def isolate_environment(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Point AZT3KNET_HOME and DAGSTER_HOME under `home` with a fresh Fernet key; drop every other setting."""
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZT3KNET_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    monkeypatch.setenv("SECRET_KEY_FOR_KV_ENC", Fernet.generate_key().decode())
    reset_caches()
