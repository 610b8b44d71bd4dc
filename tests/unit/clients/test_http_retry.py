"""The shared retry policy (`azt3knet_pipeline.clients.http`): bounds, Retry-After, what is never retried."""

from __future__ import annotations

import random

import httpx
import pytest
from helpers_ports import free_port
from hypothesis import given, settings
from hypothesis import strategies as st

from azt3knet_pipeline.clients import http
from azt3knet_pipeline.clients.http import (
    NEVER_RETRY_STATUSES,
    RETRY_STATUSES,
    RetryPolicy,
    parse_retry_after,
    send_with_retry,
)
from azt3knet_pipeline.errors import RetriesExhausted

REQUEST = httpx.Request("GET", "http://127.0.0.1/x")


def response(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=REQUEST)


class Script:
    """A `send` callable answering from a script: a status, a (status, headers) or an exception per call."""

    def __init__(self, *items: object) -> None:
        self.items = list(items)
        self.calls = 0

    def __call__(self) -> httpx.Response:
        item = self.items[min(self.calls, len(self.items) - 1)]
        self.calls += 1
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, tuple):
            return response(item[0], item[1])
        assert isinstance(item, int)
        return response(item)


def recording_policy(**kw: object) -> tuple[RetryPolicy, list[float]]:
    sleeps: list[float] = []
    kw.setdefault("seed", 7)
    return RetryPolicy(sleep=sleeps.append, **kw), sleeps  # type: ignore[arg-type]


# -------------------------------------------------------------------------------------------- backoff


@settings(max_examples=200, deadline=None)
@given(
    attempt=st.integers(min_value=1, max_value=40),
    base=st.floats(min_value=0.001, max_value=5.0),
    cap=st.floats(min_value=0.001, max_value=60.0),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_backoff_is_full_jitter_under_an_exponential_cap(attempt: int, base: float, cap: float, seed: int) -> None:
    policy = RetryPolicy(base_delay=base, max_delay=cap)
    delay = policy.backoff(attempt, random.Random(seed))
    assert 0.0 <= delay <= min(cap, base * 2 ** (attempt - 1)) + 1e-12


def test_backoff_cap_grows_exponentially_then_saturates() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    rng = random.Random(1)
    maxima = [max(policy.backoff(a, rng) for _ in range(400)) for a in range(1, 7)]
    # caps: 0.5, 1, 2, 4, 4, 4; with 400 samples each max is close to its cap
    for observed, cap in zip(maxima, [0.5, 1, 2, 4, 4, 4], strict=True):
        assert cap * 0.9 <= observed <= cap


def test_same_seed_gives_the_same_delays() -> None:
    first, sleeps1 = recording_policy(max_attempts=5, base_delay=1.0)
    second, sleeps2 = recording_policy(max_attempts=5, base_delay=1.0)
    with pytest.raises(RetriesExhausted):
        send_with_retry(Script(503), first, what="t")
    with pytest.raises(RetriesExhausted):
        send_with_retry(Script(503), second, what="t")
    assert sleeps1 == sleeps2 and len(sleeps1) == 4


# -------------------------------------------------------------------------------------------- Retry-After


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured_through_the_injected_sleep(status: int) -> None:
    policy, sleeps = recording_policy(base_delay=0.01)
    send = Script((status, {"Retry-After": "3"}), 200)
    result = send_with_retry(send, policy, what="t")
    assert result.status_code == 200
    assert send.calls == 2
    assert len(sleeps) == 1
    assert 3.0 <= sleeps[0] <= 3.0 + 0.01  # the header value plus a jitter bounded by min(0.25, base_delay)


def test_retry_after_longer_than_the_policy_allows_gives_up_without_sleeping() -> None:
    policy, sleeps = recording_policy(max_retry_after=60)
    send = Script((429, {"Retry-After": "3600"}))
    with pytest.raises(RetriesExhausted) as info:
        send_with_retry(send, policy, what="GET thing")
    assert send.calls == 1 and sleeps == []
    assert info.value.status == 429
    assert "3600" in str(info.value) and "GET thing" in str(info.value)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("5", 5.0),
        (" 2 ", 2.0),
        ("0.5", 0.5),
        ("-3", 0.0),
        ("", None),
        (None, None),
        ("Wed, 21 Oct 2015", None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_http_date_retry_after_falls_back_to_backoff() -> None:
    policy, sleeps = recording_policy(base_delay=0.5, max_delay=0.5)
    send = Script((503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), 200)
    assert send_with_retry(send, policy, what="t").status_code == 200
    assert len(sleeps) == 1 and 0.0 <= sleeps[0] <= 0.5


# -------------------------------------------------------------------------------------------- never retried


@pytest.mark.parametrize("status", sorted(NEVER_RETRY_STATUSES))
def test_auth_failures_are_never_retried(status: int) -> None:
    policy, sleeps = recording_policy()
    send = Script(status, 200)
    result = send_with_retry(send, policy, what="t")
    assert result.status_code == status
    assert send.calls == 1 and sleeps == []


@pytest.mark.parametrize("status", [200, 400, 404, 405, 409, 500, 501])
def test_non_transient_statuses_are_returned_at_once(status: int) -> None:
    policy, sleeps = recording_policy()
    send = Script(status, 200)
    assert send_with_retry(send, policy, what="t").status_code == status
    assert send.calls == 1 and sleeps == []


def test_auth_error_after_a_transient_error_stops_retrying() -> None:
    policy, sleeps = recording_policy(base_delay=0.001)
    send = Script(503, 401, 200)
    assert send_with_retry(send, policy, what="t").status_code == 401
    assert send.calls == 2 and len(sleeps) == 1


# -------------------------------------------------------------------------------------------- bounds


@pytest.mark.parametrize("status", sorted(RETRY_STATUSES))
def test_attempts_are_bounded(status: int) -> None:
    policy, sleeps = recording_policy(max_attempts=4, base_delay=0.001)
    send = Script(status)
    attempts: list[int] = []
    with pytest.raises(RetriesExhausted) as info:
        send_with_retry(send, policy, what="POST add/x", on_attempt=attempts.append)
    assert send.calls == 4
    assert attempts == [1, 2, 3, 4]
    assert len(sleeps) == 3  # no sleep after the last attempt
    assert f"HTTP {status}" in str(info.value) and "4 attempt" in str(info.value)


def test_single_attempt_policy_makes_one_call() -> None:
    policy, sleeps = recording_policy(max_attempts=1)
    send = Script(503)
    with pytest.raises(RetriesExhausted):
        send_with_retry(send, policy, what="t")
    assert send.calls == 1 and sleeps == []


class Clock:
    """The retry loop's clock: time passes only while the policy sleeps (what a loaded machine adds is not the
    policy's doing, so it is left out)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_total_time_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The policy stops once the next wait would exceed `max_total`."""
    clock = Clock()
    monkeypatch.setattr(http, "time", clock)
    policy = RetryPolicy(max_attempts=1000, base_delay=0.001, max_total=0.3, seed=1, sleep=clock.sleep)
    send = Script((503, {"Retry-After": "0.05"}))
    started = clock.now
    with pytest.raises(RetriesExhausted, match="would pass the 0s budget"):
        send_with_retry(send, policy, what="t")
    assert clock.now - started <= 0.3
    # It stopped only when one more wait (Retry-After plus at most base_delay of jitter) would not fit.
    assert clock.now - started + 0.05 + policy.base_delay > 0.3
    assert 3 <= send.calls < 1000


def test_a_single_wait_longer_than_max_total_is_not_taken() -> None:
    policy, sleeps = recording_policy(max_total=1.0)
    send = Script((503, {"Retry-After": "5"}), 200)
    with pytest.raises(RetriesExhausted):
        send_with_retry(send, policy, what="t")
    assert send.calls == 1 and sleeps == []


# ------------------------------------------------------------------------------------ transport errors


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("refused", request=REQUEST),
        httpx.ReadTimeout("slow", request=REQUEST),
        httpx.ConnectTimeout("slow", request=REQUEST),
        httpx.RemoteProtocolError("Server disconnected without sending a response.", request=REQUEST),
        httpx.ReadError("reset", request=REQUEST),
    ],
    ids=lambda e: type(e).__name__,
)
def test_transport_errors_are_retried(error: Exception) -> None:
    policy, sleeps = recording_policy(base_delay=0.001)
    send = Script(error, error, 200)
    assert send_with_retry(send, policy, what="t").status_code == 200
    assert send.calls == 3 and len(sleeps) == 2


def test_persistent_transport_errors_exhaust_with_the_error_name() -> None:
    policy, _ = recording_policy(max_attempts=3, base_delay=0.001)
    send = Script(httpx.ConnectError("refused", request=REQUEST))
    with pytest.raises(RetriesExhausted) as info:
        send_with_retry(send, policy, what="GET x")
    assert send.calls == 3
    assert "ConnectError" in str(info.value)


def test_non_transport_exceptions_propagate_without_retry() -> None:
    policy, sleeps = recording_policy()
    send = Script(ValueError("a bug, not a network problem"))
    with pytest.raises(ValueError):
        send_with_retry(send, policy, what="t")
    assert send.calls == 1 and sleeps == []


def test_real_connection_refused_on_loopback_is_retried_then_exhausted() -> None:
    port = free_port()  # nothing listens there
    policy, sleeps = recording_policy(max_attempts=3, base_delay=0.001)
    calls = 0
    with httpx.Client(timeout=2.0) as http:

        def send() -> httpx.Response:
            nonlocal calls
            calls += 1
            return http.get(f"http://127.0.0.1:{port}/")

        with pytest.raises(RetriesExhausted) as info:
            send_with_retry(send, policy, what="GET refused")
    assert calls == 3 and len(sleeps) == 2
    assert "ConnectError" in str(info.value)


def test_what_is_the_only_request_detail_in_errors() -> None:
    policy, _ = recording_policy(max_attempts=2, base_delay=0.001)
    secret = "hunter2-password"

    def send() -> httpx.Response:
        httpx.Request("POST", "http://127.0.0.1/x", json={"password": secret})
        return response(503)

    with pytest.raises(RetriesExhausted) as info:
        send_with_retry(send, policy, what="POST add/mailbox")
    assert secret not in str(info.value)
    assert str(info.value).startswith("POST add/mailbox:")


def test_zero_attempts_gives_a_clear_error() -> None:
    with pytest.raises(ValueError, match="max_attempts must be at least 1"):
        recording_policy(max_attempts=0)


def test_exhaustion_carries_the_last_status() -> None:
    policy, _ = recording_policy(max_attempts=2)
    with pytest.raises(RetriesExhausted) as caught:
        send_with_retry(Script(503, 502), policy, what="t")
    assert caught.value.status == 502
