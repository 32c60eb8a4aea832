"""The stream side of ``RateLimitedProvider``: admitted like a call, settled with the usage
that comes on the stream's last chunk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from .._errors import LOCAL_RATE_LIMIT, CircuitOpenError, RateLimited
from .._headers import observe_headers
from .._response import Usage
from .._stream import ChunkStream, close_source, first_chunk
from .._types import LlmRequest, StreamChunk

if TYPE_CHECKING:
    from .ratelimit import RateLimitedProvider, _Ticket


def unsent(exc: BaseException) -> bool:
    """Whether a call failed before reaching the provider (an open circuit, a limiter below)."""
    if isinstance(exc, CircuitOpenError):
        return True
    return isinstance(exc, RateLimited) and exc.code == LOCAL_RATE_LIMIT


class LimitedStream(ChunkStream):
    """A stream admitted by the limiter, settled with the usage on its last chunk."""

    __slots__ = ("_owner", "_request", "_ticket", "_usage")

    def __init__(self, owner: RateLimitedProvider, request: LlmRequest) -> None:
        super().__init__(owner.inner.name)
        self._owner = owner
        self._request = request
        self._ticket: _Ticket | None = None
        self._usage: Usage | None = None

    async def _start(self) -> tuple[StreamChunk, AsyncIterator[StreamChunk]]:
        owner = self._owner
        ticket = self._ticket = await owner._admit(self._request)
        inner = owner.inner
        try:
            with observe_headers(ticket.observe):
                chunks = inner.stream(self._request)
                first = await first_chunk(chunks, inner.name)
        except BaseException as exc:
            await owner._settle(ticket, None, unsent=unsent(exc))
            raise
        if first.usage is not None:
            self._usage = first.usage
        if first.finish_reason is not None:
            return first, chunks
        return first, _UsageTap(self, chunks)

    async def _finished(self) -> None:
        assert self._ticket is not None
        await self._owner._settle(self._ticket, self._usage)

    async def _failed(self, error: BaseException, stream: ChunkStream) -> BaseException:
        assert self._ticket is not None
        await self._owner._settle(self._ticket, None)
        return error

    async def _abandoned(self) -> None:
        assert self._ticket is not None
        await self._owner._settle(self._ticket, None)


class _UsageTap:
    """The source of a limited stream: hands chunks on and notes the usage (it comes on the
    last one). An object, not a generator: closing it before its first step must still
    close the stream below."""

    __slots__ = ("_chunks", "_owner")

    def __init__(self, owner: LimitedStream, chunks: AsyncIterator[StreamChunk]) -> None:
        self._owner = owner
        self._chunks = chunks

    def __aiter__(self) -> _UsageTap:
        return self

    async def __anext__(self) -> StreamChunk:
        chunk = await anext(self._chunks)
        if chunk.usage is not None:
            self._owner._usage = chunk.usage
        return chunk

    async def aclose(self) -> None:
        await close_source(self._chunks)
