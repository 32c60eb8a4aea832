"""collect(): a stream read to its end is the answer a consumer would get."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from vex_llm import (
    InvalidResponse,
    LlmRequest,
    MockProvider,
    StreamChunk,
    StreamReset,
    ToolCall,
    ToolCallDelta,
    Usage,
    collect,
)


async def _stream(*chunks: StreamChunk) -> AsyncIterator[StreamChunk]:
    for chunk in chunks:
        yield chunk


async def test_collect_joins_text_tool_calls_usage_and_finish() -> None:
    """Text and interleaved tool-call pieces are joined per index; the last chunk finishes."""
    response = await collect(
        _stream(
            StreamChunk("Hel", model="m", provider="p"),
            StreamChunk("lo", tool_calls=[ToolCallDelta(1, id="b", name="g")]),
            StreamChunk(
                "", tool_calls=[ToolCallDelta(0, id="a", name="f", arguments_delta='{"x"')]
            ),
            StreamChunk("", tool_calls=[ToolCallDelta(1, arguments_delta="{}")]),
            StreamChunk("", tool_calls=[ToolCallDelta(0, arguments_delta=": 1}")]),
            StreamChunk(
                "",
                finish_reason="tool_calls",
                usage=Usage(1, 2, 3),
                provider_finish_reason="tool_use",
            ),
        )
    )
    assert response.content == "Hello"
    assert response.tool_calls == (ToolCall("a", "f", '{"x": 1}'), ToolCall("b", "g", "{}"))
    assert (response.finish_reason, response.provider_finish_reason) == ("tool_calls", "tool_use")
    assert response.usage == Usage(1, 2, 3)
    assert (response.model, response.provider) == ("m", "p")


async def test_collect_drops_what_came_before_a_reset() -> None:
    """A StreamReset discards the text and tool calls before it."""
    response = await collect(
        _stream(
            StreamChunk("old", provider="a", tool_calls=[ToolCallDelta(0, id="x", name="f")]),
            StreamReset("", provider="a", discarded="old", reason="Timeout"),
            StreamChunk("new", provider="b", finish_reason="stop"),
        )
    )
    assert (response.content, response.tool_calls, response.provider) == ("new", (), "b")


async def test_collect_without_finish_reports_none() -> None:
    """A stream that ended without a finish reason collects with finish_reason None."""
    assert (await collect(_stream(StreamChunk("x")))).finish_reason is None


async def test_tool_call_without_id_is_an_invalid_response() -> None:
    """A tool call whose id and name never came is InvalidResponse, never a broken ToolCall."""
    with pytest.raises(InvalidResponse, match="tool call 0"):
        await collect(_stream(StreamChunk("", tool_calls=[ToolCallDelta(0, arguments_delta="{}")])))


async def test_collect_over_a_provider_stream_equals_complete() -> None:
    """Collecting a provider's stream gives the text complete() gives."""
    provider = MockProvider.smart()
    request = LlmRequest.from_prompt("hello there")
    streamed = await collect(provider.stream(request))
    whole = await provider.complete(request)
    assert (streamed.content, streamed.finish_reason) == (whole.content, whole.finish_reason)
