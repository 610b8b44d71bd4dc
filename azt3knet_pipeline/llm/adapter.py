"""The LLM adapter: `generate_field` over an offline (default) or Ollama backend, cached by model/prompt/seed.

Determinism (DESIGN.md): every field is requested with a fixed seed and temperature 0, and the answer is
cached under `cache_key(model, prompt, seed)`. The cache, not the model, is what makes a re-run identical: a
second `generate_field` with the same inputs returns the first answer without asking the backend again.

Offline results are *not* cached. `OfflineBackend` is a pure function of (field, context, seed) -- the `bio`
field is exactly `domain.text.offline_bio` -- so a cache row would only duplicate it, and caching would fill
the store with one row per agent for nothing. Backends declare this with `deterministic = True`;
`generate_field` skips the cache for them. Since nothing pins old offline output, changing the
offline templates changes every re-run: treat that as a generator change and bump `OFFLINE_MODEL`.

Errors: `LLMUnavailable` when the server cannot be reached or stays busy after the shared retry policy
(`clients.http.send_with_retry`) gives up; `LLMResponseError` for a bad status, an unknown model or an
unusable body. Both derive from `LLMError(ApiError)`.
"""

from __future__ import annotations

import hashlib
import json
import operator
import random
import re
import threading
from collections.abc import Mapping, Sequence, Set
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import httpx

from azt3knet_pipeline.clients.http import ApiError, RetriesExhausted, RetryPolicy, send_with_retry
from azt3knet_pipeline.domain.models import canonical_json, sha256_hex
from azt3knet_pipeline.domain.text import offline_bio
from azt3knet_pipeline.settings import Settings, get_settings

if TYPE_CHECKING:
    from azt3knet_pipeline.store.repository import Store

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

OFFLINE_MODEL = "offline-v1"
FIELD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")  # fits `llm_cache.field` (String(64))
CACHE_KEY_VERSION = "azt3knet/llm-cache/v1"
OFFLINE_HINT = "or set AZT3KNET_LLM_BACKEND=offline to use the built-in offline generator"

# Fewer, slower-starting attempts than the API clients: a local model server is either up or it is not.
DEFAULT_OLLAMA_POLICY = RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=5.0, max_total=300.0)


# -- errors ------------------------------------------------------------------------------------------------


class LLMError(ApiError):
    """Base of every LLM adapter error."""


class LLMUnavailable(LLMError):
    """The model server cannot be reached, timed out, or stayed busy after the retry policy gave up."""


class LLMResponseError(LLMError):
    """The model server answered, but not usefully: bad status, unknown model, malformed or empty body."""


# -- backends and caches -----------------------------------------------------------------------------------


@runtime_checkable
class Backend(Protocol):
    """A text generator. `model` is part of the cache key, so it must name what produced the text."""

    name: str
    model: str

    def generate(self, prompt: str, seed: int) -> str: ...


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


# -- prompt and cache key ----------------------------------------------------------------------------------

_PROMPT_HEADER = (
    "You write one field of a synthetic social-media persona. The persona is fictional test data "
    "and does not describe a real person."
)
_FIELD_LINE = "Field: "
_PERSONA_LINE = "Persona (JSON): "
_FIELD_HINTS = {
    "bio": "a third-person profile bio of one or two sentences, under 200 characters",
    "headline": "a profile headline of at most ten words",
    "motto": "a personal motto of at most twelve words",
    "tone": "one or two words describing how this persona writes",
    "posting_cadence": "a short phrase saying how often this persona posts",
}


def _check_field(field: str) -> str:
    if not isinstance(field, str) or not FIELD_RE.fullmatch(field):
        raise ValueError(f"field must be an identifier of at most 64 characters (letters, digits, _), got {field!r}")
    return field


def _check_seed(seed: int) -> int:
    # numpy integers are accepted (they implement __index__); bools and floats are almost certainly mistakes.
    if isinstance(seed, bool) or not hasattr(seed, "__index__"):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    return operator.index(seed)


def _plain(value: Any) -> Any:
    """`value` as JSON-able builtins, so the prompt is identical for numpy/pandas/tuple/set inputs."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return _plain(value.tolist())  # numpy scalars and arrays
    if isinstance(value, Set):
        return sorted((_plain(v) for v in value), key=canonical_json)
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return [_plain(v) for v in value]
    return str(value)


def build_prompt(field: str, context: Mapping[str, Any]) -> str:
    """The prompt for one field: deterministic (canonical JSON, sorted keys), one short plain-text answer.

    The `Field:` and `Persona (JSON):` lines are also what `OfflineBackend.generate` reads back.
    """
    _check_field(field)
    persona = canonical_json(_plain(dict(context)))
    hint = _FIELD_HINTS.get(field, f"a short value for {field.replace('_', ' ')}, at most one sentence")
    return "\n".join(
        (
            _PROMPT_HEADER,
            f"Write {hint}, consistent with the persona below.",
            "Answer with the value only: a single short line of plain text, no quotes, labels, markdown or "
            "explanations.",
            f"{_FIELD_LINE}{field}",
            f"{_PERSONA_LINE}{persona}",
        )
    )


def cache_key(model: str, prompt: str, seed: int) -> str:
    """sha256 hex of the canonical JSON [version, model, prompt, seed]: unambiguous, process-independent."""
    return sha256_hex(canonical_json([CACHE_KEY_VERSION, str(model), str(prompt), _check_seed(seed)]))


def _parse_prompt(prompt: str) -> tuple[str, dict[str, Any]] | None:
    field: str | None = None
    persona: Any = None
    for line in prompt.splitlines():
        if line.startswith(_FIELD_LINE):
            field = line[len(_FIELD_LINE) :].strip()
        elif line.startswith(_PERSONA_LINE):
            try:
                persona = json.loads(line[len(_PERSONA_LINE) :])
            except ValueError:
                return None
    if field is None or not FIELD_RE.fullmatch(field) or not isinstance(persona, dict):
        return None
    return field, persona


# -- offline backend ---------------------------------------------------------------------------------------

_OFFLINE_TONES = ("casual", "enthusiastic", "formal", "sarcastic", "thoughtful", "witty")
_OFFLINE_CADENCES = {
    "hourly": "Posts almost every hour.",
    "several_daily": "Several short posts a day.",
    "daily": "Checks in daily, usually over morning coffee.",
    "few_weekly": "Posts a few times a week, mostly in the evening.",
    "weekly": "Weekly roundups, rarely more.",
    "monthly": "Shows up monthly with a long thread.",
}
_OFFLINE_TONE_TEMPLATES = ("{tone}", "{tone}, mostly {adj}", "{adj} and {tone}")
_OFFLINE_HEADLINES = (
    "{Interest} enthusiast from {city}",
    "{city} local, {interest} on the side",
    "Mostly {interest}, sometimes everything else",
    "Notes on {interest} from {city}",
    "{name} on {interest} and {city} life",
)
_OFFLINE_MOTTOS = (
    "Stay curious, stay kind.",
    "One more chapter, one more try.",
    "Less scrolling, more {interest}.",
    "Small steps, every day.",
    "If in doubt, ask {city}.",
    "Good questions beat quick answers.",
)
_OFFLINE_GENERIC = (
    "{Field}: {adj} and {adj2}, with a nod to {interest}.",
    "{name}'s {field}: {adj}, shaped by {city}.",
    "{Field} in short: {adj}, a little {adj2}.",
    "Something {adj} about {interest}, as {name} would put it.",
)
_OFFLINE_ADJECTIVES = ("easygoing", "curious", "practical", "playful", "careful", "warm", "dry", "upbeat")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


class OfflineBackend:
    """Seeded templates, no network. `bio` is exactly `offline_bio`; other fields get a short seeded line."""

    name = "offline"
    model = OFFLINE_MODEL
    deterministic = True

    def generate(self, prompt: str, seed: int) -> str:
        """Read field and persona back from a `build_prompt` prompt; any other prompt gets a generic line."""
        seed = _check_seed(seed)
        parsed = _parse_prompt(prompt)
        if parsed is None:
            rng = random.Random(int(sha256_hex(canonical_json([OFFLINE_MODEL, prompt, seed]))[:32], 16))
            return f"A {rng.choice(_OFFLINE_ADJECTIVES)} answer (synthetic persona)."
        field, context = parsed
        return self.render(field, context, seed)

    def render(self, field: str, context: Mapping[str, Any], seed: int) -> str:
        """The offline value of `field` for `context` and `seed` (what `generate` returns for its prompt)."""
        _check_field(field)
        seed = _check_seed(seed)
        ctx = _plain(dict(context))
        interests = ctx.get("interests") or []
        if isinstance(interests, str):
            interests = [interests]
        if field == "bio":
            missing = [key for key in ("given_name", "age", "city") if key not in ctx]
            if missing:
                raise ValueError(f"offline bio needs context keys {missing}")
            tone = ctx.get("tone")
            return offline_bio(
                str(ctx["given_name"]),
                ctx["age"],
                str(ctx["city"]),
                [str(i) for i in interests],
                tone if isinstance(tone, str) else "casual",
                seed,
            )
        # Each field draws from its own stream, so `headline` and `motto` of one persona are independent.
        digest = hashlib.sha256(canonical_json([OFFLINE_MODEL, field, seed]).encode("utf-8")).digest()
        rng = random.Random(int.from_bytes(digest[:16], "big"))
        interest = str(rng.choice(interests)) if interests else rng.choice(("reading", "music", "travel"))
        interest = interest.replace("_", " ").replace("-", " ")
        words = {
            "name": str(ctx.get("given_name") or ctx.get("display_name") or "This persona"),
            "city": str(ctx.get("city") or "the city"),
            "interest": interest,
            "Interest": _cap(interest),
            "field": field.replace("_", " "),
            "Field": _cap(field.replace("_", " ")),
            "adj": rng.choice(_OFFLINE_ADJECTIVES),
            "adj2": rng.choice(_OFFLINE_ADJECTIVES),
        }
        if field == "tone":  # the persona's own tone when it has one, with a seeded qualifier
            tone = ctx.get("tone")
            words["tone"] = tone if isinstance(tone, str) and tone else rng.choice(_OFFLINE_TONES)
            return rng.choice(_OFFLINE_TONE_TEMPLATES).format(**words)
        if field == "posting_cadence":
            cadence = ctx.get("posting_cadence")
            if isinstance(cadence, str) and cadence in _OFFLINE_CADENCES:
                return _OFFLINE_CADENCES[cadence]
            return rng.choice(sorted(_OFFLINE_CADENCES.values()))
        templates = {"headline": _OFFLINE_HEADLINES, "motto": _OFFLINE_MOTTOS}.get(field, _OFFLINE_GENERIC)
        return rng.choice(templates).format(**words)


# -- Ollama backend ----------------------------------------------------------------------------------------


def _server_error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"][:300]
    return response.text.strip()[:300] or response.reason_phrase


class OllamaBackend:
    """`POST {base_url}/api/generate` with a fixed seed, temperature 0 and no streaming.

    Transient failures (connection errors, timeouts, 429/502/503/504) go through the shared retry policy;
    what is left is mapped to `LLMUnavailable` / `LLMResponseError`. Holds one `httpx.Client`: `close()` it
    (or use `with`) when done.
    """

    name = "ollama"
    deterministic = False

    def __init__(
        self,
        base_url: str,
        model: str,
        timeout: float = 60.0,
        policy: RetryPolicy | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        base_url = base_url.strip().rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"OLLAMA_BASE_URL must be an http(s) URL such as http://127.0.0.1:11434, got {base_url!r}")
        if not model.strip():
            raise ValueError("OLLAMA_MODEL must name a model, e.g. llama3.2")
        if timeout <= 0:
            raise ValueError("OLLAMA_TIMEOUT must be positive")
        self.base_url = base_url
        self.model = model.strip()
        self.timeout = float(timeout)
        self.policy = policy or DEFAULT_OLLAMA_POLICY
        self.url = f"{base_url}/api/generate"
        self._client = httpx.Client(
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)), transport=transport
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OllamaBackend:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def generate(self, prompt: str, seed: int) -> str:
        body = {
            "model": self.model,
            "prompt": prompt,
            "stream": False,
            "options": {"seed": _check_seed(seed), "temperature": 0},
        }
        attempts = 0
        last_exc: httpx.HTTPError | None = None
        last_status: int | None = None

        def count(attempt: int) -> None:
            nonlocal attempts
            attempts = attempt

        def send() -> httpx.Response:
            nonlocal last_exc, last_status
            try:
                response = self._client.post(self.url, json=body)
            except httpx.HTTPError as exc:
                last_exc, last_status = exc, None
                raise
            last_exc, last_status = None, response.status_code
            return response

        try:
            response = send_with_retry(send, self.policy, what=f"ollama generate ({self.model})", on_attempt=count)
        except RetriesExhausted as exc:
            raise self._unavailable(exc, last_exc, last_status, attempts) from exc
        except httpx.HTTPError as exc:  # not retried by the policy: bad scheme, proxy or protocol errors
            raise LLMUnavailable(
                f"cannot talk to Ollama at {self.url} ({type(exc).__name__}: {exc}); check OLLAMA_BASE_URL, "
                f"{OFFLINE_HINT}"
            ) from exc
        return self._parse(response)

    def _unavailable(
        self, exc: RetriesExhausted, last_exc: httpx.HTTPError | None, last_status: int | None, attempts: int
    ) -> LLMUnavailable:
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        if isinstance(last_exc, httpx.TimeoutException) and not isinstance(last_exc, httpx.ConnectTimeout):
            return LLMUnavailable(
                f"Ollama at {self.url} did not answer within {self.timeout:g}s ({tries}, "
                f"model {self.model!r}); raise OLLAMA_TIMEOUT, use a smaller model, {OFFLINE_HINT}"
            )
        if last_exc is not None:
            return LLMUnavailable(
                f"cannot connect to Ollama at {self.url} ({type(last_exc).__name__} after {tries}); "
                f"start it with `ollama serve` (and `ollama pull {self.model}`), "
                f"point OLLAMA_BASE_URL at it, {OFFLINE_HINT}"
            )
        return LLMUnavailable(
            f"Ollama at {self.url} stayed busy ({exc.message}); retry later, {OFFLINE_HINT}",
            status=exc.status or last_status,
        )

    def _parse(self, response: httpx.Response) -> str:
        status = response.status_code
        if status == 404:
            raise LLMResponseError(
                f"Ollama at {self.base_url} has no model {self.model!r} ({_server_error_text(response)}); "
                f"run `ollama pull {self.model}` or set OLLAMA_MODEL to an installed model",
                status=status,
            )
        if status != 200:
            raise LLMResponseError(
                f"Ollama at {self.url} answered HTTP {status} for model {self.model!r}: {_server_error_text(response)}",
                status=status,
            )
        try:
            payload = response.json()
        except ValueError as exc:
            raise LLMResponseError(
                f"Ollama at {self.url} returned a body that is not JSON: {response.text[:120]!r}",
                status=status,
            ) from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("response"), str):
            raise LLMResponseError(
                f"Ollama at {self.url} returned JSON without a 'response' string: {str(payload)[:120]}",
                status=status,
            )
        text = payload["response"].strip()
        if not text:
            raise LLMResponseError(f"Ollama model {self.model!r} returned an empty response", status=status)
        return text


# -- entry points ------------------------------------------------------------------------------------------


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
    backend: Backend | None = None,
    cache: FieldCache | None = None,
) -> str:
    """The value of `field` for a persona `context`, requested with `seed` at temperature 0.

    Non-deterministic backends are cached by `cache_key(model, prompt, seed)`: a hit returns the stored value
    without calling the backend; a miss stores the answer and returns whatever the cache then holds, so two
    racing writers both return the first writer's value. Without a `cache` nothing is stored and an Ollama
    re-run is only as repeatable as the model. Deterministic backends (offline) bypass the cache.
    `backend` defaults to `backend_from_settings(get_settings())` (closed again after the call).
    """
    prompt = build_prompt(field, context)
    seed = _check_seed(seed)
    owned = backend is None
    active = backend_from_settings(get_settings()) if backend is None else backend
    try:
        if getattr(active, "deterministic", False) or cache is None:
            return active.generate(prompt, seed)
        key = cache_key(active.model, prompt, seed)
        cached = cache.get(key)
        if cached is not None:
            return cached
        value = active.generate(prompt, seed)
        cache.put(key, active.model, field, value)
        stored = cache.get(key)
        return value if stored is None else stored
    finally:
        close = getattr(active, "close", None)
        if owned and callable(close):
            close()
