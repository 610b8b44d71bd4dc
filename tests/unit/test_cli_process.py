"""The console-script entry's process settings: defaults only where the user set nothing."""

from __future__ import annotations

import gc
import os

import pytest

from azt3knet_pipeline.cli import main


def test_tune_process_sets_defaults_and_keeps_the_users_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "environ", {"OPENBLAS_NUM_THREADS": "4", "PYDANTIC_DISABLE_PLUGINS": "false"})
    threshold = gc.get_threshold()
    try:
        main._tune_process()
        assert gc.get_threshold() == (50_000, 20, 100)
    finally:
        gc.set_threshold(*threshold)
    assert os.environ == {"OPENBLAS_NUM_THREADS": "4", "PYDANTIC_DISABLE_PLUGINS": "false", "OMP_NUM_THREADS": "1"}
