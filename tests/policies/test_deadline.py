"""One deadline per call: deadline(), time_left() and DeadlineProvider."""

from __future__ import annotations

import asyncio
import math

import pytest
from _policies import BreakingStream, collect, drive, request

import vex_llm
from vex_llm import DeadlineProvider, MockProvider, Timeout, deadline, time_left
from vex_llm.policies import current_deadline
from vex_llm.testing import ManualClock


def test_the_public_names_are_the_functions() -> None:
    """vex_llm.deadline and vex_llm.stack are the functions, not modules of the same name."""
    assert callable(vex_llm.deadline)
    assert callable(vex_llm.stack)
    assert callable(vex_llm.policies.deadline)


async def test_no_deadline_means_infinite_time() -> None:
    """Outside any deadline, time_left() is infinite."""
    assert time_left() == math.inf
    assert current_deadline() is None


async def test_deadline_counts_down_on_its_clock() -> None:
    """Inside deadline(10) time_left() falls as the clock moves, and is unset after."""
    clock = ManualClock()
    async with deadline(10.0, clock=clock):
        clock.advance(4.0)
        assert time_left() == pytest.approx(6.0)
    assert time_left() == math.inf


async def test_nested_deadlines_never_extend_the_outer_one() -> None:
    """An inner deadline(60) inside deadline(5) still ends at 5 s; a shorter one wins."""
    clock = ManualClock()
    with deadline(5.0, clock=clock):
        with deadline(60.0, clock=clock):
            assert time_left() == pytest.approx(5.0)
        with deadline(1.0, clock=clock):
            assert time_left() == pytest.approx(1.0)
        assert time_left() == pytest.approx(5.0)


async def test_deadlines_do_not_leak_between_concurrent_calls() -> None:
    """Each task sees its own deadline; the contextvar never crosses calls."""
    clock = ManualClock()
    seen: dict[str, float] = {}

    async def call(name: str, seconds: float) -> None:
        async with deadline(seconds, clock=clock):
            await asyncio.sleep(0)
            seen[name] = time_left()

    await asyncio.gather(call("a", 1.0), call("b", 7.0))
    assert seen == {"a": pytest.approx(1.0), "b": pytest.approx(7.0)}


def test_a_deadline_scope_is_not_reusable() -> None:
    """Entering one deadline() object twice is a RuntimeError; negative seconds a ValueError."""
    scope = deadline(1.0)
    with scope, pytest.raises(RuntimeError), scope:
        pass
    with pytest.raises(ValueError, match="seconds"):
        deadline(-1.0)


async def test_deadline_provider_bounds_the_whole_call() -> None:
    """A hanging provider under DeadlineProvider(3 s) raises Timeout at 3 s."""
    clock = ManualClock()
    silent = MockProvider.smart(latency=1e6, sleep=clock.sleep)
    bounded = DeadlineProvider(silent, 3.0, clock=clock, sleep=clock.sleep)
    with pytest.raises(Timeout, match="deadline"):
        await drive(clock, bounded.complete(request()))
    assert clock.now == pytest.approx(3.0, abs=0.02)


async def test_deadline_provider_sets_the_deadline_for_the_layers_below() -> None:
    """Inside a DeadlineProvider call, the layers below see the time left."""
    clock = ManualClock()
    seen: list[float] = []

    class Peek(MockProvider):
        async def complete(self, request: vex_llm.LlmRequest) -> vex_llm.LlmResponse:
            seen.append(time_left())
            return await super().complete(request)

    await DeadlineProvider(Peek(), 8.0, clock=clock, sleep=clock.sleep).complete(request())
    assert seen == [pytest.approx(8.0)]


async def test_deadline_provider_respects_a_tighter_caller_deadline() -> None:
    """A caller's deadline(2) inside a DeadlineProvider(10) wins."""
    clock = ManualClock()
    silent = MockProvider.smart(latency=1e6, sleep=clock.sleep)
    bounded = DeadlineProvider(silent, 10.0, clock=clock, sleep=clock.sleep)

    async def call() -> None:
        async with deadline(2.0, clock=clock):
            await bounded.complete(request())

    with pytest.raises(Timeout):
        await drive(clock, call())
    assert clock.now == pytest.approx(2.0, abs=0.02)


async def test_deadline_provider_streams_and_leaves_the_consumer_alone() -> None:
    """A stream passes through; between chunks the consumer's context has no deadline."""
    clock = ManualClock()
    bounded = DeadlineProvider(
        BreakingStream(["a", "b", "c"], finish=True), 5.0, clock=clock, sleep=clock.sleep
    )
    between: list[float] = []
    async for _chunk in bounded.stream(request()):
        between.append(time_left())
    assert between == [math.inf] * 3
    assert [c.delta for c in await collect(bounded.stream(request()))] == ["a", "b", "c"]


@pytest.mark.parametrize("seconds", [0.0, -1.0, float("nan")])
def test_deadline_provider_rejects_bad_durations(seconds: float) -> None:
    """DeadlineProvider needs a finite duration > 0."""
    with pytest.raises(ValueError, match=r"DeadlineProvider\.seconds"):
        DeadlineProvider(MockProvider.smart(), seconds)


async def test_a_spent_deadline_is_its_own_error_class_that_no_breaker_counts() -> None:
    """A stack's spent deadline raises DeadlineExceeded (a Timeout); the circuit ignores it."""
    clock = ManualClock()
    silent = MockProvider.smart(latency=1e6, sleep=clock.sleep)
    llm = vex_llm.stack([silent], deadline=3.0, clock=clock, sleep=clock.sleep)
    with pytest.raises(vex_llm.DeadlineExceeded) as caught:
        await drive(clock, llm.complete(request()))
    assert isinstance(caught.value, Timeout)
    assert caught.value.code == "deadline_exceeded"
    stats = llm.circuits["mock"].stats()
    assert (stats.total_failures, stats.ignored) == (0, 1)
