"""A tool-using agent conversation across both wires, over real sockets to FakeLLMServer.

The fake server writes both wires itself and refuses bodies that break the real APIs'
rules (tool results that answer no call, roles that do not alternate, a system role in
Anthropic messages, ...), so a translation mistake fails these tests with a 400.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from vex_llm import (
    FallbackProvider,
    ImagePart,
    LlmRequest,
    LlmResponse,
    Message,
    StreamInterrupted,
    TextPart,
    Tool,
    ToolCall,
    collect,
)
from vex_llm.providers import AnthropicProvider, OpenAIProvider
from vex_llm.testing import Answer, FakeLLMServer, Fault

pytestmark = pytest.mark.fake_server

WEATHER = Tool(
    name="weather",
    description="The weather in a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")


@pytest.fixture
async def server() -> AsyncIterator[FakeLLMServer]:
    """A fake LLM server speaking both wires."""
    async with FakeLLMServer(seed=0) as running:
        yield running


@pytest.fixture
async def chain(server: FakeLLMServer) -> AsyncIterator[FallbackProvider]:
    """An OpenAI-compatible primary with an Anthropic backup, both on ``server``."""
    limits: dict[str, Any] = {"timeout": 5.0, "first_token_timeout": 2.0, "idle_timeout": 2.0}
    primary = OpenAIProvider("fake-gpt", base_url=server.base_url, api_key="k1", **limits)
    backup = AnthropicProvider(
        "fake-claude", base_url=server.anthropic_base_url, api_key="k2", **limits
    )
    async with primary, backup:
        yield FallbackProvider([primary, backup])


async def ask(chain: FallbackProvider, request: LlmRequest, *, stream: bool) -> LlmResponse:
    """One model turn, whole or streamed (and collected)."""
    if stream:
        return await collect(chain.stream(request))
    return await chain.complete(request)


def bodies(server: FakeLLMServer) -> list[tuple[str, dict[str, Any]]]:
    """(path, JSON body) of every request the server received, in order."""
    out = []
    for entry in server.journal:
        body = entry.json()
        assert isinstance(body, dict)
        out.append((entry.path, body))
    return out


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_an_agent_keeps_its_tool_conversation_across_a_fallback_and_back(
    server: FakeLLMServer, chain: FallbackProvider, stream: bool
) -> None:
    """Turn 1 on OpenAI asks for a tool; turn 2 falls back to Anthropic (OpenAI down) with
    the tool result and gets a second call; turn 3 is back on OpenAI with both calls and
    results in the history: every body is accepted by the API rules and says the same."""
    first = Message(
        "user",
        [TextPart("Weather here, then in Oslo?"), ImagePart(data=PNG, media_type="image/png")],
    )
    history = [Message("system", "Be brief."), first]

    server.script([Answer.tool_call("weather", '{"city": "Paris"}', id="call_1", text="One.")])
    turn1 = await ask(chain, LlmRequest(history, tools=[WEATHER]), stream=stream)
    assert turn1.provider == "openai"
    assert turn1.finish_reason == "tool_calls"
    assert turn1.tool_calls == (ToolCall("call_1", "weather", '{"city": "Paris"}'),)
    history += [
        Message("assistant", turn1.content, tool_calls=turn1.tool_calls),
        Message("tool", "18 C, clear", tool_call_id="call_1"),
    ]

    outage = server.inject(Fault.error(503), wire="openai")
    server.script([Answer.tool_call("weather", '{"city": "Oslo"}', id="toolu_2")], wire="anthropic")
    turn2 = await ask(chain, LlmRequest(history, tools=[WEATHER]), stream=stream)
    assert turn2.provider == "anthropic"
    assert turn2.finish_reason == "tool_calls"
    assert turn2.provider_finish_reason == "tool_use"
    assert turn2.tool_calls == (ToolCall("toolu_2", "weather", '{"city": "Oslo"}'),)
    history += [
        Message("assistant", turn2.content, tool_calls=turn2.tool_calls),
        Message("tool", "-3 C, snow", tool_call_id="toolu_2"),
    ]

    server.remove(outage)
    turn3 = await ask(chain, LlmRequest(history, tools=[WEATHER]), stream=stream)
    assert turn3.provider == "openai"
    assert turn3.finish_reason == "stop"
    assert turn3.content

    sent = bodies(server)
    assert [path for path, _ in sent] == [
        "/v1/chat/completions",
        "/v1/chat/completions",
        "/v1/messages",
        "/v1/chat/completions",
    ]
    claude = sent[2][1]
    assert claude["system"] == "Be brief."
    assert claude["tools"] == [
        {
            "name": "weather",
            "description": "The weather in a city.",
            "input_schema": WEATHER.parameters,
        }
    ]
    assert [m["role"] for m in claude["messages"]] == ["user", "assistant", "user"]
    assert claude["messages"][0]["content"][1]["source"]["type"] == "base64"
    assert claude["messages"][1]["content"][-1] == {
        "type": "tool_use",
        "id": "call_1",
        "name": "weather",
        "input": {"city": "Paris"},
    }
    assert claude["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "18 C, clear"}
    ]
    gpt = sent[3][1]
    assert [m["role"] for m in gpt["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
    ]
    assert gpt["messages"][4]["tool_calls"] == [
        {
            "id": "toolu_2",
            "type": "function",
            "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
        }
    ]
    assert gpt["messages"][5] == {
        "role": "tool",
        "tool_call_id": "toolu_2",
        "content": "-3 C, snow",
    }
    assert json.loads(gpt["messages"][4]["tool_calls"][0]["function"]["arguments"]) == {
        "city": "Oslo"
    }


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
async def test_a_stream_cut_inside_tool_arguments_is_never_a_truncated_call(
    server: FakeLLMServer, chain: FallbackProvider, wire: str
) -> None:
    """A stream cut inside a tool call's arguments, after the call's first pieces reached
    the caller, raises StreamInterrupted carrying the partial call (never a call with
    broken JSON, never a silent restart on the backup)."""
    answer = Answer.tool_call("weather", '{"city": "Paris", "unit": "celsius"}', id="c1")
    if wire == "anthropic":
        server.inject(Fault.error(503), wire="openai")
    server.inject(answer, wire=wire)
    cut = Fault.cut(after_chunks=answer.inside_arguments(pieces=2))
    server.inject(cut, stream=True, wire=wire)
    request = LlmRequest([Message("user", "Weather?")], tools=[WEATHER])
    with pytest.raises(StreamInterrupted) as raised:
        await collect(chain.stream(request))
    (partial,) = raised.value.partial_tool_calls
    assert (partial.id, partial.name) == ("c1", "weather")
    assert partial.arguments == "".join(answer.argument_pieces(0)[:2]) == '{"city": "Paris"'
    assert raised.value.provider == wire
    assert [entry.wire for entry in server.journal][-1] == wire
