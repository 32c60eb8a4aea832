"""HedgeProvider: after a delay, ask a second provider too; the first answer wins."""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .._clock import Clock, Sleep, sleep_for
from .._errors import (
    CircuitOpenError,
    LlmError,
)
from .._limits import check_count, check_seconds, checked_as
from .._provider import LlmProvider
from .._stream import ChunkStream, close_source, first_chunk
from .._types import LlmRequest, LlmResponse, StreamChunk
from ._chain import Chain, stops_chain
from ._trace import EventKind, emit

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class HedgeConfig:
    """When a hedged request starts.

    Args:
        delay: Seconds to wait for the first provider before asking the next (default
            2.0); with ``quantile`` set, the delay used until enough latencies are known.
        quantile: Make the delay adaptive: the given quantile of recent answer latencies
            (``0.95``: hedge the slowest 5 %), in (0, 1). ``None`` (default) keeps it fixed.
        window: How many recent latencies the adaptive delay looks at (default 100).
        min_samples: Latencies needed before the adaptive delay replaces ``delay``
            (default 20).

    Raises:
        ValueError: On a negative delay, a quantile outside (0, 1), or counts < 1.
    """

    delay: float = 2.0
    quantile: float | None = None
    window: int = 100
    min_samples: int = 20

    def __post_init__(self) -> None:
        checked_as("HedgeConfig.delay", functools.partial(check_seconds, zero=True), self.delay)
        if self.quantile is not None and not (0.0 < self.quantile < 1.0):
            msg = f"HedgeConfig.quantile must be in (0, 1) or None, got {self.quantile!r}"
            raise ValueError(msg)
        for name in ("window", "min_samples"):
            checked_as(f"HedgeConfig.{name}", check_count, getattr(self, name))


@dataclass(slots=True)
class _Entrant(Generic[T]):
    index: int
    started: float
    task: asyncio.Task[T]


class HedgeProvider(Chain):
    """Starts the same request on the next provider when the first is slow.

    The first provider is asked at once. If it has not answered after the hedge delay
    (fixed, or adaptive from recent latencies), the next provider is asked too, and so on
    down the list; a provider that fails early lets the next one start at once. The first
    success wins and the others are cancelled: a ``ResilientProvider`` below treats
    the cancellation as no evidence and releases its permit. Providers whose circuit is
    open are not asked. A caller error (``InvalidRequest``, ``AuthenticationFailed``)
    is raised at once; when every provider fails, ``AllProvidersFailed`` carries the
    errors. A stream is hedged on its first chunk: the first provider to produce one
    serves the whole stream.

    Args:
        providers: Primary first, then the providers to hedge on (at least two).
        config: When to hedge.
        clock: Monotonic seconds (latencies).
        sleep: How the hedge delay waits (default: the clock's ``sleep``, else ``asyncio.sleep``).

    Raises:
        ValueError: On fewer than two providers.
    """

    def __init__(
        self,
        providers: Sequence[LlmProvider],
        config: HedgeConfig | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep | None = None,
    ) -> None:
        super().__init__(providers, owner="HedgeProvider", minimum=2)
        self._config = config or HedgeConfig()
        self._clock = clock
        self._sleep = sleep if sleep is not None else sleep_for(clock)
        self._latencies: deque[float] = deque(maxlen=self._config.window)

    @property
    def name(self) -> str:
        return f"hedge({', '.join(self._names)})"

    @property
    def delay(self) -> float:
        """The hedge delay the next call will use, seconds."""
        config = self._config
        if config.quantile is None or len(self._latencies) < config.min_samples:
            return config.delay
        ordered = sorted(self._latencies)
        rank = min(len(ordered) - 1, math.ceil(config.quantile * len(ordered)) - 1)
        return ordered[max(0, rank)]

    async def complete(self, request: LlmRequest) -> LlmResponse:
        def start(index: int) -> Awaitable[LlmResponse]:
            return self._providers[index].complete(request)

        _, response = await self._race(start, None)
        return response

    def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
        return _HedgedStream(self, request)

    async def _race(
        self,
        start: Callable[[int], Awaitable[T]],
        drop: Callable[[int], Awaitable[None]] | None,
    ) -> tuple[int, T]:
        """Run ``start(i)`` for one provider after another until one succeeds.

        Returns:
            The winner's index and result.
        """
        race = _Race(self, start)
        try:
            return await race.run()
        finally:
            if race.timer is not None:
                race.timer.cancel()
            await self._cancel(race.entrants, drop)

    async def _cancel(
        self, losers: list[_Entrant[T]], drop: Callable[[int], Awaitable[None]] | None
    ) -> None:
        """Cancel the losing requests and wait until they are gone (permits released)."""
        for loser in losers:
            if not loser.task.done():
                emit("cancelled", self._names[loser.index])
                loser.task.cancel()
        if losers:
            await asyncio.gather(*(e.task for e in losers), return_exceptions=True)
        if drop is not None:
            for loser in losers:
                await drop(loser.index)

    def _all_failed(self, errors: list[LlmError]) -> LlmError:
        if not errors:
            emit("give_up", self.name, detail="all_failed")
            msg = f"{self.name}: every provider's circuit is open; none was asked"
            return CircuitOpenError(msg, breaker=self.name)
        return self._group(errors)


class _HedgedStream(ChunkStream):
    """A stream hedged on its first chunk: the first provider to give one serves it all."""

    __slots__ = ("_owner", "_request")

    def __init__(self, owner: HedgeProvider, request: LlmRequest) -> None:
        super().__init__(owner.name)
        self._owner = owner
        self._request = request

    async def _start(self) -> tuple[StreamChunk, AsyncIterator[StreamChunk]]:
        owner = self._owner
        streams: dict[int, AsyncIterator[StreamChunk]] = {}

        async def first(index: int) -> StreamChunk:
            chunks = owner.providers[index].stream(self._request)
            streams[index] = chunks
            return await first_chunk(chunks, owner._names[index])

        async def drop(index: int) -> None:
            chunks = streams.pop(index, None)
            if chunks is not None:
                await close_source(chunks)

        winner, chunk = await owner._race(first, drop)
        return chunk, streams.pop(winner)


class _Race(Generic[T]):
    """One hedged call: who was asked, who failed, and the hedge timer."""

    def __init__(self, owner: HedgeProvider, start: Callable[[int], Awaitable[T]]) -> None:
        self._owner = owner
        self._start = start
        self._delay = owner.delay
        self.entrants: list[_Entrant[T]] = []
        self._errors: list[LlmError] = []
        self._position = 0  # the next provider to ask
        self.timer: asyncio.Task[None] | None = None

    def _more(self) -> bool:
        return self._position < len(self._owner.providers)

    async def _launch(self, why: EventKind | None) -> None:
        """Ask the next available provider (``why``: the event that explains it)."""
        owner = self._owner
        while self._more():
            index = self._position
            self._position += 1
            name = owner._names[index]
            if not await owner.providers[index].is_available():
                emit("skip", name, detail="circuit_open")
                continue
            if why is not None:
                emit(why, name, wait=self._delay if why == "hedge" else None)
            emit("attempt", name)
            task = asyncio.ensure_future(self._start(index))
            self.entrants.append(_Entrant(index, owner._clock(), task))
            return

    async def run(self) -> tuple[int, T]:
        """Race until a winner; raise when everyone failed or a caller error came."""
        await self._launch(None)
        while True:
            running = [e for e in self.entrants if not e.task.done()]
            if not running:
                if not self._more():
                    raise self._owner._all_failed(self._errors)
                # Everyone asked so far failed early: ask the next one now.
                if self.timer is not None:
                    self.timer.cancel()
                    self.timer = None
                await self._launch("fallback")
                continue
            waiting: set[asyncio.Future[Any]] = {e.task for e in running}
            if self.timer is None and self._more():
                self.timer = asyncio.ensure_future(self._owner._sleep(self._delay))
            if self.timer is not None:
                waiting.add(self.timer)
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            winner = self._settle([e for e in running if e.task in done])
            if winner is not None:
                return winner.index, winner.task.result()
            if self.timer is not None and self.timer in done:
                self.timer = None
                await self._launch("hedge")

    def _settle(self, finished: list[_Entrant[T]]) -> _Entrant[T] | None:
        """The first finished entrant that succeeded; failures are kept (or raised)."""
        owner = self._owner
        for entrant in finished:
            name = owner._names[entrant.index]
            exc = entrant.task.exception()
            if exc is None:
                emit("success", name)
                owner._latencies.append(owner._clock() - entrant.started)
                self.entrants.remove(entrant)
                return entrant
            emit("failure", name, error=exc)
            if not isinstance(exc, LlmError) or stops_chain(exc):
                raise exc
            self._errors.append(exc)
        return None
