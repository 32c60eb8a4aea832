"""The one stream path: a stream through every layer costs no timer operation per chunk and
hands the consumer one object that closes the whole chain."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx2
import pytest
from _policies import collect, request

import vex_llm
from vex_llm import OpenAIProvider, StreamInterrupted, Timeout, TimeoutConfig
from vex_llm._guard import Until, limit_scope

CHUNKS = 200


def _events(chunks: int) -> list[bytes]:
    events = []
    for i in range(chunks):
        body = {"choices": [{"index": 0, "delta": {"content": f"w{i} "}}]}
        events.append(f"data: {json.dumps(body)}\n\n".encode())
    finish = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    events += [f"data: {json.dumps(finish)}\n\n".encode(), b"data: [DONE]\n\n"]
    return events


def _provider(events: list[bytes], stall: asyncio.Event | None = None) -> OpenAIProvider:
    async def body() -> AsyncIterator[bytes]:
        for index, event in enumerate(events):
            if stall is not None and index == 2:
                await stall.wait()
            yield event

    def handle(_: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    client = httpx2.AsyncClient(transport=httpx2.MockTransport(handle))
    return OpenAIProvider("m", base_url="http://test.invalid/v1", api_key="sk-test", client=client)


class Timers:
    """Counts the running loop's ``call_at`` (every timer set) until the patch is undone."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        loop = asyncio.get_running_loop()
        self.calls = 0
        call_at = loop.call_at

        def counting(*args: object, **kwargs: object) -> asyncio.TimerHandle:
            self.calls += 1
            return call_at(*args, **kwargs)  # type: ignore[arg-type]  # forwarded as received

        monkeypatch.setattr(loop, "call_at", counting)


async def test_a_stack_stream_arms_no_timer_per_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """200 chunks through stack(): a handful of timer operations in all, not one per layer."""
    llm = vex_llm.stack([_provider(_events(CHUNKS))])
    timers = Timers(monkeypatch)
    deltas = [chunk.delta async for chunk in llm.stream(request())]
    monkeypatch.undo()
    await llm.aclose()
    assert len(deltas) == CHUNKS + 1
    assert timers.calls < 10


async def test_a_stream_is_an_object_not_an_async_generator() -> None:
    """Every wrapper's stream is a plain async iterator with aclose()."""
    llm = vex_llm.stack([vex_llm.MockProvider.smart()])
    chunks = llm.stream(request())
    assert not hasattr(chunks, "ag_frame")
    first = await anext(chunks)
    assert first.delta
    await chunks.aclose()  # type: ignore[attr-defined]  # a ChunkStream
    with pytest.raises(StopAsyncIteration):
        await anext(chunks)


async def test_a_manual_clock_drives_the_idle_limit_of_an_http_stream() -> None:
    """A stalled HTTP stream under stack(clock=ManualClock) times out on the clock's time."""
    clock = vex_llm.testing.ManualClock()
    stall = asyncio.Event()
    llm = vex_llm.stack(
        [_provider(_events(5), stall)],
        timeouts=TimeoutConfig(idle_timeout=5.0),
        clock=clock,
        sleep=clock.sleep,
    )
    chunks = llm.stream(request())
    assert (await anext(chunks)).delta == "w0 "
    assert (await anext(chunks)).delta == "w1 "
    waiting = asyncio.ensure_future(anext(chunks))
    for _ in range(20):
        await asyncio.sleep(0)
    clock.advance(5.0)
    with pytest.raises(StreamInterrupted) as caught:
        await waiting
    assert isinstance(caught.value.__cause__, Timeout)
    assert "idle" in str(caught.value.__cause__)
    assert caught.value.partial == "w0 w1 "
    stall.set()
    await llm.aclose()


class _StallsAfterOne(vex_llm.LlmProvider):
    """Streams one chunk, then waits on the clock for a day."""

    def __init__(self, clock: vex_llm.testing.ManualClock) -> None:
        self._clock = clock

    @property
    def name(self) -> str:
        return "stalls"

    async def complete(self, request: vex_llm.LlmRequest) -> vex_llm.LlmResponse:
        raise NotImplementedError

    async def stream(self, request: vex_llm.LlmRequest) -> AsyncIterator[vex_llm.StreamChunk]:
        yield vex_llm.StreamChunk("one ", provider=self.name)
        await self._clock.sleep(86400.0)
        yield vex_llm.StreamChunk("two", finish_reason="stop")


async def test_the_deadline_still_binds_after_falling_back_from_an_http_stream() -> None:
    """An HTTP stream that failed before its first chunk leaves the deadline to the next one."""
    clock = vex_llm.testing.ManualClock()
    empty = _provider([])  # a body without a single event: StreamInterrupted, no chunk
    chain = vex_llm.FallbackProvider([empty, _StallsAfterOne(clock)])
    bounded = vex_llm.DeadlineProvider(chain, 10.0, clock=clock, sleep=clock.sleep)
    chunks = bounded.stream(request())
    assert (await anext(chunks)).delta == "one "
    waiting = asyncio.ensure_future(anext(chunks))
    for _ in range(20):
        await asyncio.sleep(0)
    clock.advance(10.0)
    for _ in range(20):
        await asyncio.sleep(0)
    assert waiting.done()
    with pytest.raises(StreamInterrupted) as caught:
        await waiting
    assert isinstance(caught.value.__cause__, vex_llm.DeadlineExceeded)
    await bounded.aclose()


async def test_an_attempt_over_http_is_timed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """TimeoutProvider over an HTTP provider: one timer for the attempt, not one per layer."""

    def handle(_: httpx2.Request) -> httpx2.Response:
        body = {"choices": [{"index": 0, "message": {"content": "hi"}, "finish_reason": "stop"}]}
        return httpx2.Response(200, json=body)

    client = httpx2.AsyncClient(transport=httpx2.MockTransport(handle))
    http = OpenAIProvider("m", base_url="http://test.invalid/v1", api_key="sk-test", client=client)
    bounded = vex_llm.TimeoutProvider(http, TimeoutConfig(attempt_timeout=5.0))
    timers = Timers(monkeypatch)
    answer = await bounded.complete(request())
    monkeypatch.undo()
    await client.aclose()
    assert answer.content == "hi"
    assert timers.calls == 1


async def test_the_idle_limit_waits_for_the_first_chunk_of_an_http_stream() -> None:
    """A first token after 20 s passes a 60 s first-token limit, whatever the 10 s idle limit."""
    clock = vex_llm.testing.ManualClock()
    late = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        await late.wait()
        for event in _events(2):
            yield event

    def handle(_: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    client = httpx2.AsyncClient(transport=httpx2.MockTransport(handle))
    http = OpenAIProvider("m", base_url="http://test.invalid/v1", api_key="sk-test", client=client)
    config = TimeoutConfig(first_token_timeout=60.0, idle_timeout=10.0)
    bounded = vex_llm.TimeoutProvider(http, config, sleep=clock.sleep)
    reading = asyncio.ensure_future(collect(bounded.stream(request())))
    for _ in range(20):
        await asyncio.sleep(0)
    clock.advance(20.0)
    for _ in range(20):
        await asyncio.sleep(0)
    late.set()
    chunks = await reading
    await client.aclose()
    assert "".join(c.delta for c in chunks) == "w0 w1 "


async def test_a_stream_over_http_times_its_first_token_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """TimeoutProvider over an HTTP stream: one timer for headers, first token and idle gaps."""
    http = _provider(_events(CHUNKS))
    bounded = vex_llm.TimeoutProvider(http, TimeoutConfig(first_token_timeout=5.0))
    timers = Timers(monkeypatch)
    chunks = await collect(bounded.stream(request()))
    monkeypatch.undo()
    await http.aclose()
    assert len(chunks) == CHUNKS + 1
    # The stream's one guard, and the bounded read of the body's end after [DONE].
    assert timers.calls == 2


async def test_the_timeout_providers_first_token_limit_binds_an_http_stream() -> None:
    """A first-token limit declared by TimeoutProvider fires inside the HTTP provider."""
    never = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        await never.wait()
        yield b""

    def handle(_: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    client = httpx2.AsyncClient(transport=httpx2.MockTransport(handle))
    http = OpenAIProvider("m", base_url="http://test.invalid/v1", api_key="sk-test", client=client)
    bounded = vex_llm.TimeoutProvider(http, TimeoutConfig(first_token_timeout=0.05))
    with pytest.raises(Timeout, match="first token") as info:
        await collect(bounded.stream(request()))
    await client.aclose()
    assert info.value.provider == "openai"
    assert info.value.code is None  # the TimeoutProvider's error, not the provider's ttft_timeout


async def test_a_limit_spent_before_the_headers_fails_the_stream_at_once() -> None:
    """A declared limit already spent when a stream opens raises its error; nothing is sent."""
    seen: list[httpx2.Request] = []

    def handle(sent: httpx2.Request) -> httpx2.Response:
        seen.append(sent)
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=b"")

    client = httpx2.AsyncClient(transport=httpx2.MockTransport(handle))
    http = OpenAIProvider("m", base_url="http://test.invalid/v1", api_key="sk-test", client=client)
    loop = asyncio.get_running_loop()
    spent = Until(0.0, loop.time, asyncio.sleep, lambda: Timeout("the budget is spent"))
    with limit_scope((spent,)), pytest.raises(Timeout, match="budget is spent"):
        await collect(http.stream(request()))
    await client.aclose()
    assert seen == []
    assert not spent.claimed  # handed back for whoever reads next
