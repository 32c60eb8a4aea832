"""A provider's own limits run on its clock: a ManualClock moves a real stream past them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from _provider_kit import Wire

from vex_llm import (
    AnthropicProvider,
    LlmRequest,
    OpenAIProvider,
    StreamChunk,
    Timeout,
)
from vex_llm.providers._base import HttpProvider
from vex_llm.testing import FakeLLMServer, Fault, ManualClock

pytestmark = pytest.mark.fake_server

REQUEST = LlmRequest.from_prompt("one two three four five")

# Far longer than any test runs: only the ManualClock can make these limits expire.
LONG = 600.0


def clocked(
    wire: Wire, server: FakeLLMServer, clock: ManualClock, *, headers_timeout: float = LONG
) -> HttpProvider:
    """A provider for ``wire`` whose limits (``LONG`` seconds) run on ``clock``."""
    limits = {
        "timeout": LONG,
        "connect_timeout": 5.0,
        "headers_timeout": headers_timeout,
        "first_token_timeout": LONG,
        "idle_timeout": LONG,
        "clock": clock,
    }
    if wire == "openai":
        return OpenAIProvider("fake-gpt", base_url=server.base_url, **limits)
    return AnthropicProvider("fake-claude", base_url=server.anthropic_base_url, **limits)


async def waiting_on(clock: ManualClock) -> None:
    """Return once the provider waits on ``clock`` (it is blocked on the socket then)."""
    for _ in range(2000):
        if clock.sleepers:
            return
        await asyncio.sleep(0.001)
    pytest.fail("the provider never waited on its clock")


async def timed_out(
    clock: ManualClock, pending: asyncio.Future[StreamChunk], seconds: float
) -> Timeout:
    """Advance ``clock`` by ``seconds`` once the read waits on it; return its Timeout."""
    await waiting_on(clock)
    assert not pending.done()
    clock.advance(seconds)
    with pytest.raises(Timeout) as info:
        await asyncio.wait_for(pending, 5.0)
    return info.value


async def test_advancing_the_clock_fires_the_headers_timeout(
    server: FakeLLMServer, wire: Wire
) -> None:
    """Headers that never come: advancing the clock past headers_timeout raises Timeout."""
    server.inject(Fault.hang())
    clock = ManualClock()
    async with clocked(wire, server, clock) as provider:
        stream = provider.stream(REQUEST)
        pending = asyncio.ensure_future(anext(stream))
        error = await timed_out(clock, pending, LONG + 1)
        await stream.aclose()  # type: ignore[attr-defined]  # an async generator
    assert error.code == "headers_timeout"


async def test_advancing_the_clock_fires_the_first_token_timeout(
    server: FakeLLMServer, wire: Wire
) -> None:
    """Headers at once, no text: advancing the clock past first_token_timeout raises."""
    server.inject(Fault.slow_first_token(LONG))
    clock = ManualClock()
    # The headers may come after the clock moves: their limit is out of the way.
    async with clocked(wire, server, clock, headers_timeout=4 * LONG) as provider:
        stream = provider.stream(REQUEST)
        pending = asyncio.ensure_future(anext(stream))
        error = await timed_out(clock, pending, LONG + 1)
        await stream.aclose()  # type: ignore[attr-defined]  # an async generator
    assert error.code == "ttft_timeout"


async def test_advancing_the_clock_fires_the_idle_timeout(
    server: FakeLLMServer, wire: Wire
) -> None:
    """Text, then silence: advancing the clock past idle_timeout raises Timeout."""
    server.inject(Fault.stall(after_chunks=2))
    clock = ManualClock()
    async with clocked(wire, server, clock) as provider:
        stream: AsyncIterator[StreamChunk] = provider.stream(REQUEST)
        texts = [(await anext(stream)).delta for _ in range(2)]
        pending = asyncio.ensure_future(anext(stream))
        error = await timed_out(clock, pending, LONG + 1)
        await stream.aclose()  # type: ignore[attr-defined]  # an async generator
    assert all(texts)
    assert error.code == "idle_timeout"


async def test_time_short_of_a_limit_changes_nothing(server: FakeLLMServer, wire: Wire) -> None:
    """Advancing the clock by less than the idle limit leaves the stalled read waiting."""
    server.inject(Fault.stall(after_chunks=1))
    clock = ManualClock()
    async with clocked(wire, server, clock) as provider:
        stream = provider.stream(REQUEST)
        await anext(stream)
        pending = asyncio.ensure_future(anext(stream))
        await waiting_on(clock)
        clock.advance(LONG - 1)
        for _ in range(20):
            await asyncio.sleep(0)
        assert not pending.done()
        error = await timed_out(clock, pending, 2)
        await stream.aclose()  # type: ignore[attr-defined]  # an async generator
    assert error.code == "idle_timeout"


async def test_advancing_the_clock_fires_the_total_timeout(
    server: FakeLLMServer, wire: Wire
) -> None:
    """A call that never answers: advancing the clock past `timeout` raises Timeout."""
    server.inject(Fault.hang())
    clock = ManualClock()
    async with clocked(wire, server, clock) as provider:
        pending = asyncio.ensure_future(provider.complete(REQUEST))
        await waiting_on(clock)
        clock.advance(LONG + 1)
        with pytest.raises(Timeout) as info:
            await asyncio.wait_for(pending, 5.0)
    assert info.value.code == "total_timeout"
