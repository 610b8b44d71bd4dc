"""The Ollama backend over real HTTP on loopback, against a fake Ollama answering differently every call."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helpers_populations as populations
import pytest
from helpers_ports import free_port
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from azt3knet_pipeline.clients.http import RetryPolicy
from azt3knet_pipeline.domain.models import PopulationSpec
from azt3knet_pipeline.llm import (
    LLMResponseError,
    LLMUnavailable,
    OllamaBackend,
    StoreFieldCache,
    build_prompt,
    cache_key,
    generate_field,
)
from azt3knet_pipeline.serving import RunningServer, serve_in_thread
from azt3knet_pipeline.settings import get_settings
from azt3knet_pipeline.store.repository import Store

MODEL = "fake-llm:1b"
CONTEXT = {"given_name": "Ana", "age": 31, "city": "Lyon", "interests": ["jazz", "tea"], "tone": "witty"}
FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02, max_total=5.0, seed=0)


@dataclass
class FakeOllama:
    """Records every request; `script` lists what the next calls do ("ok", a status code, "sleep", ...).

    The server outlives a test (module scope), so `reset` also ends the sleeps of requests whose client gave up:
    such a request answers nothing a later test counts.
    """

    requests: list[dict[str, Any]] = field(default_factory=list)
    script: list[Any] = field(default_factory=list)
    answers: int = 0
    arrivals: int = 0  # requests that reached the app, counted before the body is read
    sleep_for: float = 1.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    generation: int = 0
    wake_sleepers: list[Callable[[], None]] = field(default_factory=list)

    def reset(self) -> None:
        with self.lock:
            self.generation += 1
            self.requests.clear()
            self.script.clear()
            self.answers = 0
            self.arrivals = 0
            self.sleep_for = 1.0
            wake, self.wake_sleepers = self.wake_sleepers, []
        for wake_one in wake:
            wake_one()

    async def generate(self, request: Request) -> Response:
        with self.lock:
            self.arrivals += 1
        body = await request.json()  # a client that already gave up makes this a ClientDisconnect
        woken = asyncio.Event()
        loop = asyncio.get_running_loop()
        with self.lock:
            generation = self.generation
            self.requests.append(body)
            action = self.script.pop(0) if self.script else "ok"
            if action == "sleep":
                self.wake_sleepers.append(lambda: loop.call_soon_threadsafe(woken.set))
        if action == "sleep":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), self.sleep_for)
            with self.lock:
                if generation != self.generation:
                    return JSONResponse({"error": "an answer for an earlier test's request"}, status_code=503)
            action = "ok"
        if isinstance(action, int):
            return JSONResponse({"error": f"fake status {action}"}, status_code=action)
        if action == "not-json":
            return PlainTextResponse("<html>oops</html>")
        if action == "empty":
            return JSONResponse({"model": body.get("model"), "response": "  \n ", "done": True})
        if action == "no-response":
            return JSONResponse({"model": body.get("model"), "done": True})
        if body.get("model") != MODEL:
            return JSONResponse(
                {"error": f"model '{body.get('model')}' not found, try pulling it first"}, status_code=404
            )
        with self.lock:
            self.answers += 1
            n = self.answers
        # Deliberately NOT deterministic in (prompt, seed): only the cache can make re-runs identical.
        return JSONResponse(
            {"model": MODEL, "response": f"  answer #{n} (seed {body['options']['seed']})\n", "done": True}
        )


@pytest.fixture(scope="module")
def fake_server() -> Iterator[tuple[FakeOllama, RunningServer]]:
    fake = FakeOllama()
    app = Starlette(routes=[Route("/api/generate", fake.generate, methods=["POST"])])
    with serve_in_thread(app) as server:
        yield fake, server
        fake.reset()  # no request left sleeping: the server stops at once


@pytest.fixture
def fake(fake_server: tuple[FakeOllama, RunningServer]) -> FakeOllama:
    fake_server[0].reset()
    return fake_server[0]


@pytest.fixture
def backend(fake_server: tuple[FakeOllama, RunningServer]) -> Iterator[OllamaBackend]:
    with OllamaBackend(fake_server[1].url + "/", MODEL, timeout=5.0, policy=FAST) as ollama:
        yield ollama


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path}/x.db")
    yield opened
    opened.dispose()


def test_request_carries_seed_temperature_zero_and_no_stream(fake: FakeOllama, backend: OllamaBackend) -> None:
    assert backend.generate("Write a motto.", 1234) == "answer #1 (seed 1234)"
    assert fake.requests == [
        {
            "model": MODEL,
            "prompt": "Write a motto.",
            "stream": False,
            "options": {"seed": 1234, "temperature": 0},
        }
    ]


def test_store_cache_makes_the_fake_model_repeatable(
    fake: FakeOllama, backend: OllamaBackend, store: Store, tmp_path: Path
) -> None:
    cache = StoreFieldCache(store)
    first = generate_field("bio", CONTEXT, 42, backend=backend, cache=cache)
    assert first == "answer #1 (seed 42)"
    assert fake.requests[0]["prompt"] == build_prompt("bio", CONTEXT)
    assert fake.requests[0]["options"] == {"seed": 42, "temperature": 0}

    again = generate_field("bio", dict(reversed(CONTEXT.items())), 42, backend=backend, cache=cache)
    assert again == first
    assert len(fake.requests) == 1  # served from the store, no second HTTP request
    assert store.llm_cache_get(cache_key(MODEL, build_prompt("bio", CONTEXT), 42)) == first

    # A new seed is a new request (and, this model being what it is, a new answer).
    other = generate_field("bio", CONTEXT, 43, backend=backend, cache=cache)
    assert other == "answer #2 (seed 43)"
    assert [r["options"]["seed"] for r in fake.requests] == [42, 43]

    # A later run: fresh store handle on the same file, fresh client. Still no request, same answer.
    reopened = Store.open(f"sqlite:///{tmp_path}/x.db")
    try:
        with OllamaBackend(backend.base_url, MODEL, timeout=5.0, policy=FAST) as rerun:
            assert generate_field("bio", CONTEXT, 42, backend=rerun, cache=StoreFieldCache(reopened)) == first
    finally:
        reopened.dispose()
    assert len(fake.requests) == 2


def test_without_cache_the_fake_model_is_not_repeatable(fake: FakeOllama, backend: OllamaBackend) -> None:
    a = generate_field("motto", CONTEXT, 7, backend=backend)
    b = generate_field("motto", CONTEXT, 7, backend=backend)
    assert a != b and len(fake.requests) == 2


def test_unreachable_server_is_unavailable_quickly() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with (
        OllamaBackend(url, MODEL, timeout=2.0, policy=FAST) as ollama,
        pytest.raises(LLMUnavailable) as info,
    ):
        ollama.generate("hello", 1)
    message = str(info.value)
    # Quickly = refused at connect on every attempt, never left to run into the 2 s timeout.
    assert "(ConnectError after 3 attempts)" in message
    assert f"{url}/api/generate" in message
    assert "ollama serve" in message and "AZT3KNET_LLM_BACKEND=offline" in message
    assert "3 attempts" in message


def test_slow_server_times_out(fake: FakeOllama, fake_server: tuple[FakeOllama, RunningServer]) -> None:
    fake.sleep_for = 60.0  # far beyond the client's timeout; the next test's reset ends the sleeps
    fake.script.extend(["sleep", "sleep"])
    policy = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.01, seed=0)
    with (
        OllamaBackend(fake_server[1].url, MODEL, timeout=0.25, policy=policy) as ollama,
        pytest.raises(LLMUnavailable, match=r"did not answer within 0\.25s") as info,
    ):
        ollama.generate("hello", 1)
    assert fake.answers == 0  # the client gave up on both requests while the fake was still sleeping on them
    assert "OLLAMA_TIMEOUT" in str(info.value) and "AZT3KNET_LLM_BACKEND=offline" in str(info.value)
    # On a loaded machine the fake may reach the second request only after the client gave up on it.
    deadline = time.monotonic() + 30
    while fake.arrivals < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.arrivals == 2


@pytest.mark.parametrize("transient", [[503], [502, 503], [429]])
def test_transient_statuses_are_retried(fake: FakeOllama, backend: OllamaBackend, transient: list[int]) -> None:
    fake.script.extend(transient)
    assert backend.generate("hello", 5) == "answer #1 (seed 5)"
    assert len(fake.requests) == len(transient) + 1


def test_persistent_busy_is_unavailable(fake: FakeOllama, backend: OllamaBackend) -> None:
    fake.script.extend([503, 503, 503])
    with pytest.raises(LLMUnavailable, match="stayed busy") as info:
        backend.generate("hello", 5)
    assert info.value.status == 503
    assert len(fake.requests) == 3


def test_500_is_not_retried(fake: FakeOllama, backend: OllamaBackend) -> None:
    # The shared policy retries 429/502/503/504 only; an Ollama 500 (runner crashed, out of memory) is final.
    fake.script.append(500)
    with pytest.raises(LLMResponseError, match="HTTP 500") as info:
        backend.generate("hello", 5)
    assert info.value.status == 500 and "fake status 500" in str(info.value)
    assert len(fake.requests) == 1


def test_missing_model_names_the_model(fake: FakeOllama, fake_server: tuple[FakeOllama, RunningServer]) -> None:
    with (
        OllamaBackend(fake_server[1].url, "nope:7b", timeout=5.0, policy=FAST) as ollama,
        pytest.raises(LLMResponseError) as info,
    ):
        ollama.generate("hello", 1)
    assert info.value.status == 404
    assert "'nope:7b'" in str(info.value) and "ollama pull nope:7b" in str(info.value)
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("action", "match"),
    [("not-json", "not JSON"), ("empty", "empty response"), ("no-response", "without a 'response'")],
)
def test_unusable_bodies(fake: FakeOllama, backend: OllamaBackend, action: str, match: str) -> None:
    fake.script.append(action)
    with pytest.raises(LLMResponseError, match=match):
        backend.generate("hello", 1)


def test_errors_are_not_cached(fake: FakeOllama, backend: OllamaBackend, store: Store) -> None:
    cache = StoreFieldCache(store)
    fake.script.append(500)
    with pytest.raises(LLMResponseError):
        generate_field("motto", CONTEXT, 1, backend=backend, cache=cache)
    key = cache_key(MODEL, build_prompt("motto", CONTEXT), 1)
    assert store.llm_cache_get(key) is None
    asked = len(fake.requests)
    # The answer's number is not asserted: a slow request of an earlier test may still be answered by the shared
    # fake server after its reset and take #1. What matters: the error was not cached, so the model is asked again.
    answer = generate_field("motto", CONTEXT, 1, backend=backend, cache=cache)
    assert re.fullmatch(r"answer #\d+ \(seed 1\)", answer)
    assert len(fake.requests) == asked + 1
    assert store.llm_cache_get(key) == answer


def test_llm_enriched_population_is_identical_on_rematerialization(
    fake: FakeOllama, fake_server: tuple[FakeOllama, RunningServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """agent_profiles with the Ollama backend: bios come from the (non-deterministic) model on the first run and
    from the store's cache on the second, so the partition's content hash does not change."""

    monkeypatch.setenv("AZT3KNET_LLM_BACKEND", "ollama")
    monkeypatch.setenv("OLLAMA_BASE_URL", fake_server[1].url)
    monkeypatch.setenv("OLLAMA_MODEL", MODEL)
    get_settings.cache_clear()
    populations.register_population(PopulationSpec(count=6, seed=3, country="IT"), "llm-pop")
    first = populations.materialize_population("llm-pop", job_name="profiles_job")
    assert first.success, first.error
    assert len(fake.requests) == 6
    assert all(r["options"]["temperature"] == 0 and "seed" in r["options"] for r in fake.requests)
    second = populations.materialize_population("llm-pop", job_name="profiles_job")
    assert second.success, second.error
    assert len(fake.requests) == 6  # every bio came from the cache
    meta1, meta2 = first.metadata["agent_profiles"], second.metadata["agent_profiles"]
    assert meta1["llm_enriched_fields"] == ["bio"]
    assert meta1["content_hash"] == meta2["content_hash"]
