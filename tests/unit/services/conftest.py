"""Fixtures of the use-case unit tests: a real SQLite store in the test's folder and explicit settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from services_fakes import ZONE

from azt3knet_pipeline.settings import Settings
from azt3knet_pipeline.store.repository import Store


@pytest.fixture
def store(tmp_path: Path):
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    yield store
    store.dispose()


@pytest.fixture
def settings() -> Settings:
    return Settings(DESEC_DOMAIN=ZONE, MAIL_HOSTNAME=f"mail.{ZONE}")
