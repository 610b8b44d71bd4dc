"""`generate_field`: one persona field from the configured backend, through the (model, prompt, seed) cache.

Determinism (DESIGN.md): every field is requested with a fixed seed and temperature 0, and the answer is
cached under `cache_key(model, prompt, seed)`. A second `generate_field` with the same inputs returns the first
answer without asking the backend again. Deterministic backends (offline) skip the cache: caching them would fill
the store with one row per agent for nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from azt3knet_pipeline.llm.cache import FieldCache, cache_key
from azt3knet_pipeline.llm.offline import OfflineBackend
from azt3knet_pipeline.llm.ollama import OllamaBackend
from azt3knet_pipeline.llm.prompt import build_prompt, check_seed
from azt3knet_pipeline.settings import Settings


@runtime_checkable
class Backend(Protocol):
    """A text generator. `model` is part of the cache key, so it must name what produced the text."""

    name: str
    model: str

    def generate(self, prompt: str, seed: int) -> str: ...


def backend_from_settings(settings: Settings) -> Backend:
    """The configured backend: `offline` (default) or `ollama` at OLLAMA_BASE_URL with OLLAMA_MODEL."""
    if settings.llm_backend == "offline":
        return OfflineBackend()
    if settings.llm_backend == "ollama":
        return OllamaBackend(settings.ollama_base_url, settings.ollama_model, settings.ollama_timeout)
    raise ValueError(
        f"unknown LLM backend {settings.llm_backend!r}; AZT3KNET_LLM_BACKEND must be 'offline' or 'ollama'"
    )


def generate_field(
    field: str,
    context: Mapping[str, Any],
    seed: int,
    *,
    backend: Backend,
    cache: FieldCache | None = None,
) -> str:
    """The value of `field` for a persona `context`, requested with `seed` at temperature 0.

    Non-deterministic backends are cached by `cache_key(model, prompt, seed)`: a hit returns the stored value
    without calling the backend; a miss stores the answer and returns whatever the cache then holds, so two
    racing writers both return the first writer's value. Without a `cache` nothing is stored and an Ollama
    re-run is only as repeatable as the model. Deterministic backends (offline) bypass the cache.
    `backend` comes from the caller (`backend_from_settings(settings)`), who also closes it.
    """
    prompt = build_prompt(field, context)
    seed = check_seed(seed)
    if getattr(backend, "deterministic", False) or cache is None:
        return backend.generate(prompt, seed)
    key = cache_key(backend.model, prompt, seed)
    cached = cache.get(key)
    if cached is not None:
        return cached
    value = backend.generate(prompt, seed)
    cache.put(key, backend.model, field, value)
    stored = cache.get(key)
    return value if stored is None else stored
