"""Optional LLM enrichment of generated profiles (the `bio` field) through `generate_field`.

With the default offline backend the generated bios already are the offline backend's output, so nothing is
called. With Ollama every bio goes through the (model, prompt, seed) cache in the store: a re-run is identical
even though the model is not.
"""

from __future__ import annotations

import pandas as pd

from azt3knet_pipeline.domain.generation import NAMESPACE, derive_seed
from azt3knet_pipeline.llm.cache import FieldCache, StoreFieldCache
from azt3knet_pipeline.llm.generate import Backend, backend_from_settings, generate_field
from azt3knet_pipeline.settings import Settings
from azt3knet_pipeline.store.repository import Store

ENRICHED_FIELDS = ("bio",)


def enrich_profiles(frame: pd.DataFrame, store: Store, settings: Settings) -> tuple[pd.DataFrame, list[str]]:
    """Return (frame, fields enriched). Offline backend: the frame unchanged and no fields.

    `settings` choose the backend (the asset passes its SettingsResource's)."""
    if settings.llm_backend == "offline" or frame.empty:
        return frame, []
    backend = backend_from_settings(settings)
    try:
        bios = llm_bios(frame, backend, StoreFieldCache(store))
    finally:
        close = getattr(backend, "close", None)
        if close is not None:
            close()
    enriched = frame.copy()
    enriched["bio"] = bios
    return enriched, list(ENRICHED_FIELDS)


def llm_bios(frame: pd.DataFrame, backend: Backend, cache: FieldCache) -> list[str]:
    """One `generate_field("bio", ...)` per agent, seeded from (population key, index)."""
    bios = []
    for row in frame.itertuples(index=False):
        context = {
            "given_name": row.given_name,
            "age": int(row.age),
            "city": row.city,
            "interests": list(row.interests),
            "tone": row.tone,
            "country": row.country,
        }
        seed = derive_seed(str(row.population_key), NAMESPACE, int(row.index), "llm:bio") % (2**31)
        bios.append(generate_field("bio", context, seed, backend=backend, cache=cache))
    return bios
