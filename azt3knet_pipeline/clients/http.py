"""The one retry/backoff policy every external HTTP client uses.

Retries connect errors, timeouts, dropped connections, 429 and 502/503/504 with exponential backoff and full
jitter, honours `Retry-After`, and is bounded in attempts and in total time. It never retries 401/403: Mailcow's
fail2ban bans an IP after repeated bad keys, and a permission error does not heal by waiting.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from azt3knet_pipeline.errors import RetriesExhausted

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
NEVER_RETRY_STATUSES = frozenset({401, 403})


class RequestCounter:
    """The HTTP attempts a client has made (retries included) and how many were writes; safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = 0
        self._writes = 0

    def count(self, *, write: bool) -> None:
        with self._lock:
            self._requests += 1
            if write:
                self._writes += 1

    @property
    def requests(self) -> int:
        with self._lock:
            return self._requests

    @property
    def writes(self) -> int:
        with self._lock:
            return self._writes


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter. `sleep` and `rng` are injectable for tests."""

    max_attempts: int = 6
    base_delay: float = 0.2
    max_delay: float = 10.0
    max_total: float = 300.0
    max_retry_after: float = 120.0
    seed: int | None = None
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_total <= 0:
            raise ValueError("RetryPolicy delays must be >= 0 and max_total > 0")

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Delay before retry number `attempt` (1-based): full jitter over an exponential cap."""
        cap = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return rng.uniform(0, cap)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (integer seconds form; HTTP dates are treated as absent)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, seconds)


def send_with_retry(
    send: Callable[[], httpx.Response],
    policy: RetryPolicy,
    *,
    what: str,
    on_attempt: Callable[[int], None] | None = None,
) -> httpx.Response:
    """Call `send()` until it returns a non-transient response or the policy is exhausted.

    Returns the last response for any status that is not retried (including 4xx/5xx other than the retry set);
    the caller maps it to its own error hierarchy. Raises `RetriesExhausted` when transient failures persist.
    `what` names the operation in log lines and errors; it must never contain a secret.
    """
    rng = random.Random(policy.seed)
    started = time.monotonic()
    last_problem = "no attempt made"
    last_status: int | None = None
    attempt = 0
    for attempt in range(1, policy.max_attempts + 1):
        if on_attempt is not None:
            on_attempt(attempt)
        delay: float | None = None
        try:
            response = send()
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            last_problem = f"{type(exc).__name__}"
            last_status = None
        else:
            if response.status_code not in RETRY_STATUSES:
                return response
            last_problem = f"HTTP {response.status_code}"
            last_status = response.status_code
            response.close()
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None:
                if retry_after > policy.max_retry_after:
                    raise RetriesExhausted(
                        f"{what}: server asked to wait {retry_after:.0f}s, more than the "
                        f"{policy.max_retry_after:.0f}s this client will wait",
                        status=response.status_code,
                    )
                # A small jitter on top keeps concurrent workers from retrying in lockstep.
                delay = retry_after + rng.uniform(0, min(0.25, policy.base_delay))
        if attempt == policy.max_attempts:
            break
        if delay is None:
            delay = policy.backoff(attempt, rng)
        elapsed = time.monotonic() - started
        if elapsed + delay > policy.max_total:
            last_problem += f" (waiting {delay:.1f}s more would pass the {policy.max_total:.0f}s budget)"
            break
        log.warning("%s: %s, retry %d/%d in %.2fs", what, last_problem, attempt, policy.max_attempts - 1, delay)
        policy.sleep(delay)
    raise RetriesExhausted(f"{what}: gave up after {attempt} attempt(s), last: {last_problem}", status=last_status)
