"""The bodies the HTTP providers send for tools, images, response formats and extras.

Each provider posts to a loopback server that records the body it received (a real
socket); the answer is a canned one, the body is what is checked.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from _raw_server import head, raw_server, sending

from vex_llm import (
    AnthropicProvider,
    ImagePart,
    InvalidResponse,
    LlmRequest,
    Message,
    OpenAIProvider,
    Reasoning,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
)
from vex_llm.providers._base import HttpProvider

OPENAI_OK = json.dumps(
    {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}
).encode()
ANTHROPIC_OK = json.dumps(
    {"content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn"}
).encode()
PNG = b"\x89PNG\r\n"
WEATHER = Tool(
    name="weather",
    description="The weather in a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}}


def conversation() -> list[Message]:
    """A tool-using conversation: images, a call, two results and a follow-up question."""
    return [
        Message("system", "be brief"),
        Message(
            "user",
            [
                TextPart("What is in these, and the weather?"),
                ImagePart(url="https://example.test/cat.png"),
                ImagePart(data=PNG, media_type="image/png"),
            ],
        ),
        Message(
            "assistant",
            "",
            tool_calls=[
                ToolCall("call_1", "weather", '{"city": "Paris"}'),
                ToolCall("call_2", "weather", '{"city": "Oslo"}'),
            ],
        ),
        Message("tool", "sunny", tool_call_id="call_1"),
        Message("tool", "snow", tool_call_id="call_2"),
        Message("user", "And tomorrow?"),
    ]


def rich_request(**options: object) -> LlmRequest:
    """The conversation with tools, a required tool choice and every option set."""
    settings: dict[str, object] = {
        "tools": [WEATHER],
        "tool_choice": ToolChoice("required"),
        "parallel_tool_calls": False,
        "response_format": ResponseFormat.json_schema("answer", SCHEMA),
        "seed": 7,
        "user": "u-42",
        "reasoning": Reasoning(effort="low"),
        "max_tokens": 300,
        "extra": {"openai": {"service_tier": "flex"}, "anthropic": {"top_k": 5}},
    }
    settings.update(options)
    return LlmRequest(conversation(), **settings)  # type: ignore[arg-type]


async def bodies_sent(
    wire: str, requests: Sequence[LlmRequest], *, stream: bool = False
) -> list[dict[str, object]]:
    """The JSON bodies a provider for ``wire`` sends for ``requests``."""
    seen: list[bytes] = []
    answer = OPENAI_OK if wire == "openai" else ANTHROPIC_OK
    async with raw_server(sending(head(), answer), seen=seen) as root:
        provider: HttpProvider
        if wire == "openai":
            provider = OpenAIProvider("gpt-x", base_url=root + "/v1")
        else:
            provider = AnthropicProvider("claude-x", base_url=root)
        async with provider:
            for request in requests:
                if stream:
                    with pytest.raises(InvalidResponse):  # a JSON answer to a stream request
                        [c async for c in provider.stream(request)]
                else:
                    assert (await provider.complete(request)).content == "ok"
    return [json.loads(body) for body in seen]


async def test_openai_body_carries_tools_images_formats_and_extras() -> None:
    """OpenAIProvider sends the whole request as Chat Completions JSON."""
    [body] = await bodies_sent("openai", [rich_request()])
    assert body == {
        "model": "gpt-x",
        "messages": [
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in these, and the weather?"},
                    {"type": "image_url", "image_url": {"url": "https://example.test/cat.png"}},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
                    },
                ],
            },
            {"role": "tool", "content": "sunny", "tool_call_id": "call_1"},
            {"role": "tool", "content": "snow", "tool_call_id": "call_2"},
            {"role": "user", "content": "And tomorrow?"},
        ],
        "max_tokens": 300,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "weather",
                    "description": "The weather in a city",
                    "parameters": WEATHER.parameters,
                },
            }
        ],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": SCHEMA, "strict": True},
        },
        "seed": 7,
        "user": "u-42",
        "reasoning_effort": "low",
        "service_tier": "flex",
    }


async def test_anthropic_body_carries_tools_images_formats_and_extras() -> None:
    """AnthropicProvider sends the same request as Messages JSON: tool results merged into
    one user turn with the question after them, required as any, no seed."""
    [body] = await bodies_sent("anthropic", [rich_request()])
    assert body == {
        "model": "claude-x",
        "system": "be brief",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in these, and the weather?"},
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://example.test/cat.png"},
                    },
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "call_1",
                        "name": "weather",
                        "input": {"city": "Paris"},
                    },
                    {
                        "type": "tool_use",
                        "id": "call_2",
                        "name": "weather",
                        "input": {"city": "Oslo"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"},
                    {"type": "tool_result", "tool_use_id": "call_2", "content": "snow"},
                    {"type": "text", "text": "And tomorrow?"},
                ],
            },
        ],
        "max_tokens": 300,
        "tools": [
            {
                "name": "weather",
                "description": "The weather in a city",
                "input_schema": WEATHER.parameters,
            }
        ],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "metadata": {"user_id": "u-42"},
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "output_config": {"format": {"type": "json_schema", "schema": SCHEMA}},
        "top_k": 5,
    }


@pytest.mark.parametrize(
    ("choice", "openai", "anthropic"),
    [
        (ToolChoice("auto"), "auto", {"type": "auto"}),
        (ToolChoice("none"), "none", {"type": "none"}),
        (ToolChoice("required"), "required", {"type": "any"}),
        (
            ToolChoice.tool("weather"),
            {"type": "function", "function": {"name": "weather"}},
            {"type": "tool", "name": "weather"},
        ),
    ],
)
async def test_tool_choice_on_each_wire(
    choice: ToolChoice, openai: object, anthropic: object
) -> None:
    """Each tool choice reaches each wire in that wire's own spelling."""
    request = LlmRequest([Message("user", "hi")], tools=[WEATHER], tool_choice=choice)
    [sent_openai] = await bodies_sent("openai", [request])
    [sent_anthropic] = await bodies_sent("anthropic", [request])
    assert sent_openai["tool_choice"] == openai
    assert sent_anthropic["tool_choice"] == anthropic


@pytest.mark.parametrize(
    ("response_format", "openai"),
    [
        (ResponseFormat(type="text"), {"type": "text"}),
        (ResponseFormat(type="json_object"), {"type": "json_object"}),
    ],
)
async def test_plain_response_formats_on_openai(
    response_format: ResponseFormat, openai: object
) -> None:
    """Text and JSON-object response formats are sent as OpenAI's response_format."""
    request = LlmRequest([Message("user", "hi")], response_format=response_format)
    [body] = await bodies_sent("openai", [request])
    assert body["response_format"] == openai


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
async def test_stream_bodies_carry_the_tools_too(wire: str) -> None:
    """A stream request sends the same translation, plus the wire's stream fields."""
    request = LlmRequest([Message("user", "hi")], tools=[WEATHER])
    [body] = await bodies_sent(wire, [request], stream=True)
    assert body["stream"] is True
    tools = body["tools"]
    assert isinstance(tools, list)
    assert len(tools) == 1
    if wire == "openai":
        assert body["stream_options"] == {"include_usage": True}
    else:
        assert "stream_options" not in body
