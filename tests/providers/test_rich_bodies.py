"""The bodies the HTTP providers send for tools, images, response formats and extras.

Each provider talks to FakeLLMServer over a real socket, whole and streamed; the
server's journal keeps the exact bytes of every body, and the server refuses (400) a
body that breaks the real API's rules (``vex_llm.testing._validate``: alternating roles,
tool results answering the calls before them, ...), so every body checked here was also
accepted. The answer is scripted (``"ok"``); the body is what is checked.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from _provider_kit import Wire

from vex_llm import (
    AnthropicProvider,
    DocumentPart,
    ImagePart,
    InvalidRequest,
    LlmRequest,
    Message,
    OpenAIProvider,
    Reasoning,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    collect,
)
from vex_llm.providers._base import HttpProvider
from vex_llm.testing import Answer, FakeLLMServer

pytestmark = pytest.mark.fake_server

streams = pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}
STREAM_FIELDS: dict[str, dict[str, object]] = {
    "openai": {"stream": True, "stream_options": {"include_usage": True}},
    "anthropic": {"stream": True},
}
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
    server: FakeLLMServer, wire: Wire, requests: Sequence[LlmRequest], *, stream: bool
) -> list[dict[str, object]]:
    """The JSON bodies a provider for ``wire`` sends for ``requests`` (each answered "ok"),
    read from the server's journal; each one was accepted by the wire's API rules."""
    server.script([Answer(text="ok")] * len(requests), wire=wire)
    seen = len(server.journal)
    provider: HttpProvider
    if wire == "openai":
        provider = OpenAIProvider("gpt-x", base_url=server.base_url)
    else:
        provider = AnthropicProvider("claude-x", base_url=server.anthropic_base_url)
    async with provider:
        for request in requests:
            if stream:
                response = await collect(provider.stream(request))
            else:
                response = await provider.complete(request)
            assert response.content == "ok"
    entries = server.journal[seen:]
    assert [(e.path, e.stream, e.status) for e in entries] == [(PATHS[wire], stream, 200)] * len(
        requests
    )
    bodies = []
    for entry in entries:
        body = entry.json()
        assert isinstance(body, dict)
        bodies.append(body)
    return bodies


def sent_as(wire: Wire, body: dict[str, object], *, stream: bool) -> dict[str, object]:
    """``body`` as a stream request sends it (the wire's stream fields added), or as is."""
    return body | STREAM_FIELDS[wire] if stream else body


@streams
async def test_openai_body_carries_tools_images_formats_and_extras(
    server: FakeLLMServer, stream: bool
) -> None:
    """OpenAIProvider sends the whole request as Chat Completions JSON."""
    [body] = await bodies_sent(server, "openai", [rich_request()], stream=stream)
    assert body == sent_as(
        "openai",
        stream=stream,
        body={
            "model": "gpt-x",
            "messages": [
                {"role": "system", "content": "be brief"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in these, and the weather?"},
                        {"type": "image_url", "image_url": {"url": "https://example.test/cat.png"}},
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/png;base64,iVBORw0K"},
                        },
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
        },
    )


@streams
async def test_anthropic_body_carries_tools_images_formats_and_extras(
    server: FakeLLMServer, stream: bool
) -> None:
    """AnthropicProvider sends the same request as Messages JSON: tool results merged into
    one user turn with the question after them, required as any, no seed."""
    [body] = await bodies_sent(server, "anthropic", [rich_request()], stream=stream)
    assert body == sent_as(
        "anthropic",
        stream=stream,
        body={
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
                            "source": {
                                "type": "base64",
                                "media_type": "image/png",
                                "data": "iVBORw0K",
                            },
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
        },
    )


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
@streams
async def test_tool_choice_on_each_wire(
    server: FakeLLMServer, stream: bool, choice: ToolChoice, openai: object, anthropic: object
) -> None:
    """Each tool choice reaches each wire in that wire's own spelling."""
    request = LlmRequest([Message("user", "hi")], tools=[WEATHER], tool_choice=choice)
    [sent_openai] = await bodies_sent(server, "openai", [request], stream=stream)
    [sent_anthropic] = await bodies_sent(server, "anthropic", [request], stream=stream)
    assert sent_openai["tool_choice"] == openai
    assert sent_anthropic["tool_choice"] == anthropic


@pytest.mark.parametrize(
    ("response_format", "openai"),
    [
        (ResponseFormat(type="text"), {"type": "text"}),
        (ResponseFormat(type="json_object"), {"type": "json_object"}),
    ],
)
@streams
async def test_plain_response_formats_on_openai(
    server: FakeLLMServer, stream: bool, response_format: ResponseFormat, openai: object
) -> None:
    """Text and JSON-object response formats are sent as OpenAI's response_format."""
    request = LlmRequest([Message("user", "hi")], response_format=response_format)
    [body] = await bodies_sent(server, "openai", [request], stream=stream)
    assert body["response_format"] == openai


@streams
@pytest.mark.parametrize("wire", ["openai", "anthropic"])
async def test_plain_question_with_a_tool_and_sampling(
    server: FakeLLMServer, wire: Wire, stream: bool
) -> None:
    """A plain question with one tool and sampling settings: stop as stop_sequences and
    AnthropicProvider's max_tokens default (1024: the API requires one) on Anthropic,
    none on OpenAI; streamed, the wire's stream fields are added (stream_options: OpenAI)."""
    request = LlmRequest(
        [Message("user", "hi")], temperature=0.5, top_p=0.9, stop=["END"], tools=[WEATHER]
    )
    [body] = await bodies_sent(server, wire, [request], stream=stream)
    expected: dict[str, object]
    if wire == "openai":
        expected = {
            "model": "gpt-x",
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0.5,
            "top_p": 0.9,
            "stop": ["END"],
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
        }
    else:
        expected = {
            "model": "claude-x",
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 1024,
            "temperature": 0.5,
            "top_p": 0.9,
            "stop_sequences": ["END"],
            "tools": [
                {
                    "name": "weather",
                    "description": "The weather in a city",
                    "input_schema": WEATHER.parameters,
                }
            ],
        }
    assert body == sent_as(wire, expected, stream=stream)


PDF = DocumentPart(data=b"%PDF-1.7", title="a.pdf")
PDF_URL = DocumentPart(url="https://example.test/a.pdf")
NOTE = DocumentPart(data=b"plain words", media_type="text/plain", title="n.txt")


@streams
@pytest.mark.parametrize(
    ("document", "openai", "anthropic"),
    [
        (
            PDF,
            {
                "type": "file",
                "file": {
                    "file_data": "data:application/pdf;base64,JVBERi0xLjc=",
                    "filename": "a.pdf",
                },
            },
            {
                "type": "document",
                "source": {
                    "type": "base64",
                    "media_type": "application/pdf",
                    "data": "JVBERi0xLjc=",
                },
                "title": "a.pdf",
            },
        ),
        (
            NOTE,
            {
                "type": "file",
                "file": {
                    "file_data": "data:text/plain;base64,cGxhaW4gd29yZHM=",
                    "filename": "n.txt",
                },
            },
            {
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": "plain words"},
                "title": "n.txt",
            },
        ),
        (
            PDF_URL,
            None,
            {"type": "document", "source": {"type": "url", "url": "https://example.test/a.pdf"}},
        ),
    ],
    ids=["pdf-data", "text-data", "pdf-url"],
)
async def test_documents_on_each_wire(
    server: FakeLLMServer,
    stream: bool,
    document: DocumentPart,
    openai: dict[str, object] | None,
    anthropic: dict[str, object],
) -> None:
    """A document part is an OpenAI file part (inline data only: a URL fails before
    sending, with code unsupported_documents) and an Anthropic document block (base64,
    text or URL source, with its title)."""
    request = LlmRequest([Message("user", [TextPart("Sum it up."), document])])
    question = {"type": "text", "text": "Sum it up."}
    [sent] = await bodies_sent(server, "anthropic", [request], stream=stream)
    assert sent["messages"] == [{"role": "user", "content": [question, anthropic]}]
    if openai is not None:
        [sent] = await bodies_sent(server, "openai", [request], stream=stream)
        assert sent["messages"] == [{"role": "user", "content": [question, openai]}]
        return
    before = len(server.journal)
    async with OpenAIProvider("gpt-x", base_url=server.base_url) as provider:
        ask = collect(provider.stream(request)) if stream else provider.complete(request)
        with pytest.raises(InvalidRequest) as info:
            await ask
    assert info.value.code == "unsupported_documents"
    assert len(server.journal) == before  # refused before sending
