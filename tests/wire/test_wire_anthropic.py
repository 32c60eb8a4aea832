"""The Anthropic Messages wire: request and answer bodies <-> the types."""

from __future__ import annotations

import pytest
from _wire_strategies import Body, anthropic_bodies
from hypothesis import given, settings

from vex_llm import (
    DocumentPart,
    ImagePart,
    InvalidRequest,
    InvalidResponse,
    LlmRequest,
    LlmResponse,
    Message,
    Reasoning,
    ResponseFormat,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCall,
    ToolChoice,
    Usage,
)
from vex_llm.wire.anthropic import DEFAULT_MAX_TOKENS


@settings(max_examples=150)
@given(anthropic_bodies())
def test_request_body_round_trips(body: Body) -> None:
    """from_anthropic(b).to_anthropic() == b for every body the strategy builds."""
    assert LlmRequest.from_anthropic(body).to_anthropic() == body


@given(anthropic_bodies())
def test_request_model_round_trips(body: Body) -> None:
    """A request written to the wire and read back is the same request."""
    request = LlmRequest.from_anthropic(body)
    assert LlmRequest.from_anthropic(request.to_anthropic()) == request


def test_tool_results_split_into_tool_messages_and_merge_back() -> None:
    """A user turn of tool results and text reads as tool messages then a user message."""
    body: Body = {
        "model": "claude",
        "max_tokens": 100,
        "system": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        "messages": [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "checking"},
                    {"type": "tool_use", "id": "t1", "name": "w", "input": {"city": "Oslo"}},
                    {"type": "tool_use", "id": "t2", "name": "w", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": "cold"},
                    {"type": "tool_result", "tool_use_id": "t2"},
                    {"type": "text", "text": "and?"},
                ],
            },
        ],
    }
    request = LlmRequest.from_anthropic(body)
    assert [m.role for m in request.messages] == [
        "system", "user", "assistant", "tool", "tool", "user",
    ]  # fmt: skip
    assert request.messages[0].parts == (TextPart("a"), TextPart("b"))
    assert request.messages[2].tool_calls == (
        ToolCall("t1", "w", '{"city": "Oslo"}'),
        ToolCall("t2", "w", "{}"),
    )
    assert request.messages[3] == Message("tool", "cold", tool_call_id="t1")
    assert request.messages[4] == Message("tool", "", tool_call_id="t2")
    assert request.to_anthropic() == body


def test_consecutive_tool_messages_become_one_user_turn() -> None:
    """OpenAI-style tool messages are merged into one user turn of tool_result blocks."""
    request = LlmRequest(
        [
            Message("user", "go"),
            Message("assistant", "", tool_calls=[ToolCall("a", "f"), ToolCall("b", "f")]),
            Message("tool", "1", tool_call_id="a"),
            Message("tool", "2", tool_call_id="b"),
            Message("assistant", "done"),
        ]
    )
    turns = request.to_anthropic()["messages"]
    assert turns == [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "a", "name": "f", "input": {}},
                {"type": "tool_use", "id": "b", "name": "f", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "a", "content": "1"},
                {"type": "tool_result", "tool_use_id": "b", "content": "2"},
            ],
        },
        {"role": "assistant", "content": "done"},
    ]


def test_defaults_and_options_on_the_anthropic_wire() -> None:
    """max_tokens defaults to 4096 (plus the thinking budget); options map to their fields."""
    request = LlmRequest(
        [Message("system", "s"), Message("user", "u")],
        stop=["END"],
        tools=[Tool(name="f")],
        tool_choice=ToolChoice("required"),
        parallel_tool_calls=False,
        user="u-1",
        reasoning=Reasoning(effort="high"),
        response_format=ResponseFormat.json_schema("r", {"type": "object"}),
        extra={"anthropic": {"top_k": 5, "output_config": {"effort": "low"}}, "openai": {"n": 2}},
    )
    body = request.to_anthropic(model="claude", stream=True)
    assert body == {
        "model": "claude",
        "system": "s",
        "messages": [{"role": "user", "content": "u"}],
        "max_tokens": DEFAULT_MAX_TOKENS + 16384,
        "stop_sequences": ["END"],
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "metadata": {"user_id": "u-1"},
        "thinking": {"type": "enabled", "budget_tokens": 16384},
        "output_config": {
            "format": {"type": "json_schema", "schema": {"type": "object"}},
            "effort": "low",
        },
        "top_k": 5,
        "stream": True,
    }
    assert LlmRequest.from_prompt("x").to_anthropic()["max_tokens"] == DEFAULT_MAX_TOKENS
    assert LlmRequest.from_prompt("x").to_anthropic(max_tokens=7)["max_tokens"] == 7


def test_images_and_documents_become_source_blocks() -> None:
    """Inline images and PDFs are base64 sources; URLs are url sources; text docs are text."""
    request = LlmRequest(
        [
            Message(
                "user",
                [
                    ImagePart(data=b"\x00\x01", media_type="image/png", detail="high"),
                    ImagePart(url="https://x/i.png"),
                    DocumentPart(data=b"%PD", title="a.pdf"),
                    DocumentPart(url="https://x/d.pdf"),
                    DocumentPart(data="héllo".encode(), media_type="text/plain"),
                ],
            )
        ]
    )
    assert request.to_anthropic()["messages"] == [
        {
            "role": "user",
            "content": [
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "AAE="},
                },
                {"type": "image", "source": {"type": "url", "url": "https://x/i.png"}},
                {
                    "type": "document",
                    "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"},
                    "title": "a.pdf",
                },
                {"type": "document", "source": {"type": "url", "url": "https://x/d.pdf"}},
                {
                    "type": "document",
                    "source": {"type": "text", "media_type": "text/plain", "data": "héllo"},
                },
            ],
        }
    ]


def test_json_object_format_cannot_go_on_the_anthropic_wire() -> None:
    """A plain JSON mode fails before sending with a code saying so."""
    request = LlmRequest.from_prompt("x", response_format=ResponseFormat(type="json_object"))
    with pytest.raises(InvalidRequest) as caught:
        request.to_anthropic()
    assert caught.value.code == "unsupported_response_format"


def test_tool_call_arguments_must_be_a_json_object_for_anthropic() -> None:
    """Arguments that are not a JSON object fail, naming the message and the call."""
    request = LlmRequest([Message("assistant", "", tool_calls=[ToolCall("a", "f", "[1")])])
    with pytest.raises(InvalidRequest, match=r"messages\[0\]\.tool_calls\[0\]\.arguments"):
        request.to_anthropic()


_USER = [{"role": "user", "content": "x"}]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"max_tokens": 5}, "messages"),
        ({"messages": _USER}, "max_tokens"),
        (
            {"max_tokens": 5, "messages": [{"role": "system", "content": "x"}]},
            r"messages\[0\]\.role",
        ),
        (
            {
                "max_tokens": 5,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/png",
                                    "data": "%%%",
                                },
                            }
                        ],
                    }
                ],
            },
            r"messages\[0\]\.content\[0\]\.source\.data",
        ),
        (
            {
                "max_tokens": 5,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image", "source": {"type": "url", "url": "u", "x": 1}}
                        ],
                    }
                ],
            },
            r"messages\[0\]\.content\[0\]\.source\.x",
        ),
        (
            {
                "max_tokens": 5,
                "messages": [
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "a", "name": "f", "input": []}],
                    }
                ],
            },
            r"messages\[0\]\.content\[0\]\.input",
        ),
        (
            {"max_tokens": 5, "messages": _USER, "tool_choice": {"type": "some"}},
            r"tool_choice\.type",
        ),
        (
            {"max_tokens": 5, "messages": _USER, "thinking": {"type": "enabled"}},
            r"thinking\.budget_tokens",
        ),
        (
            {"max_tokens": 5, "messages": _USER, "tools": [{"name": "f", "type": "bash_20250124"}]},
            r"tools\[0\]\.type",
        ),
        ({"max_tokens": 5, "messages": _USER, "system": 3}, "system"),
        ({"max_tokens": 5, "messages": _USER, "stop_sequences": [1]}, "stop_sequences"),
    ],
)
def test_malformed_request_names_the_field(body: Body, field: str) -> None:
    """A malformed body raises InvalidRequest whose message names the field."""
    with pytest.raises(InvalidRequest, match=field):
        LlmRequest.from_anthropic(body)


ANSWER: Body = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude",
    "content": [
        {"type": "text", "text": "let me look"},
        {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 3,
        "output_tokens": 5,
        "cache_creation_input_tokens": 2,
        "cache_read_input_tokens": 4,
    },
}


def test_response_reads_tool_use_cache_usage_and_finish() -> None:
    """tool_use blocks, cache tokens and the stop reason are read, and written back."""
    response = LlmResponse.from_anthropic(ANSWER)
    assert response.content == "let me look"
    assert response.tool_calls == (ToolCall("t1", "f", '{"a": 1}'),)
    assert response.usage == Usage(9, 5, 14, cached_input_tokens=4, cache_write_tokens=2)
    assert (response.finish_reason, response.provider_finish_reason) == ("tool_calls", "tool_use")
    assert response.to_anthropic() == ANSWER


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("something_new", "stop"),
    ],
)
def test_stop_reasons_are_normalised(stop_reason: str, finish: str) -> None:
    """Each stop reason maps to a normalised finish reason and is kept as the provider's."""
    response = LlmResponse.from_anthropic({"content": [], "stop_reason": stop_reason})
    assert (response.finish_reason, response.provider_finish_reason) == (finish, stop_reason)


def test_response_keeps_thinking_blocks_apart_from_the_text() -> None:
    """Thinking blocks go to LlmResponse.thinking, not the text, and are written back first."""
    body: Body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "redacted_thinking", "data": "xyz"},
            {"type": "text", "text": "hi"},
        ],
        "stop_reason": "end_turn",
        "stop_sequence": None,
    }
    response = LlmResponse.from_anthropic(body)
    assert response.content == "hi"
    assert response.thinking == (ThinkingPart("hmm", signature="s"), ThinkingPart(redacted="xyz"))
    assert response.to_anthropic() == body
    assert response.to_message() == Message("assistant", [*response.thinking, TextPart("hi")])


def test_thinking_outside_an_assistant_turn_is_refused() -> None:
    """A thinking block in a user turn raises InvalidRequest naming the block's type."""
    body: Body = {
        "max_tokens": 5,
        "messages": [{"role": "user", "content": [{"type": "thinking", "thinking": "x"}]}],
    }
    with pytest.raises(InvalidRequest, match=r"messages\[0\]\.content\[0\]\.type"):
        LlmRequest.from_anthropic(body)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "content"),
        ({"content": [{"type": "text"}]}, r"content\[0\]\.text"),
        (
            {"content": [{"type": "tool_use", "id": "a", "name": "f", "input": 1}]},
            r"content\[0\]\.input",
        ),
        ({"content": [], "usage": {"output_tokens": 1.5}}, r"usage\.output_tokens"),
    ],
)
def test_malformed_response_names_the_field(body: Body, field: str) -> None:
    """A malformed answer raises InvalidResponse naming the field."""
    with pytest.raises(InvalidResponse, match=field):
        LlmResponse.from_anthropic(body)


def test_cache_control_and_error_results_are_kept_for_this_wire() -> None:
    """cache_control on blocks and tools, and is_error on tool results, survive a round trip."""
    ephemeral = {"type": "ephemeral"}
    body: Body = {
        "model": "claude",
        "max_tokens": 10,
        "system": [{"type": "text", "text": "s", "cache_control": ephemeral}],
        "messages": [
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t",
                        "content": "boom",
                        "is_error": True,
                    },
                    {"type": "text", "text": "retry", "cache_control": ephemeral},
                ],
            },
        ],
        "tools": [{"name": "f", "input_schema": {"type": "object"}, "cache_control": ephemeral}],
    }
    request = LlmRequest.from_anthropic(body)
    assert request.messages[2] == Message(
        "tool", "boom", tool_call_id="t", extra={"anthropic": {"is_error": True}}
    )
    assert request.messages[0].parts == (
        TextPart("s", extra={"anthropic": {"cache_control": ephemeral}}),
    )
    assert request.tools[0].extra == {"anthropic": {"cache_control": ephemeral}}
    assert request.to_anthropic() == body
    assert "cache_control" not in str(request.to_openai())
