"""Stream events of both wires <-> StreamChunk, and collect() over realistic streams."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Iterable, Mapping

import pytest
from _wire_strategies import json_args, name, text
from hypothesis import given
from hypothesis import strategies as st

from vex_llm import (
    InvalidResponse,
    LlmRequest,
    Message,
    StreamChunk,
    ThinkingPart,
    ToolCall,
    ToolCallDelta,
    Usage,
    collect,
)
from vex_llm.wire import anthropic, openai

Event = Mapping[str, object]


async def _chunks(chunks: Iterable[StreamChunk]) -> AsyncIterator[StreamChunk]:
    for chunk in chunks:
        yield chunk


def _head(**rest: object) -> dict[str, object]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "gpt",
        **rest,
    }


OPENAI_TOOL_STREAM: list[Event] = [
    _head(
        choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
    ),
    _head(choices=[{"index": 0, "delta": {"content": "Let me check."}, "finish_reason": None}]),
    _head(
        choices=[
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_a",
                            "type": "function",
                            "function": {"name": "weather", "arguments": ""},
                        }
                    ]
                },
                "finish_reason": None,
            }
        ]
    ),
    _head(
        choices=[
            {
                "index": 0,
                "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]},
                "finish_reason": None,
            }
        ]
    ),
    _head(
        choices=[
            {
                "index": 0,
                "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]},
                "finish_reason": None,
            }
        ]
    ),
    _head(
        choices=[
            {
                "index": 0,
                "delta": {
                    "tool_calls": [
                        {
                            "index": 1,
                            "id": "call_b",
                            "type": "function",
                            "function": {"name": "time", "arguments": "{}"},
                        }
                    ]
                },
                "finish_reason": None,
            }
        ]
    ),
    _head(choices=[{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]),
    _head(choices=[], usage={"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29}),
]


def _start(index: int, block: dict[str, object]) -> Event:
    return {"type": "content_block_start", "index": index, "content_block": block}


def _delta(index: int, kind: str, **fields: object) -> Event:
    return {"type": "content_block_delta", "index": index, "delta": {"type": kind, **fields}}


def _tool_use(tool_id: str, tool: str) -> dict[str, object]:
    return {"type": "tool_use", "id": tool_id, "name": tool, "input": {}}


ANTHROPIC_TOOL_STREAM: list[Event] = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 12, "cache_read_input_tokens": 8, "output_tokens": 1},
        },
    },
    _start(0, {"type": "text", "text": ""}),
    {"type": "ping"},
    _delta(0, "text_delta", text="Let me check."),
    {"type": "content_block_stop", "index": 0},
    _start(1, _tool_use("toolu_a", "weather")),
    _delta(1, "input_json_delta", partial_json=""),
    _delta(1, "input_json_delta", partial_json='{"city": '),
    _delta(1, "input_json_delta", partial_json='"Oslo"}'),
    {"type": "content_block_stop", "index": 1},
    _start(2, _tool_use("toolu_b", "time")),
    _delta(2, "input_json_delta", partial_json="{}"),
    {"type": "content_block_stop", "index": 2},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"output_tokens": 9},
    },
    {"type": "message_stop"},
]  # fmt: skip


async def test_openai_tool_call_stream_collects_into_tool_calls() -> None:
    """Streamed tool-call deltas decode and collect into whole calls with usage and finish."""
    chunks = [openai.chunk_from_event(event) for event in OPENAI_TOOL_STREAM]
    assert chunks[3].tool_calls == (ToolCallDelta(0, arguments_delta='{"city": '),)
    response = await collect(_chunks(chunks))
    assert response.content == "Let me check."
    assert response.tool_calls == (
        ToolCall("call_a", "weather", '{"city": "Oslo"}'),
        ToolCall("call_b", "time", "{}"),
    )
    assert (response.finish_reason, response.provider_finish_reason) == ("tool_calls", "tool_calls")
    assert response.usage == Usage(20, 9, 29)
    assert response.model == "gpt"


async def test_anthropic_tool_use_stream_collects_into_tool_calls() -> None:
    """input_json_delta events decode into tool-call deltas; collect() rebuilds the calls."""
    decoder = anthropic.StreamDecoder()
    chunks = [c for c in map(decoder.feed, ANTHROPIC_TOOL_STREAM) if c is not None]
    assert chunks[0] == StreamChunk("", model="claude")
    response = await collect(_chunks(chunks))
    assert response.content == "Let me check."
    assert response.tool_calls == (
        ToolCall("toolu_a", "weather", '{"city": "Oslo"}'),
        ToolCall("toolu_b", "time", "{}"),
    )
    assert (response.finish_reason, response.provider_finish_reason) == ("tool_calls", "tool_use")
    assert response.usage == Usage(20, 9, 29, cached_input_tokens=8)


async def test_the_same_answer_on_both_wires_collects_the_same() -> None:
    """An OpenAI stream re-encoded as Anthropic events and decoded collects to the same answer."""
    encoder = anthropic.StreamEncoder(id="msg_x", model="claude")
    events = [
        e for event in OPENAI_TOOL_STREAM for e in encoder.encode(openai.chunk_from_event(event))
    ]
    events += encoder.close()
    assert [e["type"] for e in events][-2:] == ["message_delta", "message_stop"]
    decoder = anthropic.StreamDecoder()
    chunks = [c for c in map(decoder.feed, events) if c is not None]
    from_openai = await collect(_chunks(map(openai.chunk_from_event, OPENAI_TOOL_STREAM)))
    from_anthropic = await collect(_chunks(chunks))
    assert from_anthropic.content == from_openai.content
    assert from_anthropic.tool_calls == from_openai.tool_calls
    assert from_anthropic.finish_reason == "tool_calls"
    assert from_anthropic.usage == from_openai.usage


async def test_anthropic_events_re_encode_as_openai_chunks() -> None:
    """Anthropic chunks written as OpenAI events and read back collect to the same answer."""
    decoder = anthropic.StreamDecoder()
    chunks = [c for c in map(decoder.feed, ANTHROPIC_TOOL_STREAM) if c is not None]
    events = [
        e for i, c in enumerate(chunks) for e in openai.events_from_chunk(c, id="x", first=i == 0)
    ]
    again = [openai.chunk_from_event(event) for event in events]
    expected = dataclasses.replace(
        await collect(_chunks(chunks)), provider_finish_reason="tool_calls"
    )
    assert await collect(_chunks(again)) == expected
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"  # type: ignore[index]  # event dicts
    assert events[-1]["choices"] == []


@st.composite
def _answers(draw: st.DrawFn) -> list[StreamChunk]:
    """An answer's chunks: thinking, text, tool calls cut into argument pieces, the finish."""
    chunks = [
        StreamChunk("", thinking=ThinkingPart(piece, signature=sig))
        for piece, sig in draw(st.lists(st.tuples(text, st.none() | name), max_size=3))
    ]
    chunks += [StreamChunk(piece) for piece in draw(st.lists(text.filter(bool), max_size=4))]
    calls = draw(st.lists(st.tuples(name, json_args), max_size=3))
    for index, (tool, arguments) in enumerate(calls):
        payload = json.dumps(arguments)
        cuts = sorted(draw(st.lists(st.integers(0, len(payload)), max_size=3)))
        pieces = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)], strict=True)]
        chunks.append(
            StreamChunk("", tool_calls=[ToolCallDelta(index, id=f"call_{index}", name=tool)])
        )
        chunks += [
            StreamChunk("", tool_calls=[ToolCallDelta(index, arguments_delta=p)])
            for p in pieces
            if p
        ]
    finish = "tool_calls" if calls else draw(st.sampled_from(["stop", "length", "content_filter"]))
    chunks.append(StreamChunk("", finish_reason=finish, usage=Usage(5, 7, 12)))
    return chunks


@given(_answers())
async def test_any_answer_survives_both_stream_encodings(chunks: list[StreamChunk]) -> None:
    """Chunks -> events -> chunks collects to the same answer on either wire."""
    expected = await collect(_chunks(chunks))
    encoder = anthropic.StreamEncoder()
    events = [e for c in chunks for e in encoder.encode(c)] + encoder.close()
    decoder = anthropic.StreamDecoder()
    via_anthropic = [c for c in map(decoder.feed, events) if c is not None]
    via_openai = [openai.chunk_from_event(e) for c in chunks for e in openai.events_from_chunk(c)]
    assert (await collect(_chunks(via_anthropic))).thinking == expected.thinking
    for got in (await collect(_chunks(via_anthropic)), await collect(_chunks(via_openai))):
        assert (got.content, got.tool_calls, got.finish_reason, got.usage) == (
            expected.content,
            expected.tool_calls,
            expected.finish_reason,
            expected.usage,
        )


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"choices": [{"delta": {"content": 3}}]}, r"choices\[0\]\.delta\.content"),
        ({"choices": [{"delta": {"tool_calls": [{"id": "a"}]}}]}, r"tool_calls\[0\]\.index"),
        ({"choices": "x"}, "choices"),
    ],
)
def test_malformed_openai_event_names_the_field(event: Event, field: str) -> None:
    """A malformed chunk event raises InvalidResponse naming the field."""
    with pytest.raises(InvalidResponse, match=field):
        openai.chunk_from_event(event)


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta"}},
            r"delta\.text",
        ),
        (
            {
                "type": "content_block_delta",
                "index": 4,
                "delta": {"type": "input_json_delta", "partial_json": "{"},
            },
            "index",
        ),
        ({"type": "message_start"}, "message"),
        ({"text": "x"}, "type"),
    ],
)
def test_malformed_anthropic_event_names_the_field(event: Event, field: str) -> None:
    """A malformed event raises InvalidResponse naming the field."""
    with pytest.raises(InvalidResponse, match=field):
        anthropic.StreamDecoder().feed(event)


def test_anthropic_error_event_raises_with_its_type() -> None:
    """An error event is never skipped: it raises with the error's type as the code."""
    event = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(InvalidResponse, match="Overloaded") as caught:
        anthropic.StreamDecoder().feed(event)
    assert caught.value.code == "overloaded_error"


def test_unknown_events_add_nothing() -> None:
    """Unknown event types and unknown delta types yield no chunk."""
    decoder = anthropic.StreamDecoder()
    assert decoder.feed({"type": "future_event"}) is None
    assert decoder.feed(_delta(0, "citations_delta", citation={})) is None


THINKING_STREAM: list[Event] = [
    {"type": "message_start", "message": {"model": "claude", "usage": {"input_tokens": 5}}},
    _start(0, {"type": "thinking", "thinking": ""}),
    _delta(0, "thinking_delta", thinking="The user wants "),
    _delta(0, "thinking_delta", thinking="the weather."),
    _delta(0, "signature_delta", signature="sig-1"),
    {"type": "content_block_stop", "index": 0},
    _start(1, {"type": "redacted_thinking", "data": "opaque"}),
    {"type": "content_block_stop", "index": 1},
    _start(2, _tool_use("toolu_a", "weather")),
    _delta(2, "input_json_delta", partial_json='{"city": "Oslo"}'),
    {"type": "content_block_stop", "index": 2},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 7}},
    {"type": "message_stop"},
]


async def test_thinking_streams_collect_and_go_back_in_the_next_turn() -> None:
    """Thinking deltas and signatures collect into ThinkingParts that the next turn resends."""
    decoder = anthropic.StreamDecoder()
    chunks = [c for c in map(decoder.feed, THINKING_STREAM) if c is not None]
    response = await collect(_chunks(chunks))
    assert response.thinking == (
        ThinkingPart("The user wants the weather.", signature="sig-1"),
        ThinkingPart(redacted="opaque"),
    )
    assert response.tool_calls == (ToolCall("toolu_a", "weather", '{"city": "Oslo"}'),)
    turn = response.to_message()
    request = LlmRequest(
        [Message("user", "weather?"), turn, Message("tool", "cold", tool_call_id="toolu_a")]
    )
    assert request.to_anthropic()["messages"][1] == {  # type: ignore[index]  # body dicts
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "The user wants the weather.", "signature": "sig-1"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "tool_use", "id": "toolu_a", "name": "weather", "input": {"city": "Oslo"}},
        ],
    }
    assert request.to_openai()["messages"][1]["content"] is None  # type: ignore[index]  # no thinking on OpenAI
    encoder = anthropic.StreamEncoder(model="claude")
    events = [e for c in chunks for e in encoder.encode(c)] + encoder.close()
    again = anthropic.StreamDecoder()
    replayed = await collect(_chunks(c for c in map(again.feed, events) if c is not None))
    assert replayed.thinking == response.thinking
    assert not [e for c in chunks if c.thinking for e in openai.events_from_chunk(c)]
