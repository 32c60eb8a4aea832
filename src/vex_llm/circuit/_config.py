"""Breaker settings, outcome classification and the state enum."""

from __future__ import annotations

import asyncio
import enum
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Self

from .._errors import (
    LOCAL_RATE_LIMIT,
    CircuitOpenError,
    ConnectionFailed,
    DeadlineExceeded,
    LlmError,
    NotAvailable,
    RateLimited,
    ServerError,
    StreamInterrupted,
    Timeout,
)
from .._limits import check_count, check_seconds, checked_as


class CircuitState(enum.Enum):
    """The three states of a circuit."""

    CLOSED = "closed"
    """Calls pass; failures are counted."""
    OPEN = "open"
    """Calls are rejected at once with ``CircuitOpenError``."""
    HALF_OPEN = "half_open"
    """A limited number of probe calls pass to test recovery."""


class Outcome(enum.Enum):
    """How a finished call counts for the breaker."""

    SUCCESS = "success"
    FAILURE = "failure"
    IGNORED = "ignored"
    """Counts neither way: caller errors, cancellation, an inner breaker's rejection."""


_COUNTED: tuple[type[BaseException], ...] = (
    ConnectionFailed,
    NotAvailable,
    RateLimited,
    Timeout,
    ServerError,
    StreamInterrupted,
)


_HTTP_CLIENTS: tuple[str, ...] = ("httpx", "httpx2")
"""HTTP client modules whose exceptions the default classification knows (httpx2 is the
maintained fork with the same exception tree)."""

_HTTP_FAILURES: tuple[str, ...] = (
    "TimeoutException",
    "NetworkError",
    "RemoteProtocolError",
    "ProxyError",
)
"""Client exceptions that say the server is unreachable or sick (``PoolTimeout`` excepted)."""


def _http_client_outcome(exc: BaseException) -> Outcome | None:
    """How an httpx (or httpx2) exception counts; ``None`` when it is not one.

    Looked up in ``sys.modules`` at classification time: the breaker never imports an
    HTTP client, and a client nobody imported cannot have raised.
    """
    for name in _HTTP_CLIENTS:
        module = sys.modules.get(name)
        base = getattr(module, "HTTPError", None)
        if base is None or not isinstance(exc, base):
            continue
        pool_timeout = getattr(module, "PoolTimeout", None)
        if pool_timeout is not None and isinstance(exc, pool_timeout):
            return Outcome.IGNORED  # our own pool is full: local congestion
        for kind in _HTTP_FAILURES:
            cls = getattr(module, kind, None)
            if cls is not None and isinstance(exc, cls):
                return Outcome.FAILURE
        status_error = getattr(module, "HTTPStatusError", None)
        if status_error is not None and isinstance(exc, status_error):
            status = getattr(getattr(exc, "response", None), "status_code", 0)
            # 429 counts as RateLimited does (as in the seed); other 4xx are the caller's.
            counted = isinstance(status, int) and (status >= 500 or status == 429)
            return Outcome.FAILURE if counted else Outcome.IGNORED
        return Outcome.IGNORED
    return None


def classify_error(exc: BaseException) -> Outcome:
    """The default classification of an exception raised by a guarded call.

    Counted as failures (the seed's three plus the other signs of a sick provider):
    ``ConnectionFailed``, ``NotAvailable``, ``RateLimited``, ``Timeout``, ``ServerError``,
    ``StreamInterrupted``, and the non-``LlmError`` ``OSError`` / ``TimeoutError`` (a raw socket
    failure is a connection failure). For a breaker around your own HTTP calls, these httpx (and
    httpx2) exceptions count too: ``TimeoutException`` except ``PoolTimeout`` (connect, read and
    write timeouts), ``NetworkError`` (``ConnectError``, ``ReadError``, ``WriteError``,
    ``CloseError``), ``RemoteProtocolError``, ``ProxyError``, and ``HTTPStatusError`` whose
    response status is 429 or 500 or more (from ``raise_for_status()``; a 429 counts as
    ``RateLimited`` does); every other httpx exception (``PoolTimeout``: our own pool is full;
    ``LocalProtocolError``, ``UnsupportedProtocol``, ``InvalidURL``, another 4xx status error,
    ...) is ignored. Ignored: ``CircuitOpenError`` from an inner breaker (it is not evidence
    about the provider), a ``RateLimited`` whose ``.code`` is ``"local_rate_limit"`` (our
    own limiter refused the call: the provider was never asked), ``DeadlineExceeded`` (the
    caller's overall deadline ran out, not the provider's time), ``PoolExhausted`` (our own
    connection pool is full: local congestion), cancellation and interpreter exits, caller errors
    (``InvalidRequest``, ``AuthenticationFailed``), ``InvalidResponse`` and everything else.

    Args:
        exc: The exception the call raised.

    Returns:
        ``Outcome.FAILURE`` or ``Outcome.IGNORED``.
    """
    if isinstance(exc, CircuitOpenError):
        return Outcome.IGNORED
    if isinstance(exc, DeadlineExceeded):
        return Outcome.IGNORED  # the caller's budget ran out: no evidence about the provider
    if isinstance(exc, RateLimited) and exc.code == LOCAL_RATE_LIMIT:
        return Outcome.IGNORED  # our own limiter refused: the provider was never asked
    if isinstance(exc, _COUNTED):
        return Outcome.FAILURE
    if isinstance(exc, LlmError | asyncio.CancelledError):
        return Outcome.IGNORED
    if isinstance(exc, OSError | TimeoutError):
        return Outcome.FAILURE
    return _http_client_outcome(exc) or Outcome.IGNORED


def _checked(name: str, check: Callable[[object], object], value: object) -> None:
    """Run a shared check (``check_seconds`` or ``check_count``), naming the field."""
    checked_as(f"CircuitConfig.{name}", check, value)


def _positive(name: str, value: float) -> None:
    # Bounded by MAX_SECONDS: open periods and leases become integer microseconds in Redis.
    _checked(name, check_seconds, value)


def _at_least_one(name: str, value: object) -> None:
    _checked(name, check_count, value)


def _one_of(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        *rest, last = (repr(choice) for choice in choices)
        msg = f"CircuitConfig.{name} must be {', '.join(rest)} or {last}, got {value!r}"
        raise ValueError(msg)


def _rate(name: str, value: float) -> None:
    if not (0 < value <= 1):
        msg = f"CircuitConfig.{name} must be in (0, 1], got {value!r}"
        raise ValueError(msg)


@dataclass(frozen=True, slots=True, kw_only=True)
class CircuitConfig:
    """How a circuit breaker counts, trips and recovers.

    The defaults are the seed's (5 failures, 2 successes, 30 s); ``conservative()`` is
    its production preset (3 / 3 / 60 s). Every duration is in seconds, at most
    ``MAX_SECONDS`` (1e7 s, about 115 days: no setting needs more, and the bound keeps the
    Redis store's microsecond arithmetic exact); every count is at most ``MAX_COUNT`` (1e9).

    Args:
        failure_threshold: Consecutive counted failures that open the circuit (``>=``).
        success_threshold: Consecutive probe successes in half-open that close it.
        reset_timeout: Seconds the circuit stays open before a probe is allowed.
        half_open_max_calls: Probe calls admitted at once in half-open (default:
            ``success_threshold``, so one round of probes can close the circuit).
        probe_lease_ttl: Seconds after which a probe that never reported frees its slot,
            so a lost probe can never wedge the breaker (default 120: above a long LLM call).
        mode: ``"consecutive"`` (the seed's rule) or ``"ratio"`` (failure rate over a
            sliding window, with a minimum number of calls).
        window: ``"count"`` (the last ``window_size`` calls) or ``"time"`` (the last
            ``window_seconds``, kept in ``window_buckets`` buckets). Ratio mode only.
        window_size: Calls in a count window (default 100).
        window_seconds: Length of a time window (default 60 s).
        window_buckets: Buckets a time window is kept in (default 10; the window's
            resolution is ``window_seconds / window_buckets``).
        minimum_calls: Calls a window needs before its rate is judged (default 20; clamped
            to ``window_size`` for count windows).
        failure_rate_threshold: Failure rate in (0, 1] that opens the circuit (inclusive).
        slow_call_duration: Calls longer than this (strictly) are slow; ``None`` (default)
            turns slow-call counting off. In consecutive mode a slow success counts as a
            failure; in ratio mode slow calls have their own rate.
        slow_call_rate_threshold: Slow-call rate in (0, 1] that opens (ratio mode).
        backoff_multiplier: Growth of the open duration on repeated re-opens without a
            close in between (1.0, the default, keeps it constant as the seed does).
        max_reset_timeout: Cap on the grown open duration (default: the larger of 300 s
            and ``reset_timeout``).
        jitter: Downward jitter fraction in [0, 1) of each open duration, so replicas
            with local breakers do not probe in lockstep (default 0).
        retry_after: What a provider's Retry-After does: ``"extend"`` (default: an open
            period lasts at least that long), ``"trip"`` (a failure carrying a hint of at
            least ``retry_after_trip_min`` opens at once) or ``"ignore"``.
        retry_after_trip_min: Smallest hint that trips with ``retry_after="trip"`` (1 s).
        classify: Turns an exception into an ``Outcome`` (default ``classify_error``).

    Raises:
        ValueError: Naming the field, for zero, negative or non-integer thresholds,
            durations that are not a number in (0, MAX_SECONDS], rates outside (0, 1] and
            unknown modes.
    """

    failure_threshold: int = 5
    success_threshold: int = 2
    reset_timeout: float = 30.0
    half_open_max_calls: int | None = None
    probe_lease_ttl: float = 120.0
    mode: Literal["consecutive", "ratio"] = "consecutive"
    window: Literal["count", "time"] = "count"
    window_size: int = 100
    window_seconds: float = 60.0
    window_buckets: int = 10
    minimum_calls: int = 20
    failure_rate_threshold: float = 0.5
    slow_call_duration: float | None = None
    slow_call_rate_threshold: float = 1.0
    backoff_multiplier: float = 1.0
    max_reset_timeout: float | None = None
    jitter: float = 0.0
    retry_after: Literal["extend", "trip", "ignore"] = "extend"
    retry_after_trip_min: float = 1.0
    classify: Callable[[BaseException], Outcome] = classify_error
    probe_budget: int = field(init=False, repr=False, compare=False)
    """``half_open_max_calls`` resolved."""
    open_cap: float = field(init=False, repr=False, compare=False)
    """``max_reset_timeout`` resolved."""
    needs_clock: bool = field(init=False, repr=False, compare=False)
    """Whether a closed-state call needs clock readings (windows, slow calls)."""

    def __post_init__(self) -> None:
        _at_least_one("failure_threshold", self.failure_threshold)
        _at_least_one("success_threshold", self.success_threshold)
        _positive("reset_timeout", self.reset_timeout)
        if self.half_open_max_calls is not None:
            _at_least_one("half_open_max_calls", self.half_open_max_calls)
        _positive("probe_lease_ttl", self.probe_lease_ttl)
        _one_of("mode", self.mode, ("consecutive", "ratio"))
        _one_of("window", self.window, ("count", "time"))
        _at_least_one("window_size", self.window_size)
        _positive("window_seconds", self.window_seconds)
        _at_least_one("window_buckets", self.window_buckets)
        _at_least_one("minimum_calls", self.minimum_calls)
        _rate("failure_rate_threshold", self.failure_rate_threshold)
        if self.slow_call_duration is not None:
            _positive("slow_call_duration", self.slow_call_duration)
        _rate("slow_call_rate_threshold", self.slow_call_rate_threshold)
        if not (math.isfinite(self.backoff_multiplier) and self.backoff_multiplier >= 1):
            msg = (
                "CircuitConfig.backoff_multiplier must be a finite number >= 1, "
                f"got {self.backoff_multiplier!r}"
            )
            raise ValueError(msg)
        if self.max_reset_timeout is not None:
            _positive("max_reset_timeout", self.max_reset_timeout)
            if self.max_reset_timeout < self.reset_timeout:
                msg = (
                    f"CircuitConfig.max_reset_timeout ({self.max_reset_timeout}) must be "
                    f">= reset_timeout ({self.reset_timeout})"
                )
                raise ValueError(msg)
        if not (0 <= self.jitter < 1):
            msg = f"CircuitConfig.jitter must be in [0, 1), got {self.jitter!r}"
            raise ValueError(msg)
        _one_of("retry_after", self.retry_after, ("extend", "trip", "ignore"))
        _positive("retry_after_trip_min", self.retry_after_trip_min)
        classify: object = self.classify
        if not callable(classify):
            msg = f"CircuitConfig.classify must be callable, got {self.classify!r}"
            raise ValueError(msg)
        budget = self.half_open_max_calls or self.success_threshold
        cap = self.max_reset_timeout or max(300.0, self.reset_timeout)
        clocked = self.mode == "ratio" or self.slow_call_duration is not None
        object.__setattr__(self, "probe_budget", budget)
        object.__setattr__(self, "open_cap", cap)
        object.__setattr__(self, "needs_clock", clocked)

    @classmethod
    def conservative(cls) -> Self:
        """The seed's production preset: 3 failures open, 3 probe successes close, 60 s open.

        Returns:
            The config.
        """
        return cls(failure_threshold=3, success_threshold=3, reset_timeout=60.0)
