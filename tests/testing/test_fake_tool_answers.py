"""FakeLLMServer answers scripted tool calls on both wires, streamed and not (raw httpx2)."""

from __future__ import annotations

import json

import httpx2
import pytest
from _fake_kit import WEATHER, Wire, anthropic_arguments, body, events, openai_arguments, post

from vex_llm.testing import Answer, FakeLLMServer, ToolUse

pytestmark = pytest.mark.fake_server

TWO_CALLS = Answer(
    text="Let me check.",
    tool_calls=(
        ToolUse(name="get_weather", arguments=WEATHER),
        ToolUse(name="get_time", arguments='{"tz": "CET"}', id="call_given"),
    ),
)
TOOLS = [
    {
        "type": "function",
        "function": {"name": "get_weather", "parameters": {"type": "object"}},
    }
]


async def test_openai_tool_calls_not_streamed(server: FakeLLMServer) -> None:
    """OpenAI: message.tool_calls with generated and given ids, finish_reason tool_calls."""
    server.script([TWO_CALLS])
    answer = (await post(server, "openai", body("openai"))).json()
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": "Let me check.",
        "tool_calls": [
            {
                "id": "call_00000001_0",
                "type": "function",
                "function": {"name": "get_weather", "arguments": WEATHER},
            },
            {
                "id": "call_given",
                "type": "function",
                "function": {"name": "get_time", "arguments": '{"tz": "CET"}'},
            },
        ],
    }
    assert answer["usage"] == {"prompt_tokens": 1, "completion_tokens": 11, "total_tokens": 12}


async def test_anthropic_tool_use_not_streamed(server: FakeLLMServer) -> None:
    """Anthropic: a text block, then tool_use blocks with parsed input; stop_reason tool_use."""
    server.script([TWO_CALLS])
    answer = (await post(server, "anthropic", body("anthropic"))).json()
    assert answer["stop_reason"] == "tool_use"
    assert answer["content"] == [
        {"type": "text", "text": "Let me check."},
        {
            "type": "tool_use",
            "id": "toolu_00000001_0",
            "name": "get_weather",
            "input": {"city": "Paris", "unit": "celsius"},
        },
        {"type": "tool_use", "id": "call_given", "name": "get_time", "input": {"tz": "CET"}},
    ]
    assert answer["usage"] == {"input_tokens": 1, "output_tokens": 11}


async def test_tool_calls_without_text(server: FakeLLMServer) -> None:
    """Without text: OpenAI content is null; Anthropic has tool_use blocks only."""
    server.inject(Answer.tool_call("get_weather", WEATHER, id="c1"))
    openai = (await post(server, "openai", body("openai"))).json()
    anthropic = (await post(server, "anthropic", body("anthropic"))).json()
    assert openai["choices"][0]["message"]["content"] is None
    assert [b["type"] for b in anthropic["content"]] == ["tool_use"]
    assert anthropic["content"][0]["id"] == "c1"


async def test_openai_tool_calls_streamed(server: FakeLLMServer) -> None:
    """OpenAI stream: text deltas, then per call a delta with index, id, type and name,
    then its arguments in several pieces; finish_reason tool_calls, usage, [DONE]."""
    server.script([TWO_CALLS])
    response = await post(server, "openai", body("openai", stream=True))
    assert response.text.endswith("data: [DONE]\n\n")
    chunks = events(response.text)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    text = "".join(d.get("content") or "" for d in deltas)
    assert text == "Let me check."
    openings = [call for d in deltas for call in d.get("tool_calls", []) if "id" in call]
    assert openings == [
        {
            "index": 0,
            "id": "call_00000001_0",
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        },
        {
            "index": 1,
            "id": "call_given",
            "type": "function",
            "function": {"name": "get_time", "arguments": ""},
        },
    ]
    weather_pieces = [
        call for d in deltas for call in d.get("tool_calls", []) if call["index"] == 0
    ]
    assert len(weather_pieces) == 1 + 5  # the opening, then 36 characters in pieces of 8
    assert openai_arguments(chunks, 0) == WEATHER
    assert openai_arguments(chunks, 1) == '{"tz": "CET"}'
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["completion_tokens"] == 11
    # text comes before every tool call delta
    first_tool = next(i for i, d in enumerate(deltas) if "tool_calls" in d)
    assert all("tool_calls" not in d for d in deltas[:first_tool])
    assert all("content" not in d for d in deltas[first_tool:])


async def test_anthropic_tool_use_streamed(server: FakeLLMServer) -> None:
    """Anthropic stream: text block 0, then per call content_block_start (tool_use, id,
    name, input {}), input_json_delta pieces and content_block_stop; stop_reason tool_use."""
    server.script([TWO_CALLS])
    items = events((await post(server, "anthropic", body("anthropic", stream=True))).text)
    shape = [(e["type"], e.get("index")) for e in items if e["type"] != "content_block_delta"]
    assert shape == [
        ("message_start", None),
        ("content_block_start", 0),
        ("ping", None),
        ("content_block_stop", 0),
        ("content_block_start", 1),
        ("content_block_stop", 1),
        ("content_block_start", 2),
        ("content_block_stop", 2),
        ("message_delta", None),
        ("message_stop", None),
    ]
    starts = [e["content_block"] for e in items if e["type"] == "content_block_start"]
    assert starts[1:] == [
        {"type": "tool_use", "id": "toolu_00000001_0", "name": "get_weather", "input": {}},
        {"type": "tool_use", "id": "call_given", "name": "get_time", "input": {}},
    ]
    pieces = [e for e in items if e["type"] == "content_block_delta" and e["index"] == 1]
    assert len(pieces) == 5
    assert anthropic_arguments(items, 1) == WEATHER
    assert anthropic_arguments(items, 2) == '{"tz": "CET"}'
    assert items[-2]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert items[-2]["usage"] == {"output_tokens": 11}


async def test_anthropic_stream_without_text_starts_with_the_tool(server: FakeLLMServer) -> None:
    """A tool-only Anthropic stream has no text block: the tool_use block is index 0."""
    server.inject(Answer.tool_call("get_weather", WEATHER))
    items = events((await post(server, "anthropic", body("anthropic", stream=True))).text)
    starts = [e for e in items if e["type"] == "content_block_start"]
    assert [(s["index"], s["content_block"]["type"]) for s in starts] == [(0, "tool_use")]
    assert anthropic_arguments(items, 0) == WEATHER
    assert [e["index"] for e in items if e["type"] == "content_block_stop"] == [0]


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
@pytest.mark.parametrize("stream", [False, True])
async def test_request_with_tools_still_gets_text_by_default(
    server: FakeLLMServer, wire: Wire, stream: bool
) -> None:
    """A request that offers tools, with no Answer scripted, gets the usual text answer."""
    tools = TOOLS
    if wire == "anthropic":
        tools = [{"name": "get_weather", "input_schema": {"type": "object"}}]
    response = await post(server, wire, body(wire, stream=stream, tools=tools))
    assert response.status_code == 200
    assert "tool" not in response.text  # no tool_calls, tool_use or tool stop reason
    assert "weather?" in response.text


async def test_script_plays_answers_then_text(server: FakeLLMServer) -> None:
    """script([Answer, None]) answers one tool call, then the responder's text again;
    Answer(text=...) answers that text."""
    server.script([Answer.tool_call("f"), None, Answer(text="scripted words")])
    first = (await post(server, "openai", body("openai"))).json()["choices"][0]
    second = (await post(server, "openai", body("openai"))).json()["choices"][0]
    third = (await post(server, "openai", body("openai"))).json()["choices"][0]
    assert first["message"]["tool_calls"][0]["function"] == {"name": "f", "arguments": "{}"}
    assert second == {
        "index": 0,
        "message": {"role": "assistant", "content": "You said: weather?"},
        "finish_reason": "stop",
    }
    assert third["message"]["content"] == "scripted words"


async def test_answer_rules_filter_by_wire(server: FakeLLMServer) -> None:
    """An answer rule filters like a fault rule: only the wire it names gets tool calls."""
    server.inject(Answer.tool_call("f"), wire="anthropic")
    openai = (await post(server, "openai", body("openai"))).json()
    anthropic = (await post(server, "anthropic", body("anthropic"))).json()
    assert openai["choices"][0]["finish_reason"] == "stop"
    assert anthropic["stop_reason"] == "tool_use"
    assert [e.rules for e in server.journal] == [[], [1]]


async def test_admin_scripts_an_answer(server: FakeLLMServer) -> None:
    """POST /_admin/faults takes {"kind": "answer", ...} steps; GET shows them back."""
    step = {
        "kind": "answer",
        "text": "ok",
        "tool_calls": [{"name": "f", "arguments": '{"a": 1}', "id": "x"}],
        "piece_chars": 2,
    }
    async with httpx2.AsyncClient(base_url=server.admin_url) as admin:
        created = await admin.post("/faults", json={"script": [step, None]})
        assert created.status_code == 201
        assert created.json()["script"] == [step, None]
        bad = await admin.post(
            "/faults", json={"script": [{"kind": "answer", "tool_calls": [{"name": "f", "x": 1}]}]}
        )
        assert bad.status_code == 400
    items = events((await post(server, "anthropic", body("anthropic", stream=True))).text)
    assert anthropic_arguments(items, 1) == '{"a": 1}'
    assert len([e for e in items if e["type"] == "content_block_delta" and e["index"] == 1]) == 4


def test_answer_round_trips_and_refuses_bad_values() -> None:
    """Answer and ToolUse check their values and survive to_dict / from_dict."""
    assert Answer.from_dict(TWO_CALLS.to_dict()) == TWO_CALLS
    assert Answer().to_dict() == {"kind": "answer"}
    with pytest.raises(ValueError, match="arguments"):
        ToolUse(name="f", arguments="[1, 2]")
    with pytest.raises(ValueError, match="arguments"):
        ToolUse(name="f", arguments='{"cut')
    with pytest.raises(ValueError, match="empty"):
        ToolUse(name="")
    with pytest.raises(ValueError, match="piece_chars"):
        Answer(piece_chars=0)
    with pytest.raises(TypeError, match="ToolUse"):
        Answer(tool_calls=({"name": "f"},))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Answer"):
        FakeLLMServer().inject("answer")  # type: ignore[arg-type]


def test_inside_arguments_counts_the_pieces_before() -> None:
    """inside_arguments() is text words + earlier calls' pieces + the opening + pieces."""
    assert TWO_CALLS.argument_pieces(0) == [
        '{"city":',
        ' "Paris"',
        ', "unit"',
        ': "celsi',
        'us"}',
    ]
    assert TWO_CALLS.inside_arguments() == 3 + 1 + 1
    assert TWO_CALLS.inside_arguments(0, pieces=0) == 4
    assert TWO_CALLS.inside_arguments(1, pieces=1) == 3 + 6 + 1 + 1
    assert Answer.tool_call("f", WEATHER).inside_arguments(pieces=4) == 5
    with pytest.raises(ValueError, match="pieces"):
        TWO_CALLS.inside_arguments(0, pieces=5)
    with pytest.raises(ValueError, match="no tool call"):
        TWO_CALLS.inside_arguments(2)
    assert json.loads("".join(TWO_CALLS.argument_pieces(1))) == {"tz": "CET"}
