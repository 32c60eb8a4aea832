"""Single flight: concurrent identical requests share one upstream call.

The upstream call runs in a task of its own, owned by the flight; callers wait on it
through a shield. A caller that is cancelled (or stops reading its stream) leaves the
flight and nothing else: the others still get the answer, or the error. The call is
cancelled only when its last caller leaves, and the flight is forgotten at that moment so
a caller arriving afterwards starts a fresh one. A stream flight reads the upstream stream
once and hands every chunk to each of its callers, live; a late caller first gets the
chunks it missed.

Flights are per event loop (a key names one flight per loop), so one cache can serve
several loops, in several threads, without a caller awaiting another loop's future.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Generic, TypeVar

from .._errors import StreamInterrupted
from .._provider import close_stream
from .._types import LlmResponse, StreamChunk

_T = TypeVar("_T")
_Key = tuple[asyncio.AbstractEventLoop, str]


class _Flight(Generic[_T]):
    __slots__ = ("callers", "result", "task")

    def __init__(self) -> None:
        self.callers = 0
        self.result: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        self.task: asyncio.Task[None] | None = None


class Flights:
    """The flights of ``complete()`` calls in progress, by cache key."""

    def __init__(self) -> None:
        self._flights: dict[_Key, _Flight[LlmResponse]] = {}
        self.joined = 0
        """Callers that got their answer from another caller's upstream call."""

    def __len__(self) -> int:
        return len(self._flights)

    async def run(
        self,
        text: str,
        call: Callable[[], Awaitable[LlmResponse]],
        keep: Callable[[LlmResponse], Awaitable[None]],
    ) -> LlmResponse:
        """The answer of the flight for ``key``, starting it with ``call`` if none is in
        the air; ``keep`` stores the answer once the callers have it."""
        key = (asyncio.get_running_loop(), text)
        flight = self._flights.get(key)
        if flight is None:
            flight = self._flights[key] = _Flight()
            flight.task = asyncio.ensure_future(self._fly(key, flight, call, keep))
        else:
            self.joined += 1
        flight.callers += 1
        try:
            return await asyncio.shield(flight.result)
        finally:
            flight.callers -= 1
            if flight.callers == 0 and not flight.result.done():
                self._abandon(key, flight)

    def _abandon(self, key: _Key, flight: _Flight[LlmResponse]) -> None:
        self._forget(key, flight)
        if flight.task is not None:
            flight.task.cancel()

    async def _fly(
        self,
        key: _Key,
        flight: _Flight[LlmResponse],
        call: Callable[[], Awaitable[LlmResponse]],
        keep: Callable[[LlmResponse], Awaitable[None]],
    ) -> None:
        result = flight.result
        try:
            answer = await call()
        except asyncio.CancelledError:
            result.cancel()
            self._forget(key, flight)
            raise
        except Exception as exc:
            result.set_exception(exc)
            result.exception()  # retrieved by its callers; a flight nobody awaits is quiet
            self._forget(key, flight)
            return
        result.set_result(answer)
        try:
            await keep(answer)
        finally:
            self._forget(key, flight)

    def _forget(self, key: _Key, flight: _Flight[LlmResponse]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]

    async def aclose(self) -> None:
        """Cancel the flights in the air and wait for them."""
        flights = list(self._flights.values())
        self._flights.clear()
        tasks = [f.task for f in flights if f.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _StreamFlight:
    __slots__ = ("callers", "chunks", "done", "error", "more", "task")

    def __init__(self) -> None:
        self.callers = 0
        self.chunks: list[StreamChunk] = []
        self.done = False
        self.error: BaseException | None = None
        self.more = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def publish(self) -> None:
        more, self.more = self.more, asyncio.Event()
        more.set()


class StreamFlights:
    """The flights of ``stream()`` calls in progress, by cache key."""

    def __init__(self) -> None:
        self._flights: dict[_Key, _StreamFlight] = {}
        self.joined = 0
        """Callers that followed another caller's upstream stream."""

    def __len__(self) -> int:
        return len(self._flights)

    async def follow(
        self,
        text: str,
        open_stream: Callable[[], AsyncIterator[StreamChunk]],
        keep: Callable[[list[StreamChunk]], Awaitable[None]],
    ) -> AsyncIterator[StreamChunk]:
        """The chunks of the flight for ``key`` (started with ``open_stream`` if none is
        in the air); ``keep`` gets every chunk of a stream that ended without an error."""
        key = (asyncio.get_running_loop(), text)
        flight = self._flights.get(key)
        if flight is None:
            flight = self._flights[key] = _StreamFlight()
            flight.task = asyncio.ensure_future(self._read(key, flight, open_stream, keep))
        else:
            self.joined += 1
        flight.callers += 1
        try:
            seen = 0
            while True:
                while seen < len(flight.chunks):
                    seen += 1
                    yield flight.chunks[seen - 1]
                if flight.done:
                    if flight.error is not None:
                        raise flight.error
                    return
                await flight.more.wait()
        finally:
            flight.callers -= 1
            if flight.callers == 0 and not flight.done:
                if self._flights.get(key) is flight:
                    del self._flights[key]
                if flight.task is not None:
                    # The last reader left: the upstream stream (its connection, its
                    # breaker permit) is closed before this reader's close returns.
                    flight.task.cancel()
                    await asyncio.wait({flight.task})

    async def _read(
        self,
        key: _Key,
        flight: _StreamFlight,
        open_stream: Callable[[], AsyncIterator[StreamChunk]],
        keep: Callable[[list[StreamChunk]], Awaitable[None]],
    ) -> None:
        chunks = open_stream()
        try:
            async for chunk in chunks:
                flight.chunks.append(chunk)
                flight.publish()
        except asyncio.CancelledError:
            # Only when every caller left, or the cache closed: whoever still reads must
            # not take the chunks so far for a whole answer.
            msg = "the cache closed while this stream was being read"
            flight.error = StreamInterrupted(msg)
            raise
        except Exception as exc:
            flight.error = exc
        finally:
            flight.done = True
            flight.publish()
            await close_stream(chunks)
        try:
            if flight.error is None:
                await keep(flight.chunks)
        finally:
            if self._flights.get(key) is flight:
                del self._flights[key]

    async def aclose(self) -> None:
        """Cancel the flights in the air and wait for them."""
        tasks = [f.task for f in self._flights.values() if f.task is not None]
        self._flights.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
