"""The console-script entry's process settings: defaults only where the user set nothing."""

from __future__ import annotations

import gc
import os

import pytest

from azt3knet_pipeline.cli import main, preview


def test_tune_process_sets_defaults_and_keeps_the_users_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "environ", {"OPENBLAS_NUM_THREADS": "4"})
    threshold = gc.get_threshold()
    try:
        main._tune_process()
        assert gc.get_threshold() == (50_000, 20, 100)
    finally:
        gc.set_threshold(*threshold)
    assert os.environ == {"OPENBLAS_NUM_THREADS": "4", "OMP_NUM_THREADS": "1"}


class _Libc:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def mallopt(self, option: int, value: int) -> int:
        self.calls.append((option, value))
        return 1


@pytest.mark.parametrize("users_own", [None, "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_"])
def test_prepare_to_stream_keeps_freed_memory_unless_the_user_tuned_malloc(
    monkeypatch: pytest.MonkeyPatch, users_own: str | None
) -> None:
    libc = _Libc()
    monkeypatch.setattr(preview.ctypes, "CDLL", lambda name: libc)
    monkeypatch.setattr(preview.sys, "platform", "linux")
    monkeypatch.setattr(os, "environ", {users_own: "1"} if users_own else {})
    try:
        preview.prepare_to_stream()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
    # M_MMAP_THRESHOLD (-3), M_TRIM_THRESHOLD (-1): a chunk's freed blocks stay for the next chunk.
    assert libc.calls == ([] if users_own else [(-3, 8 << 20), (-1, 16 << 20)])
