"""TimeoutProvider: attempt, first-token and idle limits, cut to the call's deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from _policies import collect, drive, request

from vex_llm import (
    CircuitConfig,
    LlmProvider,
    LlmRequest,
    LlmResponse,
    MockProvider,
    ResilientProvider,
    StreamChunk,
    Timeout,
    deadline,
    trace,
)
from vex_llm._guard import Limit, claim_limits
from vex_llm.policies import TimeoutConfig, TimeoutProvider
from vex_llm.testing import ManualClock


class _Dribble(LlmProvider):
    """Waits ``gaps[i]`` seconds (on ``sleep``) before chunk ``i``; the last chunk finishes."""

    def __init__(self, gaps: list[float], sleep: ManualClock) -> None:
        self._gaps = gaps
        self._clock = sleep
        self.cancelled = False

    @property
    def name(self) -> str:
        return "dribble"

    async def complete(self, request: LlmRequest) -> LlmResponse:
        raise NotImplementedError

    async def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
        try:
            for index, gap in enumerate(self._gaps):
                await self._clock.sleep(gap)
                last = index == len(self._gaps) - 1
                yield StreamChunk(f"c{index}", finish_reason="stop" if last else None)
        except asyncio.CancelledError:
            self.cancelled = True
            raise


async def test_a_silent_provider_times_out_after_the_attempt_timeout() -> None:
    """complete() on a hanging provider raises Timeout at attempt_timeout, not later."""
    clock = ManualClock()
    silent = MockProvider.smart(latency=1e6, sleep=clock.sleep)
    bounded = TimeoutProvider(silent, TimeoutConfig(attempt_timeout=2.0), sleep=clock.sleep)
    with pytest.raises(Timeout, match="within 2s"):
        await drive(clock, bounded.complete(request()))
    assert clock.now == pytest.approx(2.0, abs=0.02)


async def test_a_fast_answer_passes_untouched() -> None:
    """An answer inside the limit comes back as the provider gave it."""
    clock = ManualClock()
    quick = MockProvider.smart(latency=0.5, sleep=clock.sleep)
    bounded = TimeoutProvider(quick, TimeoutConfig(attempt_timeout=2.0), sleep=clock.sleep)
    response = await drive(clock, bounded.complete(request("capital of france")))
    assert response.content == "Paris."
    assert clock.sleepers == 0  # the watchdog is gone


@pytest.mark.parametrize(
    ("gaps", "expect"),
    [([5.0, 0.1], "first token"), ([0.1, 0.1, 5.0, 0.1], "idle")],
)
async def test_stream_guards_catch_slow_starts_and_stalls(gaps: list[float], expect: str) -> None:
    """A slow first token and a stall between chunks both raise Timeout."""
    clock = ManualClock()
    source = _Dribble(gaps, clock)
    config = TimeoutConfig(attempt_timeout=60.0, first_token_timeout=1.0, idle_timeout=1.0)
    bounded = TimeoutProvider(source, config, sleep=clock.sleep)
    with pytest.raises(Timeout, match=expect):
        await drive(clock, collect(bounded.stream(request())))
    assert source.cancelled


async def test_consumer_time_between_chunks_does_not_count() -> None:
    """The idle limit measures the provider's gaps, not how slowly the consumer reads."""
    clock = ManualClock()
    bounded = TimeoutProvider(
        _Dribble([0.1, 0.1, 0.1], clock), TimeoutConfig(idle_timeout=1.0), sleep=clock.sleep
    )

    async def slow_reader() -> list[str]:
        seen = []
        async for chunk in bounded.stream(request()):
            seen.append(chunk.delta)
            await clock.sleep(5.0)
        return seen

    assert await drive(clock, slow_reader()) == ["c0", "c1", "c2"]


async def test_the_deadline_cuts_the_attempt_timeout() -> None:
    """With 1 s left on the call's deadline, a 30 s attempt timeout becomes 1 s."""
    clock = ManualClock()
    silent = MockProvider.smart(latency=1e6, sleep=clock.sleep)
    bounded = TimeoutProvider(silent, TimeoutConfig(attempt_timeout=30.0), sleep=clock.sleep)

    async def call() -> None:
        with trace(clock=clock) as events:
            try:
                async with deadline(1.0, clock=clock):
                    await bounded.complete(request())
            finally:
                assert [e.detail for e in events.of_kind("timeout")] == ["deadline"]

    with pytest.raises(Timeout, match="deadline"):
        await drive(clock, call())
    assert clock.now == pytest.approx(1.0, abs=0.02)


async def test_a_spent_deadline_fails_before_calling() -> None:
    """No time left: Timeout at once, the provider is never called."""
    clock = ManualClock()
    mock = MockProvider.smart()
    bounded = TimeoutProvider(mock, sleep=clock.sleep)
    async with deadline(0.0, clock=clock):
        with pytest.raises(Timeout):
            await bounded.complete(request())
    assert mock.calls == 0


async def test_the_breaker_counts_timeouts() -> None:
    """A TimeoutProvider inside a ResilientProvider: timeouts open the circuit."""
    clock = ManualClock()
    silent = MockProvider.smart(latency=1e6, sleep=clock.sleep)
    guarded = ResilientProvider(
        TimeoutProvider(silent, TimeoutConfig(attempt_timeout=1.0), sleep=clock.sleep),
        CircuitConfig(failure_threshold=2),
        clock=clock,
    )
    for _ in range(2):
        with pytest.raises(Timeout):
            await drive(clock, guarded.complete(request()))
    assert guarded.stats().circuit_opens == 1
    assert not await guarded.is_available()


async def test_real_time_limits_use_the_event_loop() -> None:
    """With the default asyncio.sleep the limit runs on the loop's clock (20 ms here)."""
    silent = MockProvider.smart(latency=10.0)
    bounded = TimeoutProvider(silent, TimeoutConfig(attempt_timeout=0.02))
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(Timeout):
        await bounded.complete(request())
    assert loop.time() - started < 1.0


async def test_caller_cancellation_is_not_turned_into_a_timeout() -> None:
    """Cancelling the caller raises CancelledError, never Timeout, and leaves no watchdog."""
    clock = ManualClock()
    silent = MockProvider.smart(latency=1e6, sleep=clock.sleep)
    bounded = TimeoutProvider(silent, TimeoutConfig(attempt_timeout=10.0), sleep=clock.sleep)
    task = asyncio.ensure_future(bounded.complete(request()))
    for _ in range(5):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert clock.sleepers == 0


@pytest.mark.parametrize("field", ["attempt_timeout", "first_token_timeout", "idle_timeout"])
@pytest.mark.parametrize("value", [0.0, -1.0, float("inf")])
def test_bad_limits_fail_at_construction(field: str, value: float) -> None:
    """Zero, negative and infinite limits raise ValueError naming the field."""
    with pytest.raises(ValueError, match=f"TimeoutConfig.{field}"):
        TimeoutConfig(**{field: value})  # type: ignore[arg-type]  # deliberately bad values


class _Claimer(LlmProvider):
    """Claims the limits declared above it (as an ``HttpProvider`` does) and keeps them."""

    enforces_declared_limits = True

    def __init__(self) -> None:
        self.claimed: tuple[Limit, ...] = ()

    @property
    def name(self) -> str:
        return "claimer"

    async def complete(self, request: LlmRequest) -> LlmResponse:
        raise NotImplementedError

    async def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
        self.claimed = claim_limits()
        yield StreamChunk("hi", finish_reason="stop")


async def test_a_stream_declares_one_limit_for_its_first_token_and_idle_gaps() -> None:
    """The first-token and idle limits reach the provider as one limit, asked once per wait."""
    inner = _Claimer()
    chunks = await collect(TimeoutProvider(inner).stream(request()))
    assert [chunk.delta for chunk in chunks] == ["hi"]
    assert len(inner.claimed) == 1
