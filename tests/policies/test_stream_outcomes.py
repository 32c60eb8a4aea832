"""How a stream's outcome reaches every circuit breaker it passed through, through every
wrapper and composition, whatever the consumer does with the generator afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Callable
from typing import Literal

import pytest
from _policies import BreakingStream, request

from vex_llm import (
    CircuitBreaker,
    CircuitConfig,
    CircuitState,
    DeadlineProvider,
    HedgeConfig,
    HedgeProvider,
    LlmError,
    LlmProvider,
    LlmRequest,
    LlmResponse,
    MockProvider,
    ResilientProvider,
    RetryConfig,
    RetryProvider,
    ServerError,
    StreamChunk,
    TimeoutProvider,
    stack,
    trace,
)
from vex_llm.testing import ManualClock

RESET = 30.0
CIRCUIT = CircuitConfig(failure_threshold=1, success_threshold=1, reset_timeout=RESET)
_NO_RETRY = RetryConfig(attempts=1)

Built = tuple[LlmProvider, list[CircuitBreaker]]
Composition = Callable[[ManualClock, LlmProvider, LlmProvider], Built]


def _guard(provider: LlmProvider, clock: ManualClock) -> ResilientProvider:
    return ResilientProvider(provider, CIRCUIT, clock=clock)


def _resilient(clock: ManualClock, primary: LlmProvider, backup: LlmProvider) -> Built:
    guarded = _guard(primary, clock)
    return guarded, [guarded.breaker]


def _stack_one(clock: ManualClock, primary: LlmProvider, backup: LlmProvider) -> Built:
    llm = stack([primary], circuit=CIRCUIT, clock=clock, sleep=clock.sleep)
    return llm, [llm.circuits["primary"].breaker]


def _stack_two(clock: ManualClock, primary: LlmProvider, backup: LlmProvider) -> Built:
    llm = stack([primary, backup], circuit=CIRCUIT, clock=clock, sleep=clock.sleep)
    return llm, [llm.circuits["primary"].breaker]


def _stack_no_deadline(clock: ManualClock, primary: LlmProvider, backup: LlmProvider) -> Built:
    llm = stack([primary, backup], deadline=None, circuit=CIRCUIT, clock=clock, sleep=clock.sleep)
    return llm, [llm.circuits["primary"].breaker]


def _stack_hedged(clock: ManualClock, primary: LlmProvider, backup: LlmProvider) -> Built:
    llm = stack(
        [primary, backup],
        hedge=HedgeConfig(delay=5.0),
        circuit=CIRCUIT,
        clock=clock,
        sleep=clock.sleep,
    )
    return llm, [llm.circuits["primary"].breaker]


def _hedge(clock: ManualClock, primary: LlmProvider, backup: LlmProvider) -> Built:
    first = _guard(primary, clock)
    hedged = HedgeProvider(
        [first, _guard(backup, clock)], HedgeConfig(delay=5.0), clock=clock, sleep=clock.sleep
    )
    return hedged, [first.breaker]


def _deadline(clock: ManualClock, primary: LlmProvider, backup: LlmProvider) -> Built:
    guarded = _guard(primary, clock)
    return DeadlineProvider(guarded, 20.0, clock=clock, sleep=clock.sleep), [guarded.breaker]


def _retry(clock: ManualClock, primary: LlmProvider, backup: LlmProvider) -> Built:
    guarded = _guard(primary, clock)
    return RetryProvider(guarded, clock=clock, sleep=clock.sleep), [guarded.breaker]


def _timeout_outside(clock: ManualClock, primary: LlmProvider, backup: LlmProvider) -> Built:
    guarded = _guard(primary, clock)
    return TimeoutProvider(guarded, sleep=clock.sleep), [guarded.breaker]


def _breaker_around_a_stack(clock: ManualClock, primary: LlmProvider, backup: LlmProvider) -> Built:
    llm = stack([primary, backup], circuit=CIRCUIT, clock=clock, sleep=clock.sleep)
    outer = _guard(llm, clock)
    return outer, [outer.breaker, llm.circuits["primary"].breaker]


COMPOSITIONS: dict[str, Composition] = {
    "resilient": _resilient,
    "stack-one": _stack_one,
    "stack-two": _stack_two,
    "stack-no-deadline": _stack_no_deadline,
    "stack-hedged": _stack_hedged,
    "hedge": _hedge,
    "deadline": _deadline,
    "retry": _retry,
    "timeout-outside": _timeout_outside,
    "breaker-around-stack": _breaker_around_a_stack,
}

Consumer = Literal["exhaust", "break", "break-kept", "aclosing", "aclose", "gc"]
CONSUMERS: tuple[Consumer, ...] = ("exhaust", "break", "break-kept", "aclosing", "aclose", "gc")


async def _settle() -> None:
    """Let the loop run what a dropped generator's finalizer scheduled (its aclose())."""
    gc.collect()
    for _ in range(20):
        await asyncio.sleep(0)


async def _consume(
    chunks: AsyncIterator[StreamChunk], how: Consumer, stop: Callable[[StreamChunk], bool]
) -> list[StreamChunk]:
    """Read ``chunks`` until ``stop(chunk)``, then leave the generator the way ``how`` says.

    Returns the chunks read; a generator left open ("break-kept") is closed only after the
    test's assertions, by the caller.
    """
    seen: list[StreamChunk] = []
    if how == "exhaust":
        async for chunk in chunks:
            seen.append(chunk)
    elif how in ("break", "break-kept"):
        async for chunk in chunks:
            seen.append(chunk)
            if stop(chunk):
                break
    elif how == "aclosing":
        async with contextlib.aclosing(chunks) as open_chunks:  # type: ignore[type-var]  # an async generator
            async for chunk in open_chunks:
                seen.append(chunk)
                if stop(chunk):
                    break
    else:  # "aclose" and "gc": step by hand, then close it or drop it
        while not seen or not stop(seen[-1]):
            seen.append(await anext(chunks))
        if how == "aclose":
            await chunks.aclose()  # type: ignore[attr-defined]  # an async generator
    return seen


def _half_open(breakers: list[CircuitBreaker], clock: ManualClock) -> None:
    for breaker in breakers:
        breaker.force_open(RESET)
    clock.advance(RESET)
    assert all(b.state is CircuitState.HALF_OPEN for b in breakers)


def _verdicts(breaker: CircuitBreaker) -> tuple[CircuitState, int, int, int]:
    """State, ignored outcomes, counted failures and probes in flight."""
    stats = breaker.stats()
    return stats.state, stats.ignored, stats.total_failures, stats.half_open_in_flight


def _primary() -> MockProvider:
    return MockProvider(responder=lambda _: "one two three", name="primary")


def _backup() -> MockProvider:
    return MockProvider(responder=lambda _: "backup answer", name="backup")


@pytest.mark.parametrize("how", CONSUMERS)
@pytest.mark.parametrize("composition", COMPOSITIONS.values(), ids=COMPOSITIONS.keys())
async def test_a_stream_that_delivered_its_finish_reason_closes_every_half_open_circuit(
    clock: ManualClock, composition: Composition, how: Consumer
) -> None:
    """Finish chunk delivered: a success in every breaker, however the generator ends up."""
    llm, breakers = composition(clock, _primary(), _backup())
    _half_open(breakers, clock)
    chunks = llm.stream(request())
    seen = await _consume(chunks, how, lambda chunk: chunk.finish_reason is not None)
    if how != "break-kept":
        del chunks
    # No waiting for finalizers: the verdict is in before the last chunk is handed over.
    assert "".join(c.delta for c in seen) == "one two three"
    assert seen[-1].finish_reason == "stop"
    assert [_verdicts(b) for b in breakers] == [(CircuitState.CLOSED, 0, 0, 0)] * len(breakers)
    if how == "break-kept":
        await chunks.aclose()  # type: ignore[attr-defined]  # an async generator
    await _settle()


@pytest.mark.parametrize("how", ["break", "aclosing", "aclose", "gc"])
@pytest.mark.parametrize("composition", COMPOSITIONS.values(), ids=COMPOSITIONS.keys())
async def test_a_stream_abandoned_before_its_finish_reason_is_no_evidence(
    clock: ManualClock, composition: Composition, how: Consumer
) -> None:
    """Abandoned after its first chunk: counts neither way and frees every probe slot."""
    llm, breakers = composition(clock, _primary(), _backup())
    _half_open(breakers, clock)
    chunks = llm.stream(request())
    seen = await _consume(chunks, how, lambda chunk: True)
    del chunks
    if how in ("break", "gc"):
        await _settle()  # dropped, not closed: the loop's finalizer closes it
    # Closed by the consumer: the whole chain is closed (and every permit released) at once.
    assert [c.delta for c in seen] == ["one "]
    assert [_verdicts(b) for b in breakers] == [(CircuitState.HALF_OPEN, 1, 0, 0)] * len(breakers)


@pytest.mark.parametrize("composition", COMPOSITIONS.values(), ids=COMPOSITIONS.keys())
async def test_a_stream_that_fails_midway_is_a_failure_in_every_breaker(
    clock: ManualClock, composition: Composition
) -> None:
    """Broken after its first chunks: a counted failure that re-opens every half-open circuit."""
    broken = BreakingStream(["one ", "two "], error=ServerError("cut"), name="primary")
    llm, breakers = composition(clock, broken, _backup())
    _half_open(breakers, clock)
    seen: list[str] = []

    async def read() -> None:
        async for chunk in llm.stream(request()):
            seen.append(chunk.delta)

    with pytest.raises(LlmError):
        await read()
    await _settle()
    assert seen == ["one ", "two "]
    for breaker in breakers:
        stats = breaker.stats()
        assert (stats.state, stats.total_failures, stats.ignored) == (
            CircuitState.OPEN,
            1,
            0,
        ), breaker.name
    assert broken.closed_streams == 1


@pytest.mark.parametrize("how", CONSUMERS)
async def test_a_good_stream_resets_the_failure_streak(clock: ManualClock, how: Consumer) -> None:
    """Closed circuit: a finished stream through stack() ends the failure streak."""
    primary = MockProvider.scripted([ServerError("boom", status=500), "one two three"])
    llm = stack(
        [primary],
        circuit=CircuitConfig(failure_threshold=2),
        retry=_NO_RETRY,
        clock=clock,
        sleep=clock.sleep,
    )
    breaker = llm.circuits["mock"].breaker
    with pytest.raises(LlmError):
        await llm.complete(request())
    assert breaker.stats().consecutive_failures == 1
    chunks = llm.stream(request())
    await _consume(chunks, how, lambda chunk: chunk.finish_reason is not None)
    stats = breaker.stats()
    assert (stats.consecutive_failures, stats.ignored) == (0, 0)
    await chunks.aclose()  # type: ignore[attr-defined]  # an async generator


async def test_a_circuit_closes_from_streamed_probes_alone(clock: ManualClock) -> None:
    """Three good streamed probes close a half-open circuit that needs three successes."""
    llm = stack(
        [_primary()],
        circuit=CircuitConfig(failure_threshold=1, success_threshold=3, reset_timeout=RESET),
        clock=clock,
        sleep=clock.sleep,
    )
    breaker = llm.circuits["primary"].breaker
    _half_open([breaker], clock)
    for _ in range(3):
        async for _chunk in llm.stream(request()):
            pass
    stats = breaker.stats()
    assert (stats.state, stats.ignored) == (CircuitState.CLOSED, 0)


class SlowClosing(LlmProvider):
    """Streams three words; closing the stream waits on I/O, as closing an HTTP response does."""

    @property
    def name(self) -> str:
        return "slow-closing"

    async def complete(self, request: LlmRequest) -> LlmResponse:
        return LlmResponse("one two three", provider=self.name, finish_reason="stop")

    async def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
        try:
            yield StreamChunk("one ", provider=self.name)
            yield StreamChunk("two ")
            yield StreamChunk("three", finish_reason="stop", provider=self.name)
        finally:
            await asyncio.sleep(0)


@pytest.mark.parametrize("at", ["first", "finish"])
@pytest.mark.parametrize("hedged", [False, True], ids=["fallback", "hedge"])
def test_breaking_out_of_a_stack_stream_leaves_loop_shutdown_quiet(at: str, hedged: bool) -> None:
    """break without aclosing, stream alive at shutdown: no 'already running' error reported."""
    reports: list[dict[str, object]] = []
    held: list[AsyncIterator[StreamChunk]] = []  # keeps the stream alive until loop shutdown

    async def main() -> None:
        llm = stack(
            [SlowClosing(), MockProvider.smart(name="backup")],
            hedge=HedgeConfig(delay=5.0) if hedged else None,
        )
        chunks = llm.stream(request())
        held.append(chunks)
        async for chunk in chunks:
            if at == "first" or chunk.finish_reason is not None:
                break

    with asyncio.Runner() as runner:
        runner.get_loop().set_exception_handler(lambda _loop, context: reports.append(context))
        runner.run(main())
    assert [str(r.get("exception") or r.get("message")) for r in reports] == []


async def test_a_stream_left_at_its_finish_chunk_is_traced_as_a_success(
    clock: ManualClock,
) -> None:
    """break right after the finish chunk: the retry and fallback layers traced the success."""
    llm = stack([_primary()], clock=clock, sleep=clock.sleep)
    with trace() as events:
        async for chunk in llm.stream(request()):
            if chunk.finish_reason is not None:
                break
    outcomes = [(e.kind, e.attempt) for e in events if e.kind in ("attempt", "success")]
    assert outcomes == [("attempt", 1), ("success", 1), ("success", None)]
