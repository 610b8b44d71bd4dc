"""Unit tests of the LLM adapter: offline determinism, prompt and cache-key stability, caching rules."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from azt3knet_pipeline.domain.text import offline_bio
from azt3knet_pipeline.errors import ApiError
from azt3knet_pipeline.llm import (
    OFFLINE_MODEL,
    Backend,
    FieldCache,
    LLMError,
    LLMResponseError,
    LLMUnavailable,
    MemoryFieldCache,
    OfflineBackend,
    OllamaBackend,
    backend_from_settings,
    build_prompt,
    cache_key,
    generate_field,
)
from azt3knet_pipeline.settings import Settings, get_settings

REPO_ROOT = Path(__file__).resolve().parents[3]
CONTEXT = {
    "given_name": "Ana",
    "age": 31,
    "city": "Lyon",
    "interests": ["board-games", "jazz", "open-source"],
    "tone": "witty",
    "country": "FR",
}
FIELDS = ("bio", "tone", "posting_cadence", "headline", "motto", "favourite_food")


class CountingBackend:
    """A non-deterministic backend: every call answers differently, like a real model might."""

    name = "counting"
    model = "counting-1"

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def generate(self, prompt: str, seed: int) -> str:
        self.calls.append((prompt, seed))
        return f"answer #{len(self.calls)}"


@pytest.fixture
def clean_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in ("AZT3KNET_LLM_BACKEND", "LLM_BACKEND", "OLLAMA_BASE_URL", "OLLAMA_MODEL", "OLLAMA_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


# -- errors ---------------------------------------------------------------------------------------------


def test_error_hierarchy() -> None:
    assert issubclass(LLMError, ApiError)
    assert issubclass(LLMUnavailable, LLMError)
    assert issubclass(LLMResponseError, LLMError)


# -- offline backend ------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", FIELDS)
def test_offline_same_arguments_same_text(field: str) -> None:
    first = generate_field(field, CONTEXT, 7, backend=OfflineBackend())
    again = generate_field(field, dict(reversed(CONTEXT.items())), 7, backend=OfflineBackend())
    assert first == again
    assert first.strip() == first and first and "\n" not in first and len(first) <= 200


def test_offline_varies_with_seed() -> None:
    backend = OfflineBackend()
    for field in ("bio", "headline", "motto", "favourite_food"):
        outputs = {generate_field(field, CONTEXT, seed, backend=backend) for seed in range(40)}
        assert len(outputs) > 3, field


def test_offline_backend_shape() -> None:
    backend = OfflineBackend()
    assert isinstance(backend, Backend)
    assert backend.name == "offline" and backend.model == OFFLINE_MODEL == "offline-v1"


def test_offline_uses_persona_for_tone_and_cadence() -> None:
    backend = OfflineBackend()
    for seed in range(10):
        assert "sarcastic" in backend.render("tone", {"tone": "sarcastic"}, seed)
    assert backend.render("posting_cadence", {"posting_cadence": "weekly"}, 3) == "Weekly roundups, rarely more."
    assert backend.render("tone", {}, 1)  # no persona tone: still a seeded value


def test_offline_bio_requires_core_keys() -> None:
    with pytest.raises(ValueError, match="given_name"):
        OfflineBackend().render("bio", {"age": 3, "city": "X"}, 1)


_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=20)


@settings(max_examples=150, deadline=None)
@given(
    given_name=_names,
    age=st.integers(13, 90),
    city=_names,
    interests=st.lists(st.from_regex(r"[a-z][a-z-]{0,15}", fullmatch=True), max_size=4, unique=True),
    tone=st.sampled_from(["casual", "formal", "enthusiastic", "sarcastic", "thoughtful", "witty", "unknown"]),
    seed=st.integers(0, 2**62),
)
def test_offline_bio_is_exactly_offline_bio(
    given_name: str, age: int, city: str, interests: list[str], tone: str, seed: int
) -> None:
    context = {"given_name": given_name, "age": age, "city": city, "interests": interests, "tone": tone}
    expected = offline_bio(given_name, age, city, interests, tone, seed)
    assert generate_field("bio", context, seed, backend=OfflineBackend()) == expected
    assert OfflineBackend().generate(build_prompt("bio", context), seed) == expected


def test_offline_bio_accepts_numpy_and_tuple_context() -> None:
    seed = 123456789
    context = {
        "given_name": np.str_("Ana"),
        "age": np.int64(31),
        "city": "Lyon",
        "interests": ("jazz", "board-games"),
        "tone": "formal",
    }
    expected = offline_bio("Ana", 31, "Lyon", ["jazz", "board-games"], "formal", seed)
    assert generate_field("bio", context, np.int64(seed), backend=OfflineBackend()) == expected


def test_offline_generate_on_a_foreign_prompt_is_still_deterministic() -> None:
    backend = OfflineBackend()
    assert backend.generate("just some text", 5) == backend.generate("just some text", 5)
    assert backend.generate("just some text", 5)


_CHILD = """
import json, sys
from azt3knet_pipeline.llm import OfflineBackend, build_prompt, cache_key, generate_field
context = json.loads(sys.argv[1])
out = {f: generate_field(f, context, 987654321, backend=OfflineBackend()) for f in json.loads(sys.argv[2])}
out["_key"] = cache_key("llama3.2", build_prompt("bio", context), 42)
print(json.dumps(out, sort_keys=True))
"""


def test_offline_identical_across_processes_and_hash_seeds() -> None:
    outputs = []
    for hash_seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run(
            [sys.executable, "-c", _CHILD, json.dumps(CONTEXT), json.dumps(FIELDS)],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO_ROOT,
            timeout=60,
            check=True,
        )
        outputs.append(json.loads(result.stdout))
    here = {f: generate_field(f, CONTEXT, 987654321, backend=OfflineBackend()) for f in FIELDS}
    here["_key"] = cache_key("llama3.2", build_prompt("bio", CONTEXT), 42)
    assert outputs[0] == outputs[1] == here


# -- prompt -----------------------------------------------------------------------------------------------


def test_prompt_ignores_insertion_order() -> None:
    a = {"given_name": "Ana", "age": 31, "city": "Lyon", "extra": {"b": 1, "a": 2}}
    b = {"extra": {"a": 2, "b": 1}, "city": "Lyon", "age": 31, "given_name": "Ana"}
    assert build_prompt("bio", a) == build_prompt("bio", b)


def test_prompt_normalises_value_types() -> None:
    plain = {"age": 31, "interests": ["jazz", "tea"], "tags": ["a", "b"]}
    fancy = {"age": np.int64(31), "interests": ("jazz", "tea"), "tags": {"b", "a"}}
    assert build_prompt("bio", plain) == build_prompt("bio", fancy)


def test_prompt_content() -> None:
    prompt = build_prompt("headline", CONTEXT)
    assert "synthetic" in prompt and "not describe a real person" in prompt
    assert "single short line of plain text" in prompt
    assert "Field: headline" in prompt
    for value in ("Ana", "Lyon", "board-games", "witty", "31"):
        assert value in prompt
    assert build_prompt("motto", CONTEXT) != prompt
    assert build_prompt("headline", {**CONTEXT, "age": 32}) != prompt


def test_prompt_is_pinned() -> None:
    # The prompt is part of the cache key: changing its wording re-asks the model for every cached field.
    digest = hashlib.sha256(build_prompt("bio", CONTEXT).encode("utf-8")).hexdigest()
    assert digest == "a18c74114681cb81b725af64a2a5cc171002a53051a33899595e181cdba8310b"


@pytest.mark.parametrize("field", ["", "bad field", "x" * 65, "1abc", "bio\nField: motto"])
def test_prompt_rejects_bad_field_names(field: str) -> None:
    with pytest.raises(ValueError, match="field"):
        build_prompt(field, CONTEXT)


# -- cache key ----------------------------------------------------------------------------------------------


def test_cache_key_is_pinned() -> None:
    # A change here silently invalidates every cached LLM value: only ever change it on purpose.
    key = cache_key("llama3.2", "Write a motto.", 42)
    assert key == "a3e213c0adadff51853a662ec4a03818b04dde23d1e05ff9cd25f845f489003a"
    assert key == cache_key("llama3.2", "Write a motto.", np.int64(42))


def test_cache_key_separates_each_component() -> None:
    base = cache_key("m", "p", 1)
    assert len({base, cache_key("m2", "p", 1), cache_key("m", "p2", 1), cache_key("m", "p", 2)}) == 4
    assert cache_key("ab", "c", 1) != cache_key("a", "bc", 1)


@pytest.mark.parametrize("seed", [1.0, "1", True, None])
def test_seed_must_be_an_int(seed: object) -> None:
    with pytest.raises(TypeError, match="seed"):
        cache_key("m", "p", seed)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="seed"):
        generate_field("bio", CONTEXT, seed, backend=OfflineBackend())  # type: ignore[arg-type]


# -- generate_field caching ---------------------------------------------------------------------------------


def test_cache_makes_a_nondeterministic_backend_repeatable() -> None:
    backend, cache = CountingBackend(), MemoryFieldCache()
    assert isinstance(cache, FieldCache)
    first = generate_field("motto", CONTEXT, 5, backend=backend, cache=cache)
    again = generate_field("motto", dict(reversed(CONTEXT.items())), 5, backend=backend, cache=cache)
    assert first == again == "answer #1"
    assert backend.calls == [(build_prompt("motto", CONTEXT), 5)]
    assert cache.get(cache_key(backend.model, build_prompt("motto", CONTEXT), 5)) == first
    assert generate_field("motto", CONTEXT, 6, backend=backend, cache=cache) == "answer #2"
    assert generate_field("headline", CONTEXT, 5, backend=backend, cache=cache) == "answer #3"


def test_without_a_cache_every_call_reaches_the_backend() -> None:
    backend = CountingBackend()
    assert generate_field("motto", CONTEXT, 5, backend=backend) == "answer #1"
    assert generate_field("motto", CONTEXT, 5, backend=backend) == "answer #2"


def test_first_writer_wins_when_racing() -> None:
    cache = MemoryFieldCache()
    backend = CountingBackend()
    key = cache_key(backend.model, build_prompt("motto", CONTEXT), 5)

    class RacingCache(MemoryFieldCache):
        def get(self, key: str) -> str | None:
            return cache.get(key)

        def put(self, key: str, model: str, field: str, value: str) -> None:
            cache.put(key, model, field, "other process won")  # someone else's write landed first
            cache.put(key, model, field, value)

    assert generate_field("motto", CONTEXT, 5, backend=backend, cache=RacingCache()) == "other process won"
    assert cache.get(key) == "other process won"


def test_offline_results_bypass_the_cache() -> None:
    cache = MemoryFieldCache()
    value = generate_field("bio", CONTEXT, 9, backend=OfflineBackend(), cache=cache)
    assert value == offline_bio("Ana", 31, "Lyon", CONTEXT["interests"], "witty", 9)
    assert len(cache) == 0


# -- settings ------------------------------------------------------------------------------------------


def test_the_backend_comes_from_settings(clean_settings: pytest.MonkeyPatch) -> None:
    clean_settings.setenv("AZT3KNET_LLM_BACKEND", "offline")
    backend = backend_from_settings(get_settings())
    assert isinstance(backend, OfflineBackend)
    expected = offline_bio("Ana", 31, "Lyon", CONTEXT["interests"], "witty", 3)
    assert generate_field("bio", CONTEXT, 3, backend=backend) == expected


def test_backend_from_settings(clean_settings: pytest.MonkeyPatch) -> None:
    assert isinstance(backend_from_settings(Settings()), OfflineBackend)
    settings_ = Settings(
        AZT3KNET_LLM_BACKEND="ollama",
        OLLAMA_BASE_URL="http://127.0.0.1:9/",
        OLLAMA_MODEL="qwen2.5:0.5b",
        OLLAMA_TIMEOUT=5,
    )
    backend = backend_from_settings(settings_)
    try:
        assert isinstance(backend, OllamaBackend) and isinstance(backend, Backend)
        assert backend.name == "ollama" and backend.model == "qwen2.5:0.5b"
        assert backend.url == "http://127.0.0.1:9/api/generate" and backend.timeout == 5.0
    finally:
        backend.close()


@pytest.mark.parametrize("url", ["127.0.0.1:11434", "ftp://x", ""])
def test_ollama_rejects_non_http_base_url(url: str) -> None:
    with pytest.raises(ValueError, match="OLLAMA_BASE_URL"):
        OllamaBackend(url, "llama3.2")
