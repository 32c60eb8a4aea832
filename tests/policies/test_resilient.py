"""ResilientProvider: the seed's wrapper, a provider behind a circuit breaker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from vex_llm import (
    AuthenticationFailed,
    CircuitConfig,
    CircuitOpenError,
    CircuitState,
    CircuitStats,
    ConnectionFailed,
    InvalidRequest,
    LlmProvider,
    LlmRequest,
    LlmResponse,
    MemoryStore,
    MockProvider,
    NotAvailable,
    RateLimited,
    ResilientProvider,
    ServerError,
    StreamChunk,
    StreamInterrupted,
)
from vex_llm.testing import ManualClock

REQUEST = LlmRequest.from_prompt("hello there")
RESET = 60.0


class Streamer(LlmProvider):
    """Streams fixed chunks, then optionally raises; records how its streams ended."""

    def __init__(
        self,
        deltas: tuple[str, ...] = ("one ", "two ", "three"),
        *,
        finish: bool = True,
        error: BaseException | None = None,
    ) -> None:
        self.deltas = deltas
        self.finish = finish
        self.error = error
        self.started = 0
        self.finished = 0

    @property
    def name(self) -> str:
        return "streamer"

    async def complete(self, request: LlmRequest) -> LlmResponse:
        return LlmResponse("".join(self.deltas), provider=self.name)

    async def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
        self.started += 1
        try:
            last = len(self.deltas) - 1
            for index, delta in enumerate(self.deltas):
                done = self.finish and index == last and self.error is None
                yield StreamChunk(delta, finish_reason="stop" if done else None)
            if self.error is not None:
                raise self.error
        finally:
            self.finished += 1


def guard(provider: LlmProvider, clock: ManualClock, **settings: object) -> ResilientProvider:
    config = CircuitConfig(  # the seed's conservative preset unless a test says otherwise
        **{"failure_threshold": 3, "success_threshold": 3, "reset_timeout": RESET, **settings}  # type: ignore[arg-type]  # test-built settings
    )
    return ResilientProvider(provider, config, clock=clock)


async def collect(chunks: AsyncIterator[StreamChunk]) -> str:
    return "".join([chunk.delta async for chunk in chunks])


async def trip(resilient: ResilientProvider) -> None:
    while resilient.circuit_state is not CircuitState.OPEN:
        with pytest.raises(ServerError):
            await resilient.complete(REQUEST)


def failing() -> MockProvider:
    return MockProvider.failing(ServerError("overloaded", status=503))


# -- the seed ---------------------------------------------------------------------------


async def test_passes_through() -> None:
    """Seed: wrap(MockProvider.smart()) answers and stays CLOSED."""
    resilient = ResilientProvider.wrap(MockProvider.smart())
    assert await resilient.ask("test")
    assert resilient.circuit_state is CircuitState.CLOSED


async def test_wrap_uses_the_conservative_preset() -> None:
    """Seed: wrap() is 3 failures / 3 successes / 60 s, named after the inner provider."""
    inner = MockProvider.smart(name="acme")
    resilient = ResilientProvider.wrap(inner)
    assert resilient.breaker.config == CircuitConfig.conservative()
    assert (resilient.name, resilient.breaker.name, resilient.inner) == (
        "resilient(acme)",
        "acme",
        inner,
    )
    assert isinstance(resilient, LlmProvider)


async def test_complete_returns_the_inner_response(clock: ManualClock) -> None:
    """Seed: the answer is the inner provider's, unchanged."""
    inner = MockProvider.smart()
    resilient = guard(inner, clock)
    response = await resilient.complete(LlmRequest.from_prompt("what is 2 + 3"))
    assert (response.content, response.provider) == ("5", "mock")
    assert inner.calls == 1


def test_rejects_a_non_provider() -> None:
    """A ResilientProvider wraps providers only."""
    with pytest.raises(TypeError, match="LlmProvider"):
        ResilientProvider("openai")  # type: ignore[arg-type]  # the misuse under test


# -- counting and rejection -------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        ConnectionFailed("refused"),
        NotAvailable("down"),
        RateLimited("slow down"),
        ServerError("boom", status=500),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_counted_failures_open_and_reject_fast(clock: ManualClock, error: Exception) -> None:
    """B01/B13: the threshold-th counted failure opens; then calls fail fast, provider untouched."""
    inner = MockProvider.failing(error)
    resilient = guard(inner, clock)
    for _ in range(3):
        with pytest.raises(type(error)):
            await resilient.complete(REQUEST)
    assert resilient.circuit_state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError) as caught:
        await resilient.complete(REQUEST)
    assert isinstance(caught.value, NotAvailable)
    assert (caught.value.provider, caught.value.breaker, caught.value.reason) == (
        "mock",
        "mock",
        "open",
    )
    assert caught.value.retry_after == pytest.approx(RESET)
    assert inner.calls == 3


@pytest.mark.parametrize(
    "error", [InvalidRequest("bad"), AuthenticationFailed("no key")], ids=lambda e: type(e).__name__
)
async def test_caller_errors_pass_through_uncounted(clock: ManualClock, error: Exception) -> None:
    """B03: caller errors reach the caller and count neither way, as in the seed."""
    resilient = guard(MockProvider.failing(error), clock)
    for _ in range(10):
        with pytest.raises(type(error)):
            await resilient.complete(REQUEST)
    stats = resilient.stats()
    assert (stats.state, stats.total_failures, stats.ignored) == (CircuitState.CLOSED, 0, 10)


async def test_stats_match_the_seed(clock: ManualClock) -> None:
    """Seed parity: total_requests counts rejected calls; failures and opens as the seed counts."""
    resilient = guard(failing(), clock)
    await trip(resilient)
    for _ in range(2):
        with pytest.raises(CircuitOpenError):
            await resilient.complete(REQUEST)
    stats = resilient.stats()
    assert isinstance(stats, CircuitStats)
    assert (stats.total_requests, stats.total_failures, stats.circuit_opens, stats.rejected) == (
        5,
        3,
        1,
        2,
    )


async def test_recovers_after_the_reset_timeout(clock: ManualClock) -> None:
    """B22: after reset_timeout, success_threshold good probes close the circuit again."""
    inner = MockProvider.scripted([ServerError("boom", status=503)] * 3)
    resilient = guard(inner, clock)
    await trip(resilient)
    clock.advance(RESET)
    assert resilient.circuit_state is CircuitState.HALF_OPEN
    for _ in range(3):
        await resilient.complete(REQUEST)
    assert resilient.circuit_state is CircuitState.CLOSED
    assert inner.calls == 6


async def test_retry_after_keeps_the_circuit_open(clock: ManualClock) -> None:
    """B35: a 429's Retry-After on the tripping failure holds off probes that long."""
    inner = MockProvider.scripted([RateLimited("slow down", retry_after=150.0)] * 3)
    resilient = guard(inner, clock)
    for _ in range(3):
        with pytest.raises(RateLimited):
            await resilient.complete(REQUEST)
    clock.advance(149.0)
    assert not await resilient.is_available()
    clock.advance(1.0)
    assert await resilient.is_available()


async def test_inner_breaker_rejections_are_not_counted(clock: ManualClock) -> None:
    """B03: an inner wrapper's CircuitOpenError passes through and does not trip the outer one."""
    inner = guard(failing(), clock, failure_threshold=1)
    outer = guard(inner, clock, failure_threshold=2)
    with pytest.raises(ServerError):
        await outer.complete(REQUEST)
    for _ in range(5):
        with pytest.raises(CircuitOpenError) as caught:
            await outer.complete(REQUEST)
        assert caught.value.provider == "mock"  # set by the wrapper that rejected
    stats = outer.stats()
    assert (stats.state, stats.total_failures, stats.ignored) == (CircuitState.CLOSED, 1, 5)


async def test_one_store_one_circuit_per_provider_name(clock: ManualClock) -> None:
    """B41: wrappers over one MemoryStore share the circuit of one provider name."""
    store = MemoryStore()
    config = CircuitConfig(failure_threshold=2)
    first = ResilientProvider(failing(), config, clock=clock, store=store)
    second = ResilientProvider(MockProvider.smart(), config, clock=clock, store=store)
    other = ResilientProvider(MockProvider.smart(name="other"), config, clock=clock, store=store)
    await trip(first)
    assert second.circuit_state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError):
        await second.complete(REQUEST)
    assert await other.ask("hi")


# -- is_available -----------------------------------------------------------------------


async def test_is_available_is_false_while_open(clock: ManualClock) -> None:
    """B13: is_available() says False while open, True again once probes are allowed."""
    resilient = guard(failing(), clock)
    assert await resilient.is_available()
    await trip(resilient)
    assert not await resilient.is_available()
    clock.advance(RESET - 0.001)
    assert not await resilient.is_available()
    clock.advance(0.001)
    assert await resilient.is_available()


async def test_is_available_uses_no_probe_slot(clock: ManualClock) -> None:
    """B19: asking is_available() in half-open never takes a probe slot."""
    inner = MockProvider.scripted([ServerError("boom", status=503)])
    resilient = guard(inner, clock, failure_threshold=1, success_threshold=1)
    with pytest.raises(ServerError):
        await resilient.complete(REQUEST)
    clock.advance(RESET)
    for _ in range(5):
        assert await resilient.is_available()
    assert resilient.stats().half_open_in_flight == 0
    await resilient.complete(REQUEST)
    assert resilient.circuit_state is CircuitState.CLOSED


async def test_is_available_is_false_while_isolated(clock: ManualClock) -> None:
    """B36: a circuit held open by hand is unavailable however long it waits."""
    resilient = guard(MockProvider.smart(), clock)
    resilient.breaker.force_open()
    clock.advance(1e6)
    assert not await resilient.is_available()


# -- streams ----------------------------------------------------------------------------


async def test_stream_passes_through_and_counts_a_success(clock: ManualClock) -> None:
    """Streams: chunks arrive unchanged; a finished stream is one success."""
    resilient = guard(MockProvider.smart(), clock)
    text = await collect(resilient.stream(LlmRequest.from_prompt("capital of France")))
    assert text == "Paris."
    stats = resilient.stats()
    assert (stats.total_requests, stats.total_failures, stats.ignored) == (1, 0, 0)


async def test_stream_holds_its_permit_until_the_end(clock: ManualClock) -> None:
    """B19: a probe stream holds its half-open slot until its last chunk, then closes it."""
    inner = Streamer()
    resilient = guard(inner, clock, failure_threshold=1, success_threshold=1)
    resilient.breaker.force_open(RESET)
    clock.advance(RESET)
    chunks = resilient.stream(REQUEST)
    first = await anext(chunks)
    assert first.delta == "one "
    assert resilient.stats().half_open_in_flight == 1
    with pytest.raises(CircuitOpenError) as caught:
        await resilient.complete(REQUEST)
    assert (caught.value.reason, caught.value.provider) == ("half_open_full", "streamer")
    assert resilient.circuit_state is CircuitState.HALF_OPEN
    assert await collect(chunks) == "two three"
    assert resilient.circuit_state is CircuitState.CLOSED
    assert inner.finished == 1


@pytest.mark.parametrize(
    "error",
    [StreamInterrupted("connection reset mid-stream"), ConnectionFailed("reset")],
    ids=lambda e: type(e).__name__,
)
async def test_broken_stream_counts_as_a_failure(clock: ManualClock, error: Exception) -> None:
    """B45: a stream that breaks re-raises the error unchanged and counts as a failure."""
    resilient = guard(Streamer(error=error), clock, failure_threshold=1)
    seen: list[str] = []

    async def consume() -> None:
        async for chunk in resilient.stream(REQUEST):
            seen.append(chunk.delta)

    with pytest.raises(type(error)) as caught:
        await consume()
    assert caught.value is error
    assert seen == ["one ", "two ", "three"]
    stats = resilient.stats()
    assert (stats.state, stats.total_failures) == (CircuitState.OPEN, 1)


async def test_stream_without_finish_reason_is_interrupted(clock: ManualClock) -> None:
    """Streams: a stream that ends without a finish reason is StreamInterrupted, a failure."""
    resilient = guard(Streamer(finish=False), clock, failure_threshold=1)
    with pytest.raises(StreamInterrupted) as caught:
        await collect(resilient.stream(REQUEST))
    assert (caught.value.partial, caught.value.provider) == ("one two three", "streamer")
    assert resilient.stats().total_failures == 1
    assert resilient.circuit_state is CircuitState.OPEN


async def test_stream_is_a_success_at_its_finish_chunk_and_is_not_read_past_it(
    clock: ManualClock,
) -> None:
    """The finish chunk settles the probe before it is handed on; a later error is not read."""

    class FinishThenFail(Streamer):
        async def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
            yield StreamChunk("all ", provider=self.name)
            yield StreamChunk("done", finish_reason="stop")
            raise ConnectionFailed("reset after the end")

    inner = FinishThenFail()
    resilient = guard(inner, clock, failure_threshold=1, success_threshold=1)
    resilient.breaker.force_open(RESET)
    clock.advance(RESET)
    chunks = resilient.stream(REQUEST)
    assert (await anext(chunks)).delta == "all "
    assert resilient.circuit_state is CircuitState.HALF_OPEN
    last = await anext(chunks)
    assert last.finish_reason == "stop"
    assert resilient.circuit_state is CircuitState.CLOSED  # before the generator is touched again
    assert await collect(chunks) == ""
    stats = resilient.stats()
    assert (stats.total_failures, stats.ignored) == (0, 0)


@pytest.mark.parametrize("how", ["aclose", "aclosing"])
async def test_abandoned_stream_is_ignored_and_frees_its_slot(clock: ManualClock, how: str) -> None:
    """B24: a stream closed after one chunk counts neither way, frees its slot and inner stream."""
    inner = Streamer()
    resilient = guard(inner, clock, failure_threshold=1, success_threshold=1)
    resilient.breaker.force_open(RESET)
    clock.advance(RESET)
    if how == "aclose":
        chunks = resilient.stream(REQUEST)
        await anext(chunks)
        await chunks.aclose()  # type: ignore[attr-defined]  # an async generator
    else:
        async with contextlib.aclosing(resilient.stream(REQUEST)) as chunks:  # type: ignore[type-var]  # an async generator
            async for _ in chunks:
                break
    stats = resilient.stats()
    assert (stats.state, stats.half_open_in_flight, stats.ignored, stats.total_failures) == (
        CircuitState.HALF_OPEN,
        0,
        1,
        0,
    )
    assert inner.finished == 1
    await resilient.complete(REQUEST)  # the freed slot admits the next probe
    assert resilient.circuit_state is CircuitState.CLOSED


async def test_cancelled_stream_is_ignored(clock: ManualClock) -> None:
    """B46: a consumer cancelled mid-stream counts neither way and frees the slot."""
    release = asyncio.Event()

    class Stalling(Streamer):
        async def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
            yield StreamChunk("first ")
            await release.wait()
            yield StreamChunk("never", finish_reason="stop")

    resilient = guard(Stalling(), clock, failure_threshold=1, success_threshold=1)
    resilient.breaker.force_open(RESET)
    clock.advance(RESET)
    got_first = asyncio.Event()

    async def consume() -> None:
        async for _ in resilient.stream(REQUEST):
            got_first.set()

    task = asyncio.create_task(consume())
    await got_first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stats = resilient.stats()
    assert (stats.half_open_in_flight, stats.ignored, stats.total_failures) == (0, 1, 0)


async def test_stream_rejected_while_open(clock: ManualClock) -> None:
    """B13/B14: an open circuit rejects a stream before it reaches the provider, naming it."""
    inner = Streamer()
    resilient = guard(inner, clock)
    resilient.breaker.force_open(RESET)
    with pytest.raises(CircuitOpenError) as caught:
        await collect(resilient.stream(REQUEST))
    assert (caught.value.provider, caught.value.reason) == ("streamer", "open")
    assert inner.started == 0
    assert resilient.stats().rejected == 1


# -- lifecycle --------------------------------------------------------------------------


async def test_aclose_closes_the_inner_provider(clock: ManualClock) -> None:
    """A wrapper is an async context manager that closes the provider it guards."""
    inner = MockProvider.smart()
    async with guard(inner, clock) as resilient:
        assert await resilient.ask("hi")
    assert inner.closed
