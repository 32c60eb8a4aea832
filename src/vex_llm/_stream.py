"""The one stream path: what every wrapper's ``stream()`` returns, and the one timer per wait.

A wrapper's stream is a ``ChunkStream``: an object with ``__aiter__``, ``__anext__`` and
``aclose`` (not an async generator). Its first step is the wrapper's own (acquire a
permit, retry, fall back, race a hedge); once the first chunk is in, the outer stream
*absorbs* the inner one: it reads the innermost source directly and keeps the inner
streams only as stages whose hooks run at the end. So a chunk costs one hop whatever the
number of layers, and one helper owns the bookkeeping every layer used to repeat:

- the partial text and tool calls, for ``StreamInterrupted.partial`` and
  ``.partial_tool_calls``;
- the finish reason: a source that ends without one is ``StreamInterrupted`` (checked
  here only); the chunk that carries one is a success in every stage *before* it is
  handed on, whatever the consumer then does with the stream;
- closing: ``aclose()`` before the finish reason is "abandoned" (no evidence); a stream
  dropped unclosed is closed by a task scheduled from ``__del__``, as asyncio does for
  async generators, and only the outermost stream does it;
- the per-wait limits of every stage (a ``TimeoutProvider``'s idle limit, a
  ``DeadlineProvider``'s deadline), enforced by one ``Guard``: the tightest limit is
  chosen per wait, and its timer is moved only when it must fire earlier (so a steady
  stream costs no timer operation per chunk, whatever the number of layers).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Final, NamedTuple

from ._collect import ToolCallParts
from ._errors import StreamInterrupted
from ._guard import Guard, Limit
from ._tools import ToolCall
from ._types import StreamChunk

_NEW: Final = 0
_RUNNING: Final = 1
_DONE: Final = 2
_ABSORBED: Final = 3
_NO_PARTS: Final[list[str]] = []  # a new stream's text: never appended to (see ``_adopt``)


class Restart(NamedTuple):
    """A stage replaced a broken source: hand on ``marker`` (if any), then ``first``."""

    marker: StreamChunk | None
    first: StreamChunk
    source: AsyncIterator[StreamChunk]


async def first_chunk(chunks: AsyncIterator[StreamChunk], name: str) -> StreamChunk:
    """The first chunk of a stream a wrapper just opened; the stream is closed on failure.

    Raises:
        StreamInterrupted: The stream ended before any chunk.
    """
    try:
        return await anext(chunks)
    except StopAsyncIteration:
        await close_source(chunks)
        msg = f"stream from {name!r} ended without a finish reason"
        raise StreamInterrupted(msg, provider=name) from None
    except BaseException:
        await close_source(chunks)
        raise


async def close_source(chunks: AsyncIterator[object]) -> None:
    """Close an iterator if it can be closed (async generators and ``ChunkStream`` can)."""
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()


class ChunkStream:
    """The stream a wrapper returns; subclasses give the first step and the end hooks.

    Subclasses implement ``_start()`` (open the inner stream, return its first chunk and
    the stream) and override the hooks they need: ``_finished()`` (the finish reason
    arrived, before it is handed on), ``_failed(error, stream)`` (the stream broke after
    its first chunk: record it, return the error to raise, or a ``Restart``),
    ``_abandoned()`` (closed before its finish reason) and ``_limits()`` (per-wait limits).
    A failure during ``_start()`` is the subclass's own to account for.

    Args:
        name: The wrapped provider's name (errors name it).
    """

    __slots__ = (
        "_calls",
        "_guard",
        "_loop",
        "_name",
        "_parts",
        "_pending",
        "_pending_from",
        "_source",
        "_source_name",
        "_stages",
        "_state",
    )

    def __init__(self, name: str) -> None:
        self._name = name
        self._source_name = name
        self._state = _NEW
        self._source: AsyncIterator[StreamChunk] | None = None
        self._stages: list[ChunkStream] = []
        self._parts = _NO_PARTS  # the real list comes with the first chunk (``_adopt``)
        self._calls: ToolCallParts | None = None  # made when a tool call first appears
        self._pending: StreamChunk | None = None
        self._pending_from = 0
        self._guard: Guard | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- what subclasses give -------------------------------------------------------------

    async def _start(self) -> tuple[StreamChunk, AsyncIterator[StreamChunk]]:
        """Open the inner stream; return its first chunk and the stream."""
        raise NotImplementedError

    async def _finished(self) -> None:
        """The finish reason arrived; runs before the chunk is handed on."""

    async def _failed(self, error: BaseException, stream: ChunkStream) -> BaseException | Restart:
        """The stream broke after its first chunk; return what to raise (or a ``Restart``)."""
        return error

    async def _abandoned(self) -> None:
        """The consumer closed the stream before its finish reason."""

    def _limits(self) -> tuple[Limit, ...]:
        """Limits on each wait for a chunk after the first."""
        return ()

    # -- the iterator ---------------------------------------------------------------------

    @property
    def partial(self) -> str:
        """The text handed on so far (since the last restart)."""
        return "".join(self._parts)

    @property
    def partial_tool_calls(self) -> tuple[ToolCall, ...]:
        """The tool calls handed on so far (since the last restart), arguments as received."""
        return () if self._calls is None else self._calls.partial()

    def __aiter__(self) -> ChunkStream:
        return self

    async def __anext__(self) -> StreamChunk:
        if self._state != _RUNNING or self._pending is not None:
            return await self._slow_step()
        guard = self._guard
        source = self._source
        assert source is not None
        try:
            if guard is None:
                chunk = await source.__anext__()
            else:
                guard.arm()
                try:
                    chunk = await source.__anext__()
                finally:
                    guard.disarm()
        except BaseException as exc:
            return await self._broken(exc)
        self._parts.append(chunk.delta)
        if chunk.tool_calls:
            self._add_calls(chunk)
        if chunk.finish_reason is not None:
            await self._finish(0)
        return chunk

    async def _slow_step(self) -> StreamChunk:
        """The first step, a chunk owed after a restart, or the end."""
        if self._state == _RUNNING:
            chunk = self._pending
            assert chunk is not None
            self._pending = None
            if chunk.finish_reason is not None:
                await self._finish(self._pending_from)
            return chunk
        if self._state != _NEW:
            raise StopAsyncIteration
        self._loop = asyncio.get_running_loop()
        self._state = _DONE  # until the start succeeds
        first, source = await self._start()
        self._adopt(first, source, [self])
        if first.finish_reason is not None:
            await self._finish(len(self._stages) - 1)
        return first

    def _adopt(
        self, first: StreamChunk, source: AsyncIterator[StreamChunk], outer: list[ChunkStream]
    ) -> None:
        """Read ``source`` (which gave ``first``) from now on; absorb it if it is ours."""
        if isinstance(source, ChunkStream) and source._state != _NEW:
            finished = source._state == _DONE
            self._source = None if finished else source._source
            self._stages = ([] if finished else source._stages) + outer
            self._parts = source._parts  # the inner stream already counted ``first``
            self._calls = source._calls
            self._source_name = source._source_name
            if source._guard is not None:
                source._guard.close()
                source._guard = None
            source._state = _ABSORBED
        else:
            self._source = source
            self._stages = outer
            self._source_name = self._name
            self._parts = [first.delta]
            self._calls = None
            if first.tool_calls:
                self._add_calls(first)
        self._state = _RUNNING
        limits: list[Limit] = []
        for stage in reversed(self._stages):
            for limit in stage._limits():
                if not limit.claimed:  # else enforced by the source itself
                    limits.append(limit)
        if self._guard is not None:
            self._guard.close()
        self._guard = None
        if limits:
            assert self._loop is not None
            self._guard = Guard(tuple(limits), self._loop)

    def _add_calls(self, chunk: StreamChunk) -> None:
        """Keep a chunk's tool-call pieces (the parts are made for the first of them)."""
        if self._calls is None:
            self._calls = ToolCallParts()
        self._calls.add(chunk.tool_calls)

    async def _finish(self, first_stage: int) -> None:
        """The finish reason is in: every stage (from ``first_stage``) records a success."""
        self._state = _DONE
        try:
            for stage in self._stages[first_stage:]:
                await stage._finished()
        finally:
            await self._close_source()

    async def _broken(self, exc: BaseException) -> StreamChunk:
        """The source failed after its first chunk: tell every stage, raise or restart."""
        if self._guard is not None:
            exc = self._guard.convert(exc)
        if isinstance(exc, StopAsyncIteration):
            name = self._source_name
            msg = f"stream from {name!r} ended without a finish reason"
            exc = StreamInterrupted(
                msg,
                partial=self.partial,
                partial_tool_calls=self.partial_tool_calls,
                provider=name,
            )
        self._state = _DONE
        await self._close_source()
        stages = self._stages
        for stage in stages:
            for limit in stage._limits():
                limit.claimed = False  # its enforcer is gone; a restarted source may claim it
        for index, stage in enumerate(stages):
            try:
                result = await stage._failed(exc, self)
            except BaseException as raised:  # a stage may raise instead of returning
                result = raised
            if isinstance(result, Restart):
                return await self._restart(result, stages[index:])
            exc = result
        raise exc

    async def _restart(self, restart: Restart, outer: list[ChunkStream]) -> StreamChunk:
        """Read the restarted source; hand on its marker first, if any."""
        self._adopt(restart.first, restart.source, outer)
        self._pending_from = len(self._stages) - len(outer)
        self._pending = restart.first
        if restart.marker is not None:
            return restart.marker
        return await self._slow_step()

    async def _close_source(self) -> None:
        if self._guard is not None:
            self._guard.close()
        source = self._source
        self._source = None
        if source is not None:
            await close_source(source)

    async def aclose(self) -> None:
        """Close the stream; before its finish reason that is "abandoned" (no evidence)."""
        state = self._state
        if state == _NEW:
            self._state = _DONE
            return
        if state != _RUNNING:
            return
        self._state = _DONE
        try:
            await self._close_source()
        finally:
            for stage in self._stages:
                await stage._abandoned()

    def __del__(self) -> None:
        # Dropped unclosed: close it on the loop, as asyncio closes an async generator.
        if self._state != _RUNNING:
            return
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(_close_later, self)
        except RuntimeError:  # pragma: no cover - the loop closed in between
            return


def _close_later(stream: ChunkStream) -> None:
    if stream._state != _RUNNING or stream._loop is None:
        return
    # The loop keeps the task until it is done, as for asyncio's own generator finalizer.
    _ = stream._loop.create_task(stream.aclose())
