"""Where generated field values live: the cache key and the `FieldCache` implementations (store, memory).

The cache, not the model, is what makes a re-run identical (DESIGN.md): an answer is stored under
`cache_key(model, prompt, seed)` and the first writer wins.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from azt3knet_pipeline.domain.models import canonical_json, sha256_hex
from azt3knet_pipeline.llm.prompt import check_seed

if TYPE_CHECKING:
    from azt3knet_pipeline.store.repository import Store

CACHE_KEY_VERSION = "azt3knet/llm-cache/v1"


def cache_key(model: str, prompt: str, seed: int) -> str:
    """sha256 hex of the canonical JSON [version, model, prompt, seed]: unambiguous, process-independent."""
    return sha256_hex(canonical_json([CACHE_KEY_VERSION, str(model), str(prompt), check_seed(seed)]))


@runtime_checkable
class FieldCache(Protocol):
    """Where generated values live, keyed by `cache_key(model, prompt, seed)`. First writer wins."""

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, model: str, field: str, value: str) -> None: ...


class StoreFieldCache:
    """`FieldCache` over the project store's `llm_cache` table (shared by CLI, API and Dagster runs)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, key: str) -> str | None:
        return self.store.llm_cache_get(key)

    def put(self, key: str, model: str, field: str, value: str) -> None:
        self.store.llm_cache_put(key, model, field, value)


class MemoryFieldCache:
    """An in-process `FieldCache` (tests, previews). Thread-safe; first writer wins like the store."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[str, str, str]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            entry = self._values.get(key)
        return entry[2] if entry else None

    def put(self, key: str, model: str, field: str, value: str) -> None:
        with self._lock:
            self._values.setdefault(key, (model, field, value))

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)
