"""A stream that breaks in the middle of a tool call reports the partial calls, through
every wrapper (the one stream bookkeeping tracks them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from _policies import collect, request

import vex_llm
from vex_llm import (
    ConnectionFailed,
    FallbackProvider,
    LlmError,
    LlmProvider,
    LlmRequest,
    LlmResponse,
    StreamChunk,
    StreamInterrupted,
    ToolCall,
    ToolCallDelta,
)

PIECES = [
    StreamChunk("Let me look.", provider="tools"),
    StreamChunk("", tool_calls=[ToolCallDelta(0, id="call_1", name="weather")]),
    StreamChunk("", tool_calls=[ToolCallDelta(0, arguments_delta='{"city": "Par')]),
    StreamChunk("", tool_calls=[ToolCallDelta(1, arguments_delta="{")]),  # never named
]


class ToolStream(LlmProvider):
    """Streams ``PIECES``, then raises ``error`` (or just ends, without a finish reason)."""

    def __init__(self, error: LlmError | None = None) -> None:
        self._error = error

    @property
    def name(self) -> str:
        return "tools"

    async def complete(self, request: LlmRequest) -> LlmResponse:
        raise NotImplementedError

    async def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
        for chunk in PIECES:
            yield chunk
            await asyncio.sleep(0)
        if self._error is not None:
            raise self._error


PARTIAL = (ToolCall("call_1", "weather", '{"city": "Par'),)


@pytest.mark.parametrize("error", [None, ConnectionFailed("reset")], ids=["ends", "breaks"])
async def test_fallback_reports_the_partial_tool_calls(error: LlmError | None) -> None:
    """Through a fallback, a stream that ends or breaks mid-call raises StreamInterrupted
    with the partial text and the calls named so far."""
    with pytest.raises(StreamInterrupted) as info:
        await collect(FallbackProvider([ToolStream(error)]).stream(request()))
    assert info.value.partial == "Let me look."
    assert info.value.partial_tool_calls == PARTIAL


async def test_the_stack_reports_the_partial_tool_calls() -> None:
    """Through the full stack, the body ending mid-call keeps the partial calls too."""
    llm = vex_llm.stack([ToolStream()])
    with pytest.raises(StreamInterrupted) as info:
        await collect(llm.stream(request()))
    await llm.aclose()
    assert info.value.partial_tool_calls == PARTIAL
