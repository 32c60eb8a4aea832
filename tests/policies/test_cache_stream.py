"""CachedProvider and streams: a finished stream is stored and replayed as a stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from _policies import BreakingStream, request

from vex_llm import (
    CacheConfig,
    CachedProvider,
    LlmResponse,
    MockProvider,
    StreamChunk,
    StreamInterrupted,
    ThinkingPart,
    ToolCall,
    Usage,
    collect,
)
from vex_llm.policies.cache import replay

RICH = LlmResponse(
    "Let me look that up for you",
    model="m-9",
    provider="mock",
    usage=Usage(12, 7, 19, cached_input_tokens=4, reasoning_tokens=2),
    finish_reason="tool_calls",
    tool_calls=[
        ToolCall("call_1", "lookup", '{"q": "breaker"}'),
        ToolCall("call_2", "clock", "{}"),
    ],
    provider_finish_reason="tool_use",
)


async def test_finished_stream_is_replayed_identically() -> None:
    """The second stream comes from the cache: text, tool calls, usage, finish reason and
    provider are those of the first."""
    mock = MockProvider.scripted([RICH])
    cache = CachedProvider(mock)
    first = await collect(cache.stream(request()))
    second = await collect(cache.stream(request()))
    assert mock.calls == 1
    assert second == first
    assert (second.finish_reason, second.usage, second.tool_calls) == (
        "tool_calls",
        RICH.usage,
        RICH.tool_calls,
    )
    assert cache.stats().hits == 1


async def test_replayed_stream_names_model_and_provider_first_and_last() -> None:
    """The replay's first and last chunks say who served it, and the last one finishes it."""
    cache = CachedProvider(MockProvider.smart())
    await collect(cache.stream(request()))
    chunks = [chunk async for chunk in cache.stream(request())]
    assert chunks[0].provider == chunks[-1].provider == "mock"
    assert chunks[0].model
    assert chunks[-1].model
    assert chunks[-1].finish_reason == "stop"
    assert all(chunk.finish_reason is None for chunk in chunks[:-1])


def test_replay_collects_back_to_the_answer() -> None:
    """Collecting a replay gives the stored answer back, thinking blocks included."""
    answer = LlmResponse(
        "42",
        model="m",
        provider="p",
        usage=Usage.of(3, 1),
        finish_reason="stop",
        thinking=[ThinkingPart("hmm", signature="sig"), ThinkingPart(redacted="xx")],
    )

    async def run() -> LlmResponse:
        async def chunks() -> AsyncIterator[StreamChunk]:
            for chunk in replay(answer):
                yield chunk

        return await collect(chunks())

    assert asyncio.run(run()) == answer


async def test_complete_and_stream_share_entries() -> None:
    """An answer stored by ``complete()`` serves a stream, and the other way round."""
    mock = MockProvider.smart()
    cache = CachedProvider(mock)
    answer = await cache.complete(request("one"))
    assert (await collect(cache.stream(request("one")))).content == answer.content
    streamed = await collect(cache.stream(request("two")))
    assert (await cache.complete(request("two"))).content == streamed.content
    assert mock.calls == 2


@pytest.mark.parametrize(
    "upstream",
    [
        BreakingStream(["a", "b"], error=StreamInterrupted("cut")),
        BreakingStream(["a", "b"]),  # ends without a finish reason
    ],
    ids=["error", "no_finish_reason"],
)
async def test_interrupted_stream_is_not_stored(upstream: BreakingStream) -> None:
    """A stream that broke or ended without its finish reason is never replayed."""
    cache = CachedProvider(upstream)
    for _ in range(2):
        with contextlib.suppress(StreamInterrupted):
            await collect(cache.stream(request()))
    assert cache.stats().stored == 0
    assert upstream.calls == 2


async def test_truncated_stream_is_not_stored() -> None:
    """A stream that ended with ``finish_reason == "length"`` is not kept."""
    mock = MockProvider.scripted([LlmResponse("cut short", finish_reason="length")] * 2)
    cache = CachedProvider(mock)
    await collect(cache.stream(request()))
    await collect(cache.stream(request()))
    assert mock.calls == 2
    assert cache.stats().not_stored == 2


async def test_abandoned_stream_is_not_stored_and_is_closed() -> None:
    """A consumer that stops reading early leaves nothing in the cache, and the upstream
    stream is closed."""
    upstream = BreakingStream(["a", "b", "c", "d"], finish=True)
    cache = CachedProvider(upstream, CacheConfig())
    chunks = cache.stream(request())
    assert (await anext(chunks)).delta == "a"
    await chunks.aclose()  # type: ignore[attr-defined]  # an async generator
    assert upstream.closed_streams == 1  # closed by the time aclose() returned
    assert cache.stats().stored == 0
    assert (await collect(cache.stream(request()))).content == "abcd"
    assert upstream.calls == 2
