"""LLM enrichment of a generated frame: offline changes nothing; a model's bios are seeded per agent and cached."""

from __future__ import annotations

from pathlib import Path

from azt3knet_pipeline.domain.generation import generate_population
from azt3knet_pipeline.domain.models import PopulationSpec
from azt3knet_pipeline.llm import MemoryFieldCache
from azt3knet_pipeline.llm.enrich import enrich_profiles, llm_bios
from azt3knet_pipeline.settings import Settings
from azt3knet_pipeline.store.repository import Store

SPEC = PopulationSpec(count=4, seed=7, country="ES")


class CountingBackend:
    """A non-deterministic backend: every call answers differently, like a real model might."""

    name = "counting"
    model = "counting-1"

    def __init__(self) -> None:
        self.seeds: list[int] = []

    def generate(self, prompt: str, seed: int) -> str:
        self.seeds.append(seed)
        return f"answer #{len(self.seeds)}"


def test_offline_backend_leaves_the_frame_unchanged(tmp_path: Path) -> None:
    frame = generate_population(SPEC, "enrich-1").frame
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    enriched, fields = enrich_profiles(frame, store, Settings(AZT3KNET_LLM_BACKEND="offline"))
    assert enriched is frame and fields == []


def test_model_bios_are_seeded_per_agent_and_cached() -> None:
    frame = generate_population(SPEC, "enrich-1").frame
    backend, cache = CountingBackend(), MemoryFieldCache()
    first = llm_bios(frame, backend, cache)
    assert first == ["answer #1", "answer #2", "answer #3", "answer #4"]
    assert len(set(backend.seeds)) == 4  # one seed per (population key, index)
    assert llm_bios(frame, backend, cache) == first  # the cache answers: the model is not asked again
    assert len(backend.seeds) == 4 and len(cache) == 4
    other_key = generate_population(SPEC, "enrich-2").frame
    llm_bios(other_key, backend, cache)
    assert set(backend.seeds[4:]).isdisjoint(backend.seeds[:4])  # another population, other seeds
