"""deSEC's throttles: DRF-style sliding windows per (scope, bucket), on a clock a test can move forward."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from azt3knet_pipeline.sandbox.desec.config import UNITS, parse_rate


def throttled_detail(wait: int) -> str:
    unit = "second" if wait == 1 else "seconds"
    return f"Request was throttled. Expected available in {wait} {unit}."


class Throttles:
    """All rates of a scope are enforced together; a denied request is not recorded. Not thread-safe on its own
    (the stand-in holds its lock)."""

    def __init__(self, rates: dict[str, list[str]], clock: Callable[[], float] | None = None) -> None:
        self._base_clock = clock or time.monotonic
        self._offset = 0.0
        self.history: dict[tuple[str, str], deque[float]] = {}
        self.set_rates(rates)

    def set_rates(self, rates: dict[str, list[str]]) -> None:
        self.configured = dict(rates)
        self.rates = {scope: [parse_rate(r) for r in scope_rates] for scope, scope_rates in rates.items()}

    def clock(self) -> float:
        """The injected (or monotonic) clock plus whatever `advance` added."""
        return self._base_clock() + self._offset

    def advance(self, seconds: float) -> float:
        """Let `seconds` pass without sleeping. Returns the total advance."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._offset += seconds
        return self._offset

    def check(self, scope: str, bucket: str) -> float | None:
        """None when allowed (and recorded), else the seconds until a request is allowed again."""
        rates = self.rates.get(scope, [])
        if not rates:
            return None
        now = self.clock()
        history = self.history.setdefault((scope, bucket), deque())
        longest = max(duration for _, duration in rates)
        while history and history[0] <= now - longest:
            history.popleft()
        waits = []
        for limit, duration in rates:
            window = [t for t in history if t > now - duration]
            if len(window) >= limit:
                waits.append(window[len(window) - limit] + duration - now)
        if waits:
            return max(waits)
        history.append(now)
        return None

    def wait(self, scopes: list[tuple[str, str]]) -> float | None:
        """Check every (scope, bucket) (allowed ones record the request): the longest wait, or None."""
        waits = [wait for scope, bucket in scopes if (wait := self.check(scope, bucket)) is not None]
        return max(waits) if waits else None

    def spend(self, scope: str, bucket: str, window: str) -> int:
        """Use up one window of a scope's bucket as if that many requests had been made. The requests are dated
        just outside every shorter window of the scope, so only this window (and longer ones) count them.
        Returns how many were recorded."""
        duration = UNITS.get(window)
        if duration is None:
            raise ValueError(f"window {window!r} is not one of {sorted(UNITS)}")
        rates = self.rates.get(scope, [])
        matching = [limit for limit, d in rates if d == duration]
        if not matching:
            raise ValueError(f"scope {scope!r} has no {window!r} rate (rates: {self.configured.get(scope)})")
        shorter = [d for _, d in rates if d < duration]
        at = self.clock() - (max(shorter) + 1 if shorter else 1)
        history = self.history.setdefault((scope, bucket), deque())
        recorded = max(0, min(matching) - sum(1 for t in history if t > self.clock() - duration))
        history.extend([at] * recorded)
        ordered = sorted(history)
        history.clear()
        history.extend(ordered)
        return recorded
