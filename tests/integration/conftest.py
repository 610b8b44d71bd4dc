"""Integration fixtures: the Mailcow and deSEC stand-ins on loopback, with the pipeline pointed at them.

`sandbox` starts both stand-ins (default configuration) for one test and sets MAILCOW_*, DESEC_* and
MAIL_HOSTNAME so that in-process runs (settings re-read) and subprocesses (inherit os.environ) use them.
`sandbox_factory(**start_sandbox_kwargs)` does the same with a custom configuration (faults, latency, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

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
