"""CachedProvider's single flight: identical requests in the air share one upstream call,
and a caller that leaves never fails the others."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest
from _policies import collect, request

from vex_llm import (
    CachedProvider,
    LlmProvider,
    LlmRequest,
    LlmResponse,
    ServerError,
    StreamChunk,
    StreamInterrupted,
    Usage,
)


class Gated(LlmProvider):
    """Answers only when the test opens the gate; counts calls, cancellations, streams."""

    def __init__(self, error: Exception | None = None) -> None:
        self.gate = asyncio.Event()
        self.calls = 0
        self.cancelled = 0
        self.error = error
        self.started = asyncio.Event()

    @property
    def name(self) -> str:
        return "gated"

    async def complete(self, request: LlmRequest) -> LlmResponse:
        self.calls += 1
        self.started.set()
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.error is not None:
            raise self.error
        return LlmResponse(f"answer {self.calls}", provider="gated", finish_reason="stop")

    async def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
        self.calls += 1
        self.started.set()
        try:
            yield StreamChunk("one ", provider="gated", model="g")
            await self.gate.wait()
            if self.error is not None:
                raise self.error
            yield StreamChunk("two", finish_reason="stop", usage=Usage.of(1, 2), provider="gated")
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


async def settle() -> None:
    """Let every ready task run until all of them wait."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_concurrent_identical_requests_make_one_call() -> None:
    """A hundred identical requests at once: one upstream call, a hundred equal answers."""
    upstream = Gated()
    cache = CachedProvider(upstream)
    calls = [asyncio.ensure_future(cache.complete(request())) for _ in range(100)]
    await settle()
    upstream.gate.set()
    answers = await asyncio.gather(*calls)
    assert upstream.calls == 1
    assert {a.content for a in answers} == {"answer 1"}
    stats = cache.stats()
    assert (stats.misses, stats.joined, stats.stored) == (100, 99, 1)


async def test_every_caller_gets_the_error() -> None:
    """When the shared call fails, each caller gets the error and nothing is stored."""
    upstream = Gated(error=ServerError("boom", status=503))
    cache = CachedProvider(upstream)
    calls = [asyncio.ensure_future(cache.complete(request())) for _ in range(5)]
    await settle()
    upstream.gate.set()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, ServerError) for r in results)
    assert upstream.calls == 1
    with pytest.raises(ServerError):
        await cache.complete(request())
    assert upstream.calls == 2


async def test_cancelled_leader_does_not_fail_followers() -> None:
    """The first caller is cancelled: the upstream call goes on and the others get it."""
    upstream = Gated()
    cache = CachedProvider(upstream)
    leader = asyncio.ensure_future(cache.complete(request()))
    await settle()
    followers = [asyncio.ensure_future(cache.complete(request())) for _ in range(3)]
    await settle()
    leader.cancel()
    await settle()
    assert leader.cancelled()
    upstream.gate.set()
    answers = await asyncio.gather(*followers)
    assert {a.content for a in answers} == {"answer 1"}
    assert (upstream.calls, upstream.cancelled) == (1, 0)
    assert cache.stats().stored == 1


async def test_last_caller_leaving_cancels_the_call() -> None:
    """When every caller is cancelled the upstream call is cancelled too, and the next
    caller starts afresh."""
    upstream = Gated()
    cache = CachedProvider(upstream)
    calls = [asyncio.ensure_future(cache.complete(request())) for _ in range(3)]
    await settle()
    for call in calls:
        call.cancel()
    await settle()
    assert upstream.cancelled == 1
    upstream.gate.set()
    assert (await cache.complete(request())).content == "answer 2"
    assert cache.stats().stored == 1


async def test_different_requests_fly_separately() -> None:
    """Requests that differ are not merged."""
    upstream = Gated()
    cache = CachedProvider(upstream)
    calls = [asyncio.ensure_future(cache.complete(request(f"q{i}"))) for i in range(3)]
    await settle()
    upstream.gate.set()
    await asyncio.gather(*calls)
    assert upstream.calls == 3


async def test_concurrent_streams_share_one_upstream_stream() -> None:
    """Identical streams at once read one upstream stream; each gets every chunk, live."""
    upstream = Gated()
    cache = CachedProvider(upstream)
    streams = [asyncio.ensure_future(collect(cache.stream(request()))) for _ in range(10)]
    await settle()
    upstream.gate.set()
    results = await asyncio.gather(*streams)
    assert upstream.calls == 1
    assert {"".join(c.delta for c in chunks) for chunks in results} == {"one two"}
    assert all(chunks[-1].finish_reason == "stop" for chunks in results)
    assert cache.stats().stored == 1


async def test_leader_closing_its_stream_does_not_cut_the_followers() -> None:
    """The first reader stops early; the others still read the whole stream, and it is
    stored."""
    upstream = Gated()
    cache = CachedProvider(upstream)
    leader = cache.stream(request())
    assert (await anext(leader)).delta == "one "
    follower = asyncio.ensure_future(collect(cache.stream(request())))
    await settle()
    await leader.aclose()  # type: ignore[attr-defined]  # an async generator
    upstream.gate.set()
    chunks = await follower
    assert "".join(c.delta for c in chunks) == "one two"
    assert (upstream.calls, upstream.cancelled) == (1, 0)
    assert cache.stats().stored == 1


async def test_stream_error_reaches_every_reader() -> None:
    """A stream that breaks breaks for every reader, after the chunks each one got."""
    upstream = Gated(error=StreamInterrupted("cut", partial="one "))
    cache = CachedProvider(upstream)
    streams = [asyncio.ensure_future(collect(cache.stream(request()))) for _ in range(3)]
    await settle()
    upstream.gate.set()
    results = await asyncio.gather(*streams, return_exceptions=True)
    assert all(isinstance(r, StreamInterrupted) for r in results)
    assert (upstream.calls, cache.stats().stored) == (1, 0)


async def test_aclose_cancels_calls_in_the_air() -> None:
    """Closing the cache cancels its upstream calls; their callers see CancelledError."""
    upstream = Gated()
    cache = CachedProvider(upstream)
    call = asyncio.ensure_future(cache.complete(request()))
    await settle()
    await cache.aclose()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert upstream.cancelled == 1


async def test_thousand_concurrent_requests_one_call() -> None:
    """1,000 identical requests at once cause exactly one upstream call."""
    upstream = Gated()
    cache = CachedProvider(upstream)
    calls = [asyncio.ensure_future(cache.complete(request())) for _ in range(1000)]
    await settle()
    upstream.gate.set()
    await asyncio.gather(*calls)
    assert upstream.calls == 1


class ThreadGated(LlmProvider):
    """Answers when a thread-safe gate opens; usable from several event loops."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.calls = 0

    @property
    def name(self) -> str:
        return "thread-gated"

    async def complete(self, request: LlmRequest) -> LlmResponse:
        self.calls += 1
        self.started.set()
        await asyncio.to_thread(self.gate.wait, 30)
        return LlmResponse("answer", provider=self.name, finish_reason="stop")


def test_flights_are_per_event_loop() -> None:
    """A call on another event loop (another thread) never waits on this loop's flight:
    it makes its own call, and both loops get their answer."""
    upstream = ThreadGated()
    cache = CachedProvider(upstream)
    answers: list[str] = []

    def run() -> None:
        answers.append(asyncio.run(cache.complete(request())).content)

    first = threading.Thread(target=run)
    first.start()
    assert upstream.started.wait(30)
    second = threading.Thread(target=run)
    second.start()
    while upstream.calls < 2 and second.is_alive():
        second.join(0.01)
    upstream.gate.set()
    first.join(30)
    second.join(30)
    assert answers == ["answer", "answer"]
    assert upstream.calls == 2
