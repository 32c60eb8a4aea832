"""FakeLLMServer as an oracle: bodies that break the APIs' rules get each wire's 400;
the journal keeps the exact body received."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from _fake_kit import PATHS, WIRES, Wire, body, post

from vex_llm.testing import FakeLLMServer

pytestmark = pytest.mark.fake_server

USER = {"role": "user", "content": "weather in Paris?"}
USE_A = {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {"city": "Paris"}}
USE_B = {"type": "tool_use", "id": "toolu_b", "name": "get_time", "input": {}}
RESULT_A = {"type": "tool_result", "tool_use_id": "toolu_a", "content": "18 C"}
RESULT_B = {
    "type": "tool_result",
    "tool_use_id": "toolu_b",
    "content": [{"type": "text", "text": "9:00"}],
}
ASSISTANT_USES = {
    "role": "assistant",
    "content": [{"type": "text", "text": "Checking."}, USE_A, USE_B],
}
TOOL_A = {"role": "tool", "tool_call_id": "call_a", "content": "18 C"}
TOOL_B = {"role": "tool", "tool_call_id": "call_b", "content": [{"type": "text", "text": "9:00"}]}
ASSISTANT_CALLS = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "get_weather", "arguments": "{}"},
        },
        {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
    ],
}
FUNCTION = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}


def results(*blocks: dict[str, Any]) -> dict[str, Any]:
    """A user turn holding ``blocks``."""
    return {"role": "user", "content": list(blocks)}


ANTHROPIC_BROKEN = {
    "max_tokens missing": ({"max_tokens": None}, "max_tokens: Field required"),
    "system role in messages": (
        {"messages": [{"role": "system", "content": "be brief"}, USER]},
        'messages.0: Unexpected role "system"',
    ),
    "two user turns in a row": (
        {"messages": [USER, USER]},
        'roles must alternate between "user" and "assistant", but found multiple "user" roles',
    ),
    "two assistant turns in a row": (
        {"messages": [USER, ASSISTANT_USES, ASSISTANT_USES]},
        'found multiple "assistant" roles in a row',
    ),
    "tool role": (
        {"messages": [USER, {"role": "tool", "content": "x"}]},
        "messages.1.role: Input should be 'user' or 'assistant'",
    ),
    "tool_result for an unknown tool_use": (
        {
            "messages": [
                USER,
                ASSISTANT_USES,
                results(RESULT_A, {**RESULT_B, "tool_use_id": "toolu_zzz"}),
            ]
        },
        "messages.2.content.1: unexpected `tool_use_id` found in `tool_result` blocks: toolu_zzz",
    ),
    "tool_result with no tool_use before": (
        {"messages": [results(RESULT_A)]},
        "messages.0.content.0: unexpected `tool_use_id`",
    ),
    "tool_result after text": (
        {
            "messages": [
                USER,
                ASSISTANT_USES,
                results(RESULT_A, {"type": "text", "text": "and?"}, RESULT_B),
            ]
        },
        "messages.2.content: `tool_result` blocks must come first",
    ),
    "tool_use left unanswered": (
        {"messages": [USER, ASSISTANT_USES, results(RESULT_A)]},
        "messages.2: `tool_use` ids were found without `tool_result` blocks immediately after: "
        "toolu_b",
    ),
    "tool without input_schema": (
        {"tools": [{"name": "get_weather", "parameters": {"type": "object"}}]},
        "tools.0.custom.input_schema: Field required",
    ),
}
OPENAI_BROKEN = {
    "tool message without tool_calls before": (
        {"messages": [USER, TOOL_A]},
        "messages with role 'tool' must be a response to a preceeding message with 'tool_calls'",
    ),
    "tool message after a user message": (
        {"messages": [USER, ASSISTANT_CALLS, TOOL_A, TOOL_B, USER, TOOL_A]},
        "must be a response to a preceeding message with 'tool_calls'",
    ),
    "tool_call_id not among the calls": (
        {"messages": [USER, ASSISTANT_CALLS, TOOL_A, {**TOOL_B, "tool_call_id": "call_zzz"}]},
        "'tool_call_id' of 'call_zzz' not found in 'tool_calls' of previous message",
    ),
    "tool call left unanswered": (
        {"messages": [USER, ASSISTANT_CALLS, TOOL_A, USER]},
        "The following tool_call_ids did not have response messages: call_b",
    ),
    "tool without type": (
        {"tools": [{"function": {"name": "get_weather"}}]},
        "'tools[0].type'",
    ),
    "tool of another type": (
        {"tools": [FUNCTION, {"type": "retrieval", "function": {"name": "x"}}]},
        "'tools[1].type'",
    ),
    "function without a name": (
        {"tools": [{"type": "function", "function": {"parameters": {}}}]},
        "'tools[0].function.name'",
    ),
}


@pytest.mark.parametrize(("fields", "says"), ANTHROPIC_BROKEN.values(), ids=ANTHROPIC_BROKEN)
@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_refuses_broken_bodies(
    server: FakeLLMServer, fields: dict[str, Any], says: str, stream: bool
) -> None:
    """Each broken rule is a 400 with Anthropic's error body naming what is wrong."""
    data = {k: v for k, v in body("anthropic", stream=stream, **fields).items() if v is not None}
    response = await post(server, "anthropic", data)
    assert response.status_code == 400
    error = response.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert says in error["error"]["message"]
    assert server.journal[0].status == 400


@pytest.mark.parametrize(("fields", "says"), OPENAI_BROKEN.values(), ids=OPENAI_BROKEN)
@pytest.mark.parametrize("stream", [False, True])
async def test_openai_refuses_broken_bodies(
    server: FakeLLMServer, fields: dict[str, Any], says: str, stream: bool
) -> None:
    """Each broken rule is a 400 with OpenAI's error body naming what is wrong."""
    response = await post(server, "openai", body("openai", stream=stream, **fields))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert says in error["message"]
    assert set(error) == {"message", "type", "param", "code"}


@pytest.mark.parametrize("stream", [False, True])
async def test_anthropic_accepts_a_tool_conversation(server: FakeLLMServer, stream: bool) -> None:
    """Alternating turns, results first and matching, tools with input_schema: a 200; an
    assistant turn with tool_use as the last message (prefill) needs no results."""
    tools = [
        {"name": "get_weather", "input_schema": {"type": "object"}},
        {"type": "web_search_20250305", "name": "web_search"},
    ]
    conversation = [
        USER,
        ASSISTANT_USES,
        results(RESULT_A, RESULT_B, {"type": "text", "text": "thanks"}),
        {"role": "assistant", "content": "It is 18 C."},
        USER,
        ASSISTANT_USES,
    ]
    data = body("anthropic", stream=stream, messages=conversation, tools=tools, system="be brief")
    assert (await post(server, "anthropic", data)).status_code == 200


@pytest.mark.parametrize("stream", [False, True])
async def test_openai_accepts_a_tool_conversation(server: FakeLLMServer, stream: bool) -> None:
    """Tool messages answering each call of the assistant message before: a 200; content
    lists and a trailing assistant tool call are fine too."""
    conversation = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
        ASSISTANT_CALLS,
        TOOL_B,
        TOOL_A,
        {"role": "assistant", "content": "It is 18 C."},
        USER,
        ASSISTANT_CALLS,
    ]
    data = body("openai", stream=stream, messages=conversation, tools=[FUNCTION])
    response = await post(server, "openai", data)
    assert response.status_code == 200
    if not stream:
        assert response.json()["choices"][0]["message"]["content"] == "You said: weather in Paris?"


@pytest.mark.parametrize("wire", WIRES)
async def test_journal_keeps_the_exact_body(server: FakeLLMServer, wire: Wire) -> None:
    """entry.body is the bytes received (spacing and key order kept); json() parses them;
    a refused body is journaled too; GET /_admin/journal shows the body as text."""
    extra = ', "max_tokens": 5' if wire == "anthropic" else ""
    raw = (
        '{"messages": [{"content": "h\\u00e9", "role": "user"}],  "model":"m-1"'
        + extra
        + ', "tools": [], "x_vendor": {"b": 1, "a": 2}}'
    ).encode()
    async with httpx2.AsyncClient(base_url=server.url) as client:
        ok = await client.post(PATHS[wire], content=raw)
        refused = await client.post(PATHS[wire], content=b'{"model": "m-1"}')
        journal = (await client.get("/_admin/journal")).json()
    assert (ok.status_code, refused.status_code) == (200, 400)
    first, second = server.journal
    assert first.body == raw
    assert first.json() == {
        "messages": [{"content": "hé", "role": "user"}],
        "model": "m-1",
        **({"max_tokens": 5} if wire == "anthropic" else {}),
        "tools": [],
        "x_vendor": {"b": 1, "a": 2},
    }
    assert second.body == b'{"model": "m-1"}'
    assert [e["body"] for e in journal] == [raw.decode(), '{"model": "m-1"}']


async def test_journal_json_of_a_body_that_is_not_json(server: FakeLLMServer) -> None:
    """A body that is not JSON is kept as sent; json() is None."""
    async with httpx2.AsyncClient(base_url=server.base_url) as client:
        assert (await client.post("/chat/completions", content=b"{oops")).status_code == 400
    assert server.journal[0].body == b"{oops"
    assert server.journal[0].json() is None
