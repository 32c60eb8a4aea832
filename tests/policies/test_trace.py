"""The decision trace: what it records, and that it is per call."""

from __future__ import annotations

import asyncio
import contextlib
import random

import pytest
from _policies import BreakingStream, request

from vex_llm import (
    FallbackProvider,
    MockProvider,
    RateLimited,
    ResilientProvider,
    RetryConfig,
    RetryProvider,
    ServerError,
    StreamInterrupted,
    Trace,
    on_stream_break,
    trace,
)
from vex_llm.policies import StreamBreak
from vex_llm.testing import ManualClock


async def test_a_trace_tells_the_story_of_a_call() -> None:
    """Skipped provider and why, attempts, the wait and its cause, the fallback, the winner."""
    clock = ManualClock(auto_advance=True)
    skipped = ResilientProvider(MockProvider.smart(name="open"))
    skipped.breaker.force_open()
    flaky = RetryProvider(
        MockProvider.scripted(
            [RateLimited("slow", retry_after=1.0), ServerError("x"), ServerError("y")], name="flaky"
        ),
        RetryConfig(attempts=3),
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(0),
    )
    chain = FallbackProvider([skipped, flaky, MockProvider.smart(name="backup")])
    with trace(clock=clock) as events:
        response = await chain.complete(request())
    assert response.provider == "backup"
    kinds = [(e.kind, e.provider) for e in events]
    assert kinds[0] == ("skip", "open")
    assert ("fallback", "backup") in kinds
    waits = events.of_kind("wait")
    assert waits[0].detail == "retry_after"
    assert waits[0].wait is not None
    assert waits[0].wait >= 1.0
    assert waits[0].error == "RateLimited"
    assert events.of_kind("give_up")[0].detail == "attempts"
    assert events.events[-1].kind == "success"
    assert "skip" in events.format()


async def test_traces_are_per_call() -> None:
    """Two concurrent calls in their own trace() blocks see only their own events."""

    async def call(name: str) -> Trace:
        with trace() as events:
            await FallbackProvider([MockProvider.smart(name=name)]).complete(request())
        return events

    first, second = await asyncio.gather(call("a"), call("b"))
    assert {e.provider for e in first} == {"a"}
    assert {e.provider for e in second} == {"b"}


async def test_no_trace_block_records_nothing() -> None:
    """Outside trace() the policies only log."""
    chain = FallbackProvider([MockProvider.smart(name="a")])
    with trace() as events:
        pass
    await chain.complete(request())
    assert len(events) == 0


@pytest.mark.parametrize(
    ("default", "per_call", "applied"),
    [
        ("raise", None, "raise"),
        ("restart", None, "restart"),
        ("raise", "restart", "restart"),
        ("restart", "raise", "raise"),
    ],
)
async def test_the_stream_break_decision_names_the_policy_that_applied(
    default: StreamBreak, per_call: StreamBreak | None, applied: StreamBreak
) -> None:
    """A stream broken after its first chunk leaves one stream_break event naming the policy."""
    broken = BreakingStream(["a", "b"], error=ServerError("cut"), name="primary")
    backup = BreakingStream(["x"], finish=True, name="backup")
    chain = FallbackProvider([broken, backup], on_stream_break=default)
    scope = contextlib.nullcontext() if per_call is None else on_stream_break(per_call)
    with trace() as events, scope:
        try:
            async for _ in chain.stream(request()):
                pass
        except StreamInterrupted:
            assert applied == "raise"
    (event,) = events.of_kind("stream_break")
    assert (event.provider, event.detail, event.error) == ("primary", applied, "ServerError")
    assert backup.calls == (1 if applied == "restart" else 0)
