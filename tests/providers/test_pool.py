"""The connection pool: sized for streaming, and its exhaustion is local congestion."""

from __future__ import annotations

import asyncio

import httpx2
import pytest
from _raw_server import head, raw_server

from vex_llm import (
    CircuitBreaker,
    CircuitConfig,
    CircuitState,
    LlmRequest,
    OpenAIProvider,
    PoolExhausted,
    Timeout,
)
from vex_llm.providers import HttpLimits

REQUEST = LlmRequest.from_prompt("hi")
FIRST = b'data: {"choices": [{"index": 0, "delta": {"content": "hi"}}]}\n\n'
FINISH = b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n'


class Gate:
    """A server answer that starts every stream, then holds it until ``count`` are open."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.arrived = 0
        self.open = asyncio.Event()

    async def __call__(self, writer: asyncio.StreamWriter) -> None:
        writer.write(head(200, content_type="text/event-stream") + FIRST)
        await writer.drain()
        self.arrived += 1
        if self.arrived >= self.count:
            self.open.set()
        await self.open.wait()
        writer.write(FINISH)
        await writer.drain()


async def test_exhausted_pool_is_pool_exhausted_and_the_breaker_ignores_it() -> None:
    """A call that finds no free connection raises PoolExhausted; the circuit stays closed."""
    gate = Gate(count=2)  # never reached: the one connection stays busy
    limits = HttpLimits(max_connections=1, pool_timeout=0.05)
    breaker = CircuitBreaker(CircuitConfig(failure_threshold=1))
    async with (
        raw_server(gate) as url,
        OpenAIProvider("m", base_url=url, api_key="k", limits=limits) as provider,
    ):
        holding = provider.stream(REQUEST)
        assert (await anext(holding)).delta == "hi"
        with pytest.raises(PoolExhausted) as info:
            await breaker.call(provider.complete, REQUEST)
        gate.open.set()
        await holding.aclose()
    assert not isinstance(info.value, Timeout)
    assert info.value.code == "pool_timeout"
    assert "max_connections" in str(info.value)
    assert breaker.state is CircuitState.CLOSED


async def test_pool_timeout_applies_to_a_client_passed_in() -> None:
    """HttpLimits.pool_timeout bounds the wait for a connection of a caller's own client."""
    gate = Gate(count=2)
    limits = HttpLimits(pool_timeout=0.05)
    async with (
        raw_server(gate) as url,
        httpx2.AsyncClient(limits=httpx2.Limits(max_connections=1)) as client,
    ):
        provider = OpenAIProvider("m", base_url=url, api_key="k", limits=limits, client=client)
        holding = provider.stream(REQUEST)
        await anext(holding)
        with pytest.raises(PoolExhausted):
            await provider.complete(REQUEST)
        gate.open.set()
        await holding.aclose()


async def test_default_pool_holds_more_concurrent_streams_than_httpx_default() -> None:
    """150 concurrent streams, all open at once, all finish on the default pool."""
    count = 150  # httpx2's default pool (100) made the last 50 fail
    gate = Gate(count=count)
    async with raw_server(gate) as url:
        provider = OpenAIProvider(
            "m", base_url=url, api_key="k", connect_timeout=0.5, idle_timeout=2.0
        )
        async with provider:

            async def one() -> str:
                return "".join([c.delta async for c in provider.stream(REQUEST)])

            texts = await asyncio.gather(*(one() for _ in range(count)))
    assert texts == ["hi"] * count
    assert gate.arrived == count
    assert provider.limits.max_connections >= 1000


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
async def test_pool_wait_ends_before_our_own_limits(streamed: bool) -> None:
    """With pool_timeout above the call's limits, a full pool is still PoolExhausted."""
    gate = Gate(count=2)
    limits = HttpLimits(max_connections=1)  # the default 10 s pool_timeout
    async with (
        raw_server(gate) as url,
        OpenAIProvider(
            "m", base_url=url, api_key="k", limits=limits, timeout=0.2, headers_timeout=0.2
        ) as provider,
    ):
        holding = provider.stream(REQUEST)
        await anext(holding)
        call = (lambda: anext(provider.stream(REQUEST))) if streamed else None
        with pytest.raises(PoolExhausted):
            await (call() if call else provider.complete(REQUEST))
        gate.open.set()
        await holding.aclose()
