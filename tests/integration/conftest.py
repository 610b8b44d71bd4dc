"""Integration fixtures: the Mailcow and deSEC stand-ins on loopback, with the pipeline pointed at them.

`sandbox` starts both stand-ins (default configuration) for one test and sets MAILCOW_*, DESEC_* and
MAIL_HOSTNAME so that in-process runs (settings re-read) and subprocesses (inherit os.environ) use them.
`sandbox_factory(**start_sandbox_kwargs)` does the same with a custom configuration (faults, latency, ...).
`mail_sandbox` adds a real Dovecot whose users follow the Mailcow stand-in (IMAPS, submission); where Dovecot is
not installed it skips with the reason, except in CI (CI=true), where it fails.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from azt3knet_pipeline.sandbox.dovecot import dovecot_missing
from azt3knet_pipeline.sandbox.run import Sandbox, start_sandbox
from azt3knet_pipeline.settings import get_settings


@pytest.fixture
def sandbox_factory(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Sandbox]]:
    started: list[Sandbox] = []

    def start(**kwargs: object) -> Sandbox:
        running = start_sandbox(**kwargs)  # type: ignore[arg-type]
        started.append(running)
        for name, value in running.env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        return running

    yield start
    for running in started:
        running.stop()
    get_settings.cache_clear()


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., Sandbox]) -> Iterator[Sandbox]:
    """Both stand-ins running (in-memory state), the environment pointing at them."""
    yield sandbox_factory()


@pytest.fixture
def dovecot_required() -> None:
    """Skip (with the reason) where Dovecot is not installed; in CI (CI=true) fail instead."""
    missing = dovecot_missing()
    if missing:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"Dovecot is required in CI: {missing}")
        pytest.skip(f"Dovecot is not installed: {missing}")


@pytest.fixture
def mail_sandbox(dovecot_required: None, sandbox_factory: Callable[..., Sandbox]) -> Iterator[Sandbox]:
    """Both stand-ins plus a real Dovecot (users: the stand-in's mailboxes); the environment points at all three."""
    yield sandbox_factory(mail_server=True)
