"""The OpenAI Chat Completions wire: request and answer bodies <-> the types."""

from __future__ import annotations

import pytest
from _wire_strategies import Body, openai_bodies
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
    Tool,
    ToolCall,
    ToolChoice,
    Usage,
)


@settings(max_examples=150)
@given(openai_bodies())
def test_request_body_round_trips(body: Body) -> None:
    """from_openai(b).to_openai() == b for every body the strategy builds."""
    assert LlmRequest.from_openai(body).to_openai() == body


@given(openai_bodies())
def test_request_model_round_trips(body: Body) -> None:
    """A request written to the wire and read back is the same request."""
    request = LlmRequest.from_openai(body)
    assert LlmRequest.from_openai(request.to_openai()) == request


def test_request_reads_every_field_into_the_model() -> None:
    """Tools, tool calls, tool results, images, documents and options land in the model."""
    body: Body = {
        "model": "gpt-4o",
        "messages": [
            {"role": "developer", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAE="}},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}},
                    {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "42"},
        ],
        "tools": [
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
        ],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": {}}},
        "reasoning_effort": "high",
        "max_completion_tokens": 50,
        "logit_bias": {"1": 2},
    }
    request = LlmRequest.from_openai(body)
    system, user, assistant, tool = request.messages
    assert system == Message("system", "be brief")
    assert user.parts == (
        TextPart("look"),
        ImagePart(data=b"\x00\x01", media_type="image/png"),
        ImagePart(url="https://x/y.png", detail="low"),
        DocumentPart(data=b"%PD", media_type="application/pdf"),
    )
    assert user.content == "look"
    assert assistant.tool_calls == (ToolCall("c1", "f", "{}"),)
    assert tool == Message("tool", "42", tool_call_id="c1")
    assert request.tools == (Tool(name="f", parameters={"type": "object"}),)
    assert request.tool_choice == ToolChoice.tool("f")
    assert request.response_format == ResponseFormat(type="json_schema", name="r", schema={})
    assert request.reasoning == Reasoning(effort="high")
    assert request.max_tokens == 50
    assert request.extra == {"openai": {"max_completion_tokens": 50, "logit_bias": {"1": 2}}}
    out = request.to_openai()
    assert "max_tokens" not in out
    assert out["max_completion_tokens"] == 50
    assert out["logit_bias"] == {"1": 2}


def test_to_openai_streams_with_usage_and_fills_the_model() -> None:
    """stream=True asks for usage on the last chunk; model= fills a request without one."""
    body = LlmRequest.from_prompt("hi").to_openai(model="m", stream=True)
    assert body["model"] == "m"
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert LlmRequest.from_prompt("hi", model="own").to_openai(model="m")["model"] == "own"


def test_document_by_url_cannot_go_on_the_openai_wire() -> None:
    """A document URL fails before sending with a code naming documents."""
    request = LlmRequest([Message("user", [DocumentPart(url="https://x/a.pdf")])])
    with pytest.raises(InvalidRequest, match=r"messages\[0\]\.content\[0\]") as caught:
        request.to_openai()
    assert caught.value.code == "unsupported_documents"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "messages"),
        ({"messages": "hi"}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, r"messages\[0\]\.role"),
        ({"messages": [{"role": "user", "content": 3}]}, r"messages\[0\]\.content"),
        (
            {"messages": [{"role": "user", "content": [{"type": "audio"}]}]},
            r"messages\[0\]\.content\[0\]\.type",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            r"messages\[0\]\.content\[0\]\.image_url\.url",
        ),
        (
            {"messages": [{"role": "assistant", "content": "x", "tool_calls": [{"id": "a"}]}]},
            r"messages\[0\]\.tool_calls\[0\]\.function",
        ),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": "9"}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "x"}], "temperature": True}, "temperature"),
        ({"messages": [{"role": "user", "content": "x"}], "tool_choice": "any"}, "tool_choice"),
        ({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "x"}]}, r"tools\[0\]"),
        (
            {"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "yaml"}},
            r"response_format\.type",
        ),
        (
            {"messages": [{"role": "user", "content": "x"}], "reasoning_effort": 3},
            "reasoning_effort",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "u", "x": 1}}],
                    }
                ]
            },
            r"messages\[0\]\.content\[0\]\.image_url\.x",
        ),
    ],
)
def test_malformed_request_names_the_field(body: Body, field: str) -> None:
    """A malformed body raises InvalidRequest whose message names the field."""
    with pytest.raises(InvalidRequest, match=field):
        LlmRequest.from_openai(body)


ANSWER: Body = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 0,
    "model": "gpt-4o",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "f", "arguments": '{"a": 1}'},
                    }
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 2},
    },
}


def test_response_reads_tool_calls_usage_and_finish() -> None:
    """An answer's tool calls, cache and reasoning tokens and finish reason are read."""
    response = LlmResponse.from_openai(ANSWER)
    assert response.tool_calls == (ToolCall("c1", "f", '{"a": 1}'),)
    assert response.usage == Usage(10, 5, 15, cached_input_tokens=4, reasoning_tokens=2)
    assert response.finish_reason == "tool_calls"
    assert response.provider_finish_reason == "tool_calls"
    assert response.id == "chatcmpl-1"
    assert response.to_openai() == ANSWER


def test_response_reads_a_refusal() -> None:
    """The wire's refusal field lands on LlmResponse.refusal."""
    body: Body = {
        "model": "m",
        "choices": [
            {
                "message": {"role": "assistant", "content": None, "refusal": "no"},
                "finish_reason": "stop",
            }
        ],
    }
    response = LlmResponse.from_openai(body)
    assert response.refusal == "no"
    assert response.content == ""


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "choices"),
        ({"choices": []}, "choices"),
        ({"choices": [{}]}, r"choices\[0\]\.message"),
        ({"choices": [{"message": {"content": 1}}]}, r"choices\[0\]\.message\.content"),
        ({"choices": [{"message": {}}], "usage": {"prompt_tokens": "1"}}, r"usage\.prompt_tokens"),
    ],
)
def test_malformed_response_names_the_field(body: Body, field: str) -> None:
    """A malformed answer raises InvalidResponse naming the field."""
    with pytest.raises(InvalidResponse, match=field):
        LlmResponse.from_openai(body)


def test_unknown_fields_of_messages_parts_and_tools_are_kept_for_this_wire() -> None:
    """Fields the model does not know stay on their object, for the OpenAI wire only."""
    body: Body = {
        "messages": [
            {"role": "assistant", "content": "hi", "refusal": None, "annotations": []},
            {"role": "user", "content": [{"type": "text", "text": "x", "cache": True}]},
        ],
        "tools": [{"type": "function", "function": {"name": "f"}, "ns": "a"}],
    }
    request = LlmRequest.from_openai(body)
    assert request.messages[0].extra == {"openai": {"refusal": None, "annotations": []}}
    assert request.messages[1].parts == (TextPart("x", extra={"openai": {"cache": True}}),)
    assert request.tools[0].extra == {"openai": {"ns": "a"}}
    assert request.to_openai() == body
    across = request.to_anthropic()
    assert across["messages"] == [
        {"role": "assistant", "content": "hi"},
        {"role": "user", "content": [{"type": "text", "text": "x"}]},
    ]
