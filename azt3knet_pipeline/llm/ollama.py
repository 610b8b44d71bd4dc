"""The Ollama backend (`POST /api/generate`, fixed seed, temperature 0) and the LLM errors it raises.

Errors: `LLMUnavailable` when the server cannot be reached or stays busy after the shared retry policy
(`clients.http.send_with_retry`) gives up; `LLMResponseError` for a bad status, an unknown model or an
unusable body. Both derive from `LLMError(ApiError)` (`azt3knet_pipeline.errors`).
"""

from __future__ import annotations

import httpx

from azt3knet_pipeline.clients.http import RetryPolicy, send_with_retry
from azt3knet_pipeline.errors import LLMResponseError, LLMUnavailable, RetriesExhausted
from azt3knet_pipeline.llm.prompt import check_seed

OFFLINE_HINT = "or set AZT3KNET_LLM_BACKEND=offline to use the built-in offline generator"

# Fewer, slower-starting attempts than the API clients: a local model server is either up or it is not.
DEFAULT_OLLAMA_POLICY = RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=5.0, max_total=300.0)


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
            "options": {"seed": check_seed(seed), "temperature": 0},
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
