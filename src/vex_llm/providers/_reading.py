"""One stream's reading state: its text limits, its chunks and the errors it ends with."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx2

from .._clock import Clock, Sleep
from .._errors import LlmError, Timeout
from .._guard import Guard, Limit, claim_limits, on_loop_clock
from .._types import StreamChunk
from ._body import WireViolation
from ._sse import StreamReader

if TYPE_CHECKING:
    from ._base import HttpProvider


class StreamRead(Limit):
    """The reading of one stream: the wait for its headers, the time to first token from
    the request's start, then the idle limit between events once text flows (a ``Limit``
    for the stream's ``Guard``).

    One timer (``guard``) covers the whole stream, headers wait included, and is moved only
    when needed; each limit is timed once. The limits the layers above declared (a
    TimeoutProvider's first-token and idle limits, the call's deadline) are claimed here
    and enforced with ours, under that timer; ``close()`` hands them back.

    Args:
        provider: The provider reading.
        reader: The wire format's reader of this stream's events.
        clock: The provider's clock (its time is the limits' time).
        sleep: The sleep that belongs to ``clock`` (``asyncio.sleep``: the loop's timer).
        started: The clock time the request started (the limits count from it).
    """

    __slots__ = (
        "_claimed",
        "_clock",
        "_due",
        "_heading",
        "_idle",
        "_on_loop",
        "_provider",
        "_reader",
        "_ttft_due",
        "first",
        "fresh",
        "guard",
    )

    def __init__(
        self,
        provider: HttpProvider,
        reader: StreamReader,
        clock: Clock,
        sleep: Sleep,
        started: float,
    ) -> None:
        super().__init__(sleep)
        self._provider = provider
        self._reader = reader
        self._clock = clock
        self._on_loop = on_loop_clock(clock)
        self._ttft_due = started + provider._first_token_timeout
        headers_due = started + provider._headers_timeout
        # Until the headers come, the earlier of the two limits applies (and names itself).
        self._heading = headers_due <= self._ttft_due
        self._due = min(headers_due, self._ttft_due)
        self._idle = provider._idle_timeout
        self.first = True
        """No chunk handed on yet (the first names the model and provider)."""
        self.fresh = False
        """Events came since the last wait (the loop sets it; the next wait reads it)."""
        self._claimed = claim_limits()
        self.guard = Guard((self, *self._claimed), asyncio.get_running_loop())

    async def headers(self, client: httpx2.AsyncClient, request: httpx2.Request) -> httpx2.Response:
        """Send the request and wait for the response headers under the stream's one timer.

        Args:
            client: The provider's client.
            request: The stream request.

        Returns:
            The response, its body not yet read.

        Raises:
            Timeout: ``headers_timeout`` or ``ttft_timeout`` ran out (or a claimed limit).
            LlmError: The transport failed.
        """
        guard = self.guard
        provider = self._provider
        boundary = provider._boundary
        try:
            guard.arm()
            try:
                response = await client.send(request, stream=True)
            finally:
                guard.disarm()
        except BaseException as exc:
            error = guard.convert(exc)
            if isinstance(error, Timeout):
                cause = error.__cause__
                raise provider._fail(error) from (None if cause is None else boundary.cause(cause))
            if isinstance(error, httpx2.HTTPError):
                failure = boundary.transport_error(error, model=self._reader.model)
                raise provider._fail(failure) from boundary.cause(error)
            if error is exc:
                raise
            raise error from error.__cause__
        self._heading = False
        self._due = self._ttft_due
        return response

    def close(self) -> None:
        """The stream ended: cancel the timer and hand the claimed limits back."""
        self.guard.close()
        for limit in self._claimed:
            limit.claimed = False  # whoever reads next (a fallback) enforces them again

    def remaining(self) -> float:
        return self.left(self._clock())

    def left(self, now: float) -> float:
        if not self._on_loop:
            now = self._clock()
        if self.fresh:
            # Once text flows (or the answer finished) the idle limit runs from the last
            # events; a read that completes no event does not restart it.
            self.fresh = False
            if not self.first or self._reader.finish_reason is not None:
                self._due = now + self._idle
        return self._due - now

    def expired(self) -> Timeout:
        provider = self._provider
        if self._heading:
            seconds, code = provider._headers_timeout, "headers_timeout"
        elif self.first:
            seconds, code = provider._first_token_timeout, "ttft_timeout"
        else:
            seconds, code = provider._idle_timeout, "idle_timeout"
        return provider._boundary.deadline_error(code, seconds, model=self._reader.model)

    async def drain(self, raw: AsyncIterator[bytes]) -> None:
        """Read the body on to its end after the terminator, unparsed.

        A response closed before its end closes its connection; read to the end, the
        connection goes back to the pool for the next call. Servers end the body right
        after the terminator; one that does not is given ``HttpLimits.drain_timeout`` and
        at most ``max_sse_line_bytes`` more, then closed as before. The answer is whole
        already: a failure here only costs the connection.
        """
        limits = self._provider._limits
        left = limits.max_sse_line_bytes
        try:
            async with asyncio.timeout(limits.drain_timeout):
                while left > 0:
                    left -= len(await raw.__anext__())
        except (StopAsyncIteration, TimeoutError, LlmError, httpx2.HTTPError, WireViolation):
            return

    def chunk(self, piece: str | StreamChunk) -> StreamChunk:
        """The chunk for what an event added; the first one says which model and provider
        serve the stream."""
        if self.first:
            self.first = False
            model, name = self._reader.model, self._provider.name
            if isinstance(piece, str):
                return StreamChunk(piece, model=model, provider=name)
            return dataclasses.replace(piece, model=model, provider=name)
        return StreamChunk(piece) if isinstance(piece, str) else piece

    def last(self) -> StreamChunk:
        """The closing chunk: finish reason and usage.

        Raises:
            StreamInterrupted: The body ended before its finish reason.
        """
        reader = self._reader
        provider = self._provider
        if reader.finish_reason is None:
            error = provider._boundary.interrupted(reader.partial, model=reader.model)
            raise provider._fail(error)
        return StreamChunk(
            "",
            finish_reason=reader.finish_reason,
            usage=reader.usage,
            model=reader.model,
            provider=provider.name,
            provider_finish_reason=reader.provider_finish_reason,
        )

    def failed(self, exc: BaseException) -> None:
        """Return if a failed read merely ends a finished stream; otherwise raise its error."""
        reader = self._reader
        provider = self._provider
        boundary = provider._boundary
        ended = isinstance(exc, Timeout | httpx2.HTTPError | WireViolation)
        if ended and reader.finish_reason is not None:
            return
        if isinstance(exc, Timeout):
            cause = exc.__cause__
            raise provider._fail(exc) from (None if cause is None else boundary.cause(cause))
        if isinstance(exc, httpx2.HTTPError | WireViolation):
            raise provider._fail(self._broken(exc)) from boundary.cause(exc)
        raise exc

    def _broken(self, exc: httpx2.HTTPError | WireViolation) -> LlmError:
        """The error for a stream body that broke or broke the wire format mid-way."""
        reader = self._reader
        boundary = self._provider._boundary
        if isinstance(exc, WireViolation):
            return boundary.invalid(str(exc), model=reader.model, partial=reader.partial)
        return boundary.transport_error(exc, model=reader.model, partial=reader.partial)
