"""The LLM adapter: `generate_field` over an offline (default) or Ollama backend, cached by model/prompt/seed.

Modules: `prompt` (the deterministic prompt), `cache` (cache key and field caches), `offline` and `ollama` (the
backends), `generate` (`generate_field`, the configured backend) and `enrich` (LLM bios of a generated frame;
imported on its own, it needs pandas). The LLM errors live in `azt3knet_pipeline.errors` (re-exported here).
"""

from azt3knet_pipeline.errors import LLMError, LLMResponseError, LLMUnavailable
from azt3knet_pipeline.llm.cache import FieldCache, MemoryFieldCache, StoreFieldCache, cache_key
from azt3knet_pipeline.llm.generate import Backend, backend_from_settings, generate_field
from azt3knet_pipeline.llm.offline import OFFLINE_MODEL, OfflineBackend
from azt3knet_pipeline.llm.ollama import DEFAULT_OLLAMA_POLICY, OllamaBackend
from azt3knet_pipeline.llm.prompt import build_prompt

__all__ = [
    "DEFAULT_OLLAMA_POLICY",
    "OFFLINE_MODEL",
    "Backend",
    "FieldCache",
    "LLMError",
    "LLMResponseError",
    "LLMUnavailable",
    "MemoryFieldCache",
    "OfflineBackend",
    "OllamaBackend",
    "StoreFieldCache",
    "backend_from_settings",
    "build_prompt",
    "cache_key",
    "generate_field",
]
