"""A request quota on the fake server, like a provider's rate limit: 429 past it, and the
provider's rate-limit headers on every answer.

A token bucket of ``requests`` per ``window`` seconds on the server's clock (written here,
not taken from vex-llm: the fake server is the independent oracle). OpenAI answers carry
``x-ratelimit-{limit,remaining,reset}-requests`` (the reset as a duration, ``1.5s``);
Anthropic answers ``anthropic-ratelimit-requests-{limit,remaining,reset}`` (RFC 3339).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ._faults import Fault
from ._wire import Wire

if TYPE_CHECKING:
    from ._answers import Playbook

Headers = list[tuple[bytes, bytes]]


class Quota:
    """``requests`` per ``window`` seconds, refilled continuously.

    Args:
        requests: The limit (>= 1).
        window: Seconds for a full refill (> 0).
        clock: The server's monotonic clock.

    Raises:
        ValueError: On a limit below 1 or a window that is not > 0.
    """

    def __init__(self, requests: int, window: float, clock: Callable[[], float]) -> None:
        if requests < 1 or not window > 0:
            msg = f"quota needs requests >= 1 and window > 0, got {requests} and {window}"
            raise ValueError(msg)
        self.requests = requests
        self._interval = window / requests
        self._clock = clock
        self._level = float(requests)
        self._stamp = clock()
        self.refused = 0
        """Requests answered 429 by the quota."""

    def take(self, wire: Wire) -> tuple[Fault | None, Headers]:
        """Count one request: the 429 fault when over the quota, and the headers to send."""
        now = self._clock()
        self._level = min(self.requests, self._level + (now - self._stamp) / self._interval)
        self._stamp = now
        fault = None
        if self._level >= 1:
            self._level -= 1
        else:
            self.refused += 1
            fault = Fault.rate_limited(retry_after=math.ceil((1 - self._level) * self._interval))
        reset = (self.requests - self._level) * self._interval
        return fault, self._headers(wire, math.floor(self._level), reset)

    def _headers(self, wire: Wire, remaining: int, reset: float) -> Headers:
        if wire == "openai":
            names = ("x-ratelimit-limit-requests", "x-ratelimit-remaining-requests")
            when = f"{reset:.3f}s"
            reset_name = "x-ratelimit-reset-requests"
        else:
            names = ("anthropic-ratelimit-requests-limit", "anthropic-ratelimit-requests-remaining")
            when = datetime.fromtimestamp(time.time() + reset, UTC).isoformat()
            reset_name = "anthropic-ratelimit-requests-reset"
        values = (str(self.requests), str(remaining))
        pairs = [*zip(names, values, strict=True), (reset_name, when)]
        return [(name.encode(), value.encode()) for name, value in pairs]


class Limits:
    """``FakeLLMServer.limit()``: a provider-like rate limit on the server."""

    _clock: Callable[[], float]
    _playbook: Playbook

    def limit(self, requests: int, *, window: float = 60.0) -> Quota:
        """Enforce a rate limit like a provider's: ``requests`` per ``window`` seconds (a
        token bucket on the server's clock), 429 with ``retry-after`` past it (before any
        rule's fault), and the wire's rate-limit headers on every answer.

        Args:
            requests: The limit (>= 1).
            window: Seconds for a full refill (default 60).

        Returns:
            The quota (its ``refused`` counts the 429s it sent).
        """
        quota = Quota(requests, window, self._clock)
        self._playbook.quota = quota
        return quota
