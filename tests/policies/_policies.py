"""Shared by the policy tests: a virtual-time driver and a stream that breaks on cue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import TypeVar

from vex_llm import LlmError, LlmProvider, LlmRequest, LlmResponse, StreamChunk
from vex_llm.testing import ManualClock

T = TypeVar("T")


async def drive(clock: ManualClock, work: Awaitable[T], *, step: float = 0.01) -> T:
    """Run ``work`` while moving ``clock`` forward in small steps whenever everything waits.

    Sleepers on ``clock.sleep`` wake in order, so timeouts, backoffs and hedge delays
    play out in virtual time; nothing sleeps for real.
    """
    task = asyncio.ensure_future(work)
    start = clock.now
    while not task.done():
        for _ in range(20):
            await asyncio.sleep(0)
            if task.done():
                break
        else:
            if clock.now - start > 3600:
                task.cancel()
                msg = "virtual time ran an hour without the work finishing"
                raise AssertionError(msg)
            clock.advance(step)
    return await task


async def collect(chunks: AsyncIterator[StreamChunk]) -> list[StreamChunk]:
    """Every chunk of a stream."""
    return [chunk async for chunk in chunks]


def request(prompt: str = "hello") -> LlmRequest:
    """A one-turn request."""
    return LlmRequest.from_prompt(prompt)


class BreakingStream(LlmProvider):
    """Streams ``deltas``, then raises ``error`` (or ends without a finish reason if None);
    with ``finish`` set, ends properly instead. ``complete()`` answers with the whole text.
    """

    def __init__(
        self,
        deltas: Sequence[str],
        *,
        error: LlmError | None = None,
        finish: bool = False,
        name: str = "breaking",
    ) -> None:
        self._deltas = tuple(deltas)
        self._error = error
        self._finish = finish
        self._name = name
        self.calls = 0
        self.closed_streams = 0

    @property
    def name(self) -> str:
        return self._name

    async def complete(self, request: LlmRequest) -> LlmResponse:
        self.calls += 1
        return LlmResponse("".join(self._deltas), provider=self._name, finish_reason="stop")

    async def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
        self.calls += 1
        try:
            last = len(self._deltas) - 1
            for index, delta in enumerate(self._deltas):
                done = self._finish and index == last
                yield StreamChunk(
                    delta,
                    finish_reason="stop" if done else None,
                    provider=self._name if index in (0, last) else None,
                )
                await asyncio.sleep(0)
            if self._error is not None and not self._finish:
                raise self._error
        finally:
            self.closed_streams += 1
