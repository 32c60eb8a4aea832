"""The chaos lab's traffic driver: send requests through a provider and record every call.

Traffic is bounded in count and time and stops by itself; it goes only where the given
provider sends it (the lab points providers at FakeLLMServer on 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from .._clock import Clock
from .._errors import LlmError, StreamInterrupted
from .._limits import check_count, check_seconds, checked_as
from .._provider import LlmProvider, close_stream
from .._types import LlmRequest, StreamReset
from ._report import INTERRUPTED, CallRecord


async def drive(
    provider: LlmProvider,
    *,
    arm: str,
    duration: float,
    concurrency: int,
    started_at: float,
    prompt: Callable[[int], str],
    sink: list[CallRecord],
    stream: bool = False,
    max_requests: int = 100_000,
    pause: float = 0.0,
    clock: Clock = time.monotonic,
) -> None:
    """Send requests from ``concurrency`` workers until ``duration`` has passed.

    Each worker sends one request at a time. Stops after ``duration`` seconds or
    ``max_requests`` requests, whichever comes first; a request still running at the
    end is waited for (the provider's own timeouts bound it).

    A streamed request counts as answered only when its stream delivered a finish
    reason; a ``StreamReset`` marker drops the text received before it.

    Args:
        provider: Where to send them.
        arm: The label for the records.
        duration: Seconds of traffic.
        concurrency: Concurrent workers (>= 1).
        started_at: Clock time the whole run started (records are relative to it).
        prompt: Makes the prompt of the n-th request.
        sink: Receives a record per request, as it finishes.
        stream: Stream the answers instead of asking for whole ones.
        max_requests: Hard cap on requests.
        pause: Seconds each worker waits between its requests (0: back to back).
        clock: Monotonic seconds.

    Raises:
        ValueError: On a non-positive duration or concurrency.
    """
    checked_as("duration", check_seconds, duration)
    checked_as("concurrency", check_count, concurrency)
    traffic = _Traffic(
        provider=provider,
        arm=arm,
        end=clock() + duration,
        started_at=started_at,
        prompt=prompt,
        sink=sink,
        stream=stream,
        max_requests=max_requests,
        pause=pause,
        clock=clock,
    )
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(traffic.worker())


@dataclass(slots=True, kw_only=True)
class _Traffic:
    """What the workers of one ``drive`` share: where to send, when to stop, what to record."""

    provider: LlmProvider
    arm: str
    end: float
    started_at: float
    prompt: Callable[[int], str]
    sink: list[CallRecord]
    stream: bool
    max_requests: int
    pause: float
    clock: Clock
    issued: int = 0

    async def worker(self) -> None:
        """Send one request at a time until the time or the request cap runs out."""
        clock = self.clock
        while clock() < self.end and self.issued < self.max_requests:
            self.issued += 1
            request = LlmRequest.from_prompt(self.prompt(self.issued))
            begin = clock()
            try:
                served = await self._one(request)
            except LlmError as exc:
                self._record(begin, ok=False, error=type(exc).__name__)
            except asyncio.CancelledError:
                # The run was stopped (Ctrl-C) with this request unanswered: it counts as
                # one, so a partial report still shows requests stuck at that moment.
                self._record(begin, ok=False, error=INTERRUPTED)
                raise
            else:
                self._record(begin, ok=True, provider=served)
            # Always yield, so the other workers and the live view run.
            await asyncio.sleep(self.pause)

    def _record(
        self, begin: float, *, ok: bool, provider: str | None = None, error: str | None = None
    ) -> None:
        latency = self.clock() - begin
        self.sink.append(
            CallRecord(self.arm, begin - self.started_at, latency, ok, provider, error)
        )

    async def _one(self, request: LlmRequest) -> str:
        """Ask once; returns who answered."""
        if not self.stream:
            return (await self.provider.complete(request)).provider
        served = ""
        finished = False
        chunks = self.provider.stream(request)
        try:
            async for chunk in chunks:
                if isinstance(chunk, StreamReset):
                    served, finished = "", False
                    continue
                served = chunk.provider or served
                finished = finished or chunk.finish_reason is not None
        finally:
            await close_stream(chunks)
        if not finished:
            msg = "stream ended without a finish reason"
            raise StreamInterrupted(msg)
        return served
