"""DeadlineProvider: one overall deadline for a call, retries and fallbacks included."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

from .._clock import Clock, Sleep, sleep_for
from .._errors import DeadlineExceeded
from .._guard import Limit, declared_limits, limit_scope, on_loop_clock, within
from .._limits import check_seconds, checked_as
from .._provider import LlmProvider, ProviderWrapper
from .._stream import ChunkStream, first_chunk
from .._types import LlmRequest, LlmResponse, StreamChunk
from ._scope import Deadline, deadline_scope, time_left
from ._trace import emit


class DeadlineProvider(ProviderWrapper):
    """Gives every call at most ``seconds``, whatever the layers below it do.

    Each call opens a deadline (never later than one its caller already set, see
    ``deadline()``) that the layers below read: every attempt gets ``min(its own
    timeout, time left)``, retries wait only when the wait fits, fallbacks stop when the
    time is spent. The deadline is also enforced here: when it passes, the call is
    cancelled and ``DeadlineExceeded`` (a ``Timeout``) raised. For a stream it bounds the
    whole stream, last chunk included (an answer that cannot finish in time is not an
    answer in time).

    Args:
        provider: The provider (usually a fallback chain) to bound.
        seconds: The overall deadline, in seconds (> 0).
        clock: Monotonic seconds the deadline is measured on.
        sleep: The sleep the deadline is enforced with (default: the clock's ``sleep``, else
            ``asyncio.sleep``).

    Raises:
        ValueError: On a duration that is not a finite number > 0.
    """

    def __init__(
        self,
        provider: LlmProvider,
        seconds: float,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep | None = None,
    ) -> None:
        super().__init__(provider)
        self._seconds = checked_as("DeadlineProvider.seconds", check_seconds, seconds)
        self._clock = clock
        self._sleep = sleep if sleep is not None else sleep_for(clock)

    @property
    def seconds(self) -> float:
        """The deadline per call, seconds."""
        return self._seconds

    def _open(self) -> Deadline:
        allowed = min(self._seconds, time_left())
        return Deadline(self._clock() + allowed, self._clock)

    def _expired(self) -> Callable[[], DeadlineExceeded]:
        def expired() -> DeadlineExceeded:
            emit("timeout", self._inner.name, wait=self._seconds, detail="deadline")
            msg = (
                f"{self._inner.name}: no answer within the call's deadline of {self._seconds:.3g}s"
            )
            return DeadlineExceeded(msg, provider=self._inner.name)

        return expired

    async def complete(self, request: LlmRequest) -> LlmResponse:
        scope = self._open()
        with deadline_scope(scope):
            async with within(scope.time_left(), self._sleep, self._expired()):
                return await self._inner.complete(request)

    def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
        return _BoundedStream(self, request)


class _DeadlineLimit(Limit):
    """The call's deadline, on each wait for a chunk."""

    __slots__ = ("_due", "_expired", "_scope")

    def __init__(self, sleep: Sleep, scope: Deadline, expired: Callable[[], DeadlineExceeded]):
        super().__init__(sleep)
        self._scope = scope
        self._expired = expired
        # On the loop's clock the deadline is a fixed loop time: the guard reads it once.
        self._due = scope.expires_at if on_loop_clock(scope.clock) else None

    def remaining(self) -> float:
        return self._scope.time_left()

    def fixed_due(self) -> float | None:
        return self._due

    def expired(self) -> DeadlineExceeded:
        return self._expired()


class _BoundedStream(ChunkStream):
    """A stream that must finish, last chunk included, before the call's deadline.

    The deadline is the context of the first step only (when the layers below open their
    streams and decide); between chunks the consumer's own code runs untouched by it.
    """

    __slots__ = ("_limit", "_owner", "_request")

    def __init__(self, owner: DeadlineProvider, request: LlmRequest) -> None:
        super().__init__(owner.inner.name)
        self._owner = owner
        self._request = request
        self._limit: tuple[Limit, ...] = ()

    async def _start(self) -> tuple[StreamChunk, AsyncIterator[StreamChunk]]:
        owner = self._owner
        scope = owner._open()
        expired = owner._expired()
        self._limit = (_DeadlineLimit(owner._sleep, scope, expired),)
        with deadline_scope(scope), limit_scope(declared_limits() + self._limit):
            async with within(scope.time_left(), owner._sleep, expired):
                chunks = owner.inner.stream(self._request)
                return await first_chunk(chunks, owner.inner.name), chunks

    def _limits(self) -> tuple[Limit, ...]:
        return self._limit
