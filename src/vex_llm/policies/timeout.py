"""TimeoutProvider: per-attempt limits, and stream guards for the first token and idle gaps."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from .._clock import Sleep
from .._errors import DeadlineExceeded, Timeout
from .._guard import (
    Fixed,
    Limit,
    declared_limits,
    enforces_limits,
    limit_scope,
    on_loop_clock,
    within,
)
from .._limits import check_seconds, checked_as
from .._provider import LlmProvider, ProviderWrapper
from .._stream import ChunkStream, first_chunk
from .._types import LlmRequest, LlmResponse, StreamChunk
from ._scope import Deadline, current_deadline, time_left
from ._trace import base_name, emit


def _limit(name: str, value: float | None) -> None:
    if value is not None:
        checked_as(f"TimeoutConfig.{name}", check_seconds, value)


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeoutConfig:
    """How long one attempt may take.

    Each limit is further cut to the time left on the call's deadline, if one is set.

    Args:
        attempt_timeout: Seconds for one ``complete()`` (default 30 s: long enough for a
            long answer from a slow model, short enough to fall back well before a user
            gives up).
        first_token_timeout: Seconds from starting a stream to its first chunk (default
            ``None``: the same as ``attempt_timeout``). A silent provider is caught here.
        idle_timeout: Seconds allowed between two chunks of a stream (default ``None``:
            the same as ``attempt_timeout``). A stalled stream is caught here.

    Raises:
        ValueError: On a limit that is not a finite number > 0.
    """

    attempt_timeout: float = 30.0
    first_token_timeout: float | None = None
    idle_timeout: float | None = None

    def __post_init__(self) -> None:
        _limit("attempt_timeout", self.attempt_timeout)
        _limit("first_token_timeout", self.first_token_timeout)
        _limit("idle_timeout", self.idle_timeout)

    @property
    def first_token(self) -> float:
        """The effective time-to-first-token limit, seconds."""
        return self.first_token_timeout or self.attempt_timeout

    @property
    def idle(self) -> float:
        """The effective idle limit between chunks, seconds."""
        return self.idle_timeout or self.attempt_timeout


class TimeoutProvider(ProviderWrapper):
    """Bounds every attempt on a provider; a limit that fires raises ``Timeout``.

    ``complete()`` gets ``attempt_timeout``; a stream gets ``first_token_timeout`` until
    its first chunk and ``idle_timeout`` between chunks (the consumer's own time between
    chunks does not count). Every limit is cut to the time left on the call's deadline.
    Put it *inside* a ``ResilientProvider`` so the breaker counts the timeouts.

    Args:
        provider: The provider to bound.
        config: The limits.
        sleep: The sleep limits are measured with (default ``asyncio.sleep``; tests pass
            ``ManualClock.sleep``).
    """

    def __init__(
        self,
        provider: LlmProvider,
        config: TimeoutConfig | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(provider)
        self._config = config or TimeoutConfig()
        self._sleep = sleep
        self._base = base_name(provider)

    @property
    def config(self) -> TimeoutConfig:
        """The limits."""
        return self._config

    async def complete(self, request: LlmRequest) -> LlmResponse:
        limit, expired = self._bound(self._config.attempt_timeout, "attempt")
        if enforces_limits(self._inner):
            # The provider times the attempt with its own limit, under one timer.
            attempt = Fixed(limit, self._sleep, expired)
            with limit_scope((*declared_limits(), attempt)):
                return await self._inner.complete(request)
        async with within(limit, self._sleep, expired):
            return await self._inner.complete(request)

    def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
        return _TimedStream(self, request)

    def _bound(self, own: float, which: str) -> tuple[float, Callable[[], Timeout]]:
        """The limit for the next wait and the error raised when it expires."""
        left = time_left()
        by_deadline = left < own
        limit = max(0.0, left) if by_deadline else own
        return limit, lambda: self._expired(which, limit, by_deadline=by_deadline)

    def _expired(self, which: str, limit: float, *, by_deadline: bool) -> Timeout:
        """The error for a limit that ran out (traced as a ``timeout`` event)."""
        emit("timeout", self._base, wait=limit, detail="deadline" if by_deadline else which)
        if by_deadline:
            # A spent deadline is the caller's budget running out, not evidence about the
            # provider: its own class tells the breaker not to count it (classify_error).
            msg = f"{self._base}: the call's deadline was spent waiting for {which}"
            return DeadlineExceeded(msg, provider=self._base)
        msg = f"{self._base}: no {which.replace('_', ' ')} within {limit:.3g}s"
        return Timeout(msg, provider=self._base)


class _IdleLimit(Limit):
    """The idle limit between two chunks, cut to the time left on the call's deadline;
    before the first chunk, optionally, the first-token limit (one limit, not two, for
    the guard to ask on every wait).

    Args:
        owner: The ``TimeoutProvider``.
        scope: The call's deadline, if any.
        first_token: The loop time the first chunk is due by and the error for missing
            it (``None``: the first token is timed elsewhere, and this limit waits for
            ``started``).
    """

    __slots__ = (
        "_by_deadline",
        "_deadline",
        "_expires_at",
        "_first_due",
        "_first_expired",
        "_limit",
        "_own",
        "_owner",
        "started",
    )

    def __init__(
        self,
        owner: TimeoutProvider,
        scope: Deadline | None,
        first_token: tuple[float, Callable[[], Timeout]] | None = None,
    ) -> None:
        super().__init__(owner._sleep)
        self._owner = owner
        self._deadline = scope
        self._own = self._limit = owner.config.idle
        self._by_deadline = False
        # A deadline on the loop's clock is cut to from the guard's reading of that clock.
        on_loop = scope is not None and on_loop_clock(scope.clock)
        self._expires_at = scope.expires_at if scope is not None and on_loop else None
        self._first_due = math.inf
        self._first_expired: Callable[[], Timeout] | None = None
        if first_token is not None:
            self._first_due, self._first_expired = first_token
        self.started = False
        """The first chunk is out: before it, the first-token limit applies instead."""

    def remaining(self) -> float:
        if not self.started:
            due = self._first_due
            return due if due == math.inf else due - asyncio.get_running_loop().time()
        own = self._own
        if self._deadline is None:
            return own
        return self._cut(self._deadline.time_left())

    def left(self, now: float) -> float:
        if not self.started:
            return self._first_due - now
        expires_at = self._expires_at
        if expires_at is None:
            return self.remaining()
        # ``_cut`` inlined: this runs once per chunk.
        left = expires_at - now
        own = self._own
        self._by_deadline = by_deadline = left < own
        self._limit = limit = max(0.0, left) if by_deadline else own
        return limit

    def _cut(self, left: float) -> float:
        own = self._own
        self._by_deadline = left < own
        self._limit = max(0.0, left) if self._by_deadline else own
        return self._limit

    def expired(self) -> Timeout:
        if not self.started and self._first_expired is not None:
            return self._first_expired()
        return self._owner._expired("idle", self._limit, by_deadline=self._by_deadline)


class _TimedStream(ChunkStream):
    """A stream under the first-token limit, then (through the one guard) the idle limit."""

    __slots__ = ("_idle", "_owner", "_request")

    def __init__(self, owner: TimeoutProvider, request: LlmRequest) -> None:
        super().__init__(owner.inner.name)
        self._owner = owner
        self._request = request
        self._idle: tuple[Limit, ...] = ()

    async def _start(self) -> tuple[StreamChunk, AsyncIterator[StreamChunk]]:
        owner = self._owner
        limit, expired = owner._bound(owner.config.first_token, "first_token")
        inner = owner.inner
        if owner._sleep is asyncio.sleep and enforces_limits(inner):
            # The provider times the first token and then the idle gaps with its own
            # limits, under its one timer: one limit of ours covers both.
            due = asyncio.get_running_loop().time() + limit
            idle = _IdleLimit(owner, current_deadline(), (due, expired))
            self._idle = (idle,)
            with limit_scope(declared_limits() + self._idle):
                chunks = inner.stream(self._request)
                first = await first_chunk(chunks, inner.name)
        else:
            idle = _IdleLimit(owner, current_deadline())
            self._idle = (idle,)
            with limit_scope(declared_limits() + self._idle):
                async with within(limit, owner._sleep, expired):
                    chunks = inner.stream(self._request)
                    first = await first_chunk(chunks, inner.name)
        idle.started = True
        return first, chunks

    def _limits(self) -> tuple[Limit, ...]:
        return self._idle
