"""Tool-call answers FakeLLMServer cannot produce, served as exact bytes over a loopback
socket (``_raw_server``).

Everything FakeLLMServer can express (whole answers with tool calls, streamed tool calls
collected, a cut, reset, stall or error event inside a call's arguments, a fallback in
the middle of a tool conversation) is tested against it in ``test_tool_answers.py``. What
stays here is what its encoders never send:

- refusals (``message.refusal``, streamed ``delta.refusal`` pieces);
- usage beyond the three counts: cache reads and writes, reasoning tokens, usage only on
  ``message_start``;
- malformed tool calls and tool-call events, and values the types refuse (an empty id,
  a negative index);
- a terminator (``[DONE]``, ``message_stop``) right after a body cut inside a call's
  arguments, and ``[DONE]`` after whole calls with no finish reason;
- the same tool-call stream read in pieces of 1 and 7 bytes;
- a whole JSON answer to a stream request (a server that ignores ``stream``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from _raw_server import head, raw_server, sending

from vex_llm import (
    AnthropicProvider,
    InvalidResponse,
    LlmRequest,
    LlmResponse,
    OpenAIProvider,
    StreamChunk,
    StreamInterrupted,
    ToolCall,
    ToolCallDelta,
    Usage,
    collect,
)
from vex_llm.providers._base import HttpProvider

REQUEST = LlmRequest.from_prompt("What is the weather in Paris?")
SSE = "text/event-stream"


def provider_for(wire: str, root: str) -> HttpProvider:
    """A provider for ``wire`` aimed at a loopback root."""
    if wire == "openai":
        return OpenAIProvider("gpt-x", base_url=root + "/v1", name="oa")
    return AnthropicProvider("claude-x", base_url=root, name="an")


async def answer(wire: str, body: bytes) -> LlmResponse:
    """What ``complete()`` reads from a JSON answer."""
    async with raw_server(sending(head(), body)) as root, provider_for(wire, root) as llm:
        return await llm.complete(REQUEST)


async def chunks(wire: str, body: bytes, *, piece: int = 64 * 1024) -> list[StreamChunk]:
    """The chunks ``stream()`` reads from an event-stream body sent in pieces."""
    serve = sending(head(content_type=SSE), body, piece=piece)
    async with raw_server(serve) as root, provider_for(wire, root) as llm:
        return [chunk async for chunk in llm.stream(REQUEST)]


def sse(*events: dict[str, object], done: bool = False) -> bytes:
    """``data:`` lines for JSON events (and the OpenAI terminator)."""
    out = b"".join(b"data: %s\n\n" % json.dumps(event).encode() for event in events)
    return out + (b"data: [DONE]\n\n" if done else b"")


def openai_event(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    """One chat.completion.chunk event."""
    return {
        "id": "c1",
        "model": "gpt-x-1",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def call_piece(index: int, arguments: str, **first: str) -> dict[str, object]:
    """An OpenAI delta with one tool-call piece (``id`` and ``name`` on the first)."""
    function: dict[str, object] = {"arguments": arguments}
    if "name" in first:
        function["name"] = first["name"]
    piece: dict[str, object] = {"index": index, "function": function}
    if "id" in first:
        piece |= {"id": first["id"], "type": "function"}
    return {"tool_calls": [piece]}


OPENAI_CALLS = [
    openai_event({"role": "assistant", "content": None}),
    openai_event(call_piece(0, "", id="call_1", name="weather")),
    openai_event(call_piece(0, '{"city": ')),
    openai_event(call_piece(0, '"Paris"}')),
    openai_event(call_piece(1, '{"city": "Oslo"}', id="call_2", name="weather")),
    openai_event({}, "tool_calls"),
    {"id": "c1", "model": "gpt-x-1", "choices": [], "usage": {
        "prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13,
        "prompt_tokens_details": {"cached_tokens": 6},
        "completion_tokens_details": {"reasoning_tokens": 2},
    }},
]  # fmt: skip


def anthropic_event(kind: str, **fields: object) -> dict[str, object]:
    """One Messages stream event."""
    return {"type": kind, **fields}


def tool_start(index: int, call_id: str) -> dict[str, object]:
    """A tool_use block opening."""
    block = {"type": "tool_use", "id": call_id, "name": "weather", "input": {}}
    return anthropic_event("content_block_start", index=index, content_block=block)


def json_piece(index: int, text: str) -> dict[str, object]:
    """An input_json_delta."""
    delta = {"type": "input_json_delta", "partial_json": text}
    return anthropic_event("content_block_delta", index=index, delta=delta)


ANTHROPIC_START = anthropic_event(
    "message_start",
    message={"model": "claude-x-1", "usage": {"input_tokens": 3, "cache_read_input_tokens": 6}},
)
ANTHROPIC_CALLS = [
    ANTHROPIC_START,
    anthropic_event("content_block_start", index=0, content_block={"type": "text", "text": ""}),
    anthropic_event(
        "content_block_delta", index=0, delta={"type": "text_delta", "text": "Checking."}
    ),
    anthropic_event("content_block_stop", index=0),
    tool_start(1, "toolu_1"),
    json_piece(1, '{"city": '),
    json_piece(1, '"Paris"}'),
    anthropic_event("content_block_stop", index=1),
    tool_start(2, "toolu_2"),
    json_piece(2, '{"city": "Oslo"}'),
    anthropic_event("content_block_stop", index=2),
    anthropic_event("message_delta", delta={"stop_reason": "tool_use"}, usage={"output_tokens": 4}),
    anthropic_event("message_stop"),
]


async def test_openai_answer_with_tool_calls_refusal_and_rich_usage() -> None:
    """complete() reads tool calls, the refusal, the provider's own finish and cache usage."""
    body = {
        "id": "chatcmpl-1",
        "model": "gpt-x-1",
        "choices": [
            {
                "message": {
                    "content": None,
                    "refusal": "no",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": OPENAI_CALLS[-1]["usage"],
    }
    response = await answer("openai", json.dumps(body).encode())
    assert response.tool_calls == (ToolCall("call_1", "weather", '{"city":"Paris"}'),)
    assert (response.content, response.refusal) == ("", "no")
    assert (response.finish_reason, response.provider_finish_reason) == ("tool_calls", "tool_calls")
    assert response.usage == Usage(9, 4, 13, cached_input_tokens=6, reasoning_tokens=2)
    assert (response.provider, response.model, response.id) == ("oa", "gpt-x-1", "chatcmpl-1")


async def test_anthropic_answer_with_tool_use_and_cache_usage() -> None:
    """complete() reads tool_use blocks as calls and cache reads and writes as usage."""
    body = {
        "id": "msg_1",
        "type": "message",
        "model": "claude-x-1",
        "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
        ],
        "stop_reason": "tool_use",
        "usage": {
            "input_tokens": 3,
            "cache_read_input_tokens": 6,
            "cache_creation_input_tokens": 1,
            "output_tokens": 4,
        },
    }
    response = await answer("anthropic", json.dumps(body).encode())
    assert response.content == "Checking."
    assert response.tool_calls == (ToolCall("toolu_1", "weather", '{"city": "Paris"}'),)
    assert (response.finish_reason, response.provider_finish_reason) == ("tool_calls", "tool_use")
    assert response.usage == Usage(10, 4, 14, cached_input_tokens=6, cache_write_tokens=1)


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
async def test_malformed_tool_call_answer_names_the_field_and_the_provider(wire: str) -> None:
    """A tool call without its name is InvalidResponse naming the field and the provider."""
    if wire == "openai":
        call = {"id": "call_1", "type": "function", "function": {"arguments": "{}"}}
        body = {"choices": [{"message": {"content": None, "tool_calls": [call]}}]}
        field = r"choices\[0\]\.message\.tool_calls\[0\]\.function\.name"
    else:
        body = {"content": [{"type": "tool_use", "id": "toolu_1", "input": {}}]}
        field = r"content\[0\]\.name"
    with pytest.raises(InvalidResponse, match=field) as info:
        await answer(wire, json.dumps(body).encode())
    assert info.value.provider == ("oa" if wire == "openai" else "an")
    assert info.value.model in ("gpt-x", "claude-x")


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
async def test_json_answer_to_a_stream_request_is_invalid_response(wire: str) -> None:
    """A server that ignores "stream" and answers whole JSON (tool calls and all) to a
    stream request is InvalidResponse, never a success."""
    if wire == "openai":
        call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        body: dict[str, object] = {
            "choices": [{"message": {"content": None, "tool_calls": [call]}}],
        }
    else:
        body = {"content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]}
    serve = sending(head(), json.dumps(body).encode())
    async with raw_server(serve) as root, provider_for(wire, root) as llm:
        with pytest.raises(InvalidResponse, match="JSON where an event stream") as info:
            [c async for c in llm.stream(REQUEST)]
    assert info.value.provider == ("oa" if wire == "openai" else "an")


@pytest.mark.parametrize("piece", [1, 7, 64 * 1024], ids=["bytewise", "small", "whole"])
async def test_openai_streamed_tool_calls_collect_into_calls(piece: int) -> None:
    """delta.tool_calls pieces stream as ToolCallDelta; collect() joins them; a stream
    ending with finish_reason tool_calls is complete."""
    stream = await chunks("openai", sse(*OPENAI_CALLS, done=True), piece=piece)
    pieces = [p for c in stream for p in c.tool_calls]
    assert pieces[:2] == [
        ToolCallDelta(0, id="call_1", name="weather", arguments_delta=""),
        ToolCallDelta(0, arguments_delta='{"city": '),
    ]
    assert [c.finish_reason for c in stream[:-1]] == [None] * (len(stream) - 1)
    last = stream[-1]
    assert (last.finish_reason, last.provider_finish_reason) == ("tool_calls", "tool_calls")
    assert (last.provider, last.model) == ("oa", "gpt-x-1")
    assert last.usage == Usage(9, 4, 13, cached_input_tokens=6, reasoning_tokens=2)
    response = await collect(_replay(stream))
    assert response.tool_calls == (
        ToolCall("call_1", "weather", '{"city": "Paris"}'),
        ToolCall("call_2", "weather", '{"city": "Oslo"}'),
    )
    assert response.finish_reason == "tool_calls"


@pytest.mark.parametrize("piece", [1, 64 * 1024], ids=["bytewise", "whole"])
async def test_anthropic_streamed_tool_use_collects_into_calls(piece: int) -> None:
    """tool_use blocks and input_json_delta events stream as ToolCallDelta (numbered from 0);
    collect() gives the text, the calls, the finish and the usage."""
    stream = await chunks("anthropic", sse(*ANTHROPIC_CALLS), piece=piece)
    pieces = [p for c in stream for p in c.tool_calls]
    assert pieces[0] == ToolCallDelta(0, id="toolu_1", name="weather")
    assert {p.index for p in pieces} == {0, 1}
    response = await collect(_replay(stream))
    assert response.content == "Checking."
    assert response.tool_calls == (
        ToolCall("toolu_1", "weather", '{"city": "Paris"}'),
        ToolCall("toolu_2", "weather", '{"city": "Oslo"}'),
    )
    assert (response.finish_reason, response.provider_finish_reason) == ("tool_calls", "tool_use")
    assert (response.provider, response.model) == ("an", "claude-x-1")
    assert response.usage == Usage(9, 4, 13, cached_input_tokens=6)


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
async def test_terminator_right_after_a_cut_inside_tool_arguments_is_interrupted(
    wire: str,
) -> None:
    """A body that stops inside a call's arguments and then sends the terminator ([DONE],
    message_stop) is StreamInterrupted carrying the partial text and calls, never a
    success. (A cut without the terminator: test_tool_answers.py, on FakeLLMServer.)"""
    if wire == "openai":
        events = [
            openai_event({"content": "Let me see."}),
            *OPENAI_CALLS[1:3],
        ]
        body = sse(*events, done=True)
        first_id = "call_1"
    else:
        events = [ANTHROPIC_START, *ANTHROPIC_CALLS[1:6], anthropic_event("message_stop")]
        body = sse(*events)
        first_id = "toolu_1"
    with pytest.raises(StreamInterrupted) as info:
        await chunks(wire, body)
    error = info.value
    assert error.partial in ("Let me see.", "Checking.")
    assert error.partial_tool_calls == (ToolCall(first_id, "weather", '{"city": '),)
    assert error.provider == ("oa" if wire == "openai" else "an")


async def test_openai_terminator_after_whole_calls_without_finish_completes() -> None:
    """[DONE] after whole tool calls but no finish reason completes as tool_calls."""
    stream = await chunks("openai", sse(*OPENAI_CALLS[:5], done=True))
    assert stream[-1].finish_reason == "tool_calls"


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
async def test_malformed_tool_call_event_is_invalid_response(wire: str) -> None:
    """A tool-call event that breaks the wire format is InvalidResponse naming the field."""
    if wire == "openai":
        body = sse(openai_event({"tool_calls": [{"id": "call_1"}]}))
        field = r"tool_calls\[0\]\.index"
    else:
        body = sse(ANTHROPIC_START, json_piece(3, "{"))
        field = "index"
    with pytest.raises(InvalidResponse, match=field) as info:
        await chunks(wire, body)
    assert info.value.provider == ("oa" if wire == "openai" else "an")


@pytest.mark.parametrize(
    ("wire", "body", "stream"),
    [
        ("openai", sse(openai_event({"tool_calls": [{"index": -1}]})), True),
        (
            "openai",
            json.dumps(
                {"choices": [{"message": {"tool_calls": [
                    {"id": "", "function": {"name": "f", "arguments": "{}"}}
                ]}}]}
            ).encode(),
            False,
        ),
        (
            "anthropic",
            json.dumps(
                {"content": [{"type": "tool_use", "id": "", "name": "f", "input": {}}]}
            ).encode(),
            False,
        ),
    ],
    ids=["negative-index", "empty-id", "empty-tool-use-id"],
)  # fmt: skip
async def test_values_the_types_refuse_are_invalid_response(
    wire: str, body: bytes, stream: bool
) -> None:
    """A tool call with an empty id or a negative index is InvalidResponse, not ValueError."""
    read = chunks if stream else answer
    with pytest.raises(InvalidResponse, match="must be") as info:
        await read(wire, body)
    assert info.value.provider == ("oa" if wire == "openai" else "an")


async def test_openai_refusal_streams_as_refusal_pieces() -> None:
    """delta.refusal pieces stream on their chunks; collect() joins them."""
    body = sse(
        openai_event({"refusal": "I can"}),
        openai_event({"refusal": "not."}),
        openai_event({}, "stop"),
    )
    stream = await chunks("openai", body)
    response = await collect(_replay(stream))
    assert (response.refusal, response.content) == ("I cannot.", "")
    assert stream[0].provider == "oa"


async def _replay(stream: list[StreamChunk]) -> AsyncIterator[StreamChunk]:
    """The chunks again, as a stream for ``collect``."""
    for chunk in stream:
        yield chunk


async def test_anthropic_usage_from_message_start_when_no_message_delta_came() -> None:
    """message_start's usage is the stream's usage when message_stop follows no message_delta."""
    text = anthropic_event(
        "content_block_delta", index=0, delta={"type": "text_delta", "text": "Hi"}
    )
    stream = await chunks("anthropic", sse(ANTHROPIC_START, text, anthropic_event("message_stop")))
    assert stream[-1].usage == Usage(9, 0, 9, cached_input_tokens=6)
    assert stream[-1].finish_reason == "stop"
