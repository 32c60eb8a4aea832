"""What the HTTP providers read back from tool-call answers, whole and streamed, over
real sockets to FakeLLMServer (which writes both wires itself, independently of the
providers, and scripts tool calls with ``Answer``/``ToolUse``).

Shapes the fake server cannot produce (malformed tool-call events, refusals, cache and
reasoning usage, a terminator right after a cut, byte-by-byte reads, ...) are served
as exact bytes by ``test_hostile_tool_answers.py``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from _provider_kit import Wire, make_provider

from vex_llm import (
    FallbackProvider,
    LlmRequest,
    LlmResponse,
    Message,
    StreamChunk,
    StreamInterrupted,
    Timeout,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
    collect,
)
from vex_llm.providers._base import HttpProvider
from vex_llm.testing import Answer, FakeLLMServer, Fault, ToolUse

pytestmark = pytest.mark.fake_server

REQUEST = LlmRequest.from_prompt("What is the weather in Paris?")  # 6 prompt tokens
PARIS = '{"city": "Paris"}'  # 17 characters: 3 streamed pieces of 8
OSLO = '{"city": "Oslo"}'  # 16 characters: 2 pieces
IDS = {"openai": ("call_1", "call_2"), "anthropic": ("toolu_1", "toolu_2")}
MODELS = {"openai": "fake-gpt", "anthropic": "fake-claude"}
PROVIDER_FINISH = {"openai": "tool_calls", "anthropic": "tool_use"}


def two_calls(wire: Wire, text: str | None = "Checking.") -> Answer:
    """Text (when given), then a call for Paris and one for Oslo, with the wire's ids."""
    first, second = IDS[wire]
    calls = (
        ToolUse(name="weather", arguments=PARIS, id=first),
        ToolUse(name="weather", arguments=OSLO, id=second),
    )
    return Answer(text=text, tool_calls=calls)


def the_calls(wire: Wire) -> tuple[ToolCall, ToolCall]:
    """The two calls of ``two_calls``, as the caller gets them."""
    first, second = IDS[wire]
    return ToolCall(first, "weather", PARIS), ToolCall(second, "weather", OSLO)


def usage_of(answer: Answer) -> Usage:
    """The usage the fake server reports for ``answer`` to ``REQUEST`` (a token a word)."""
    words = len((answer.text or "").split())
    words += sum(len(f"{c.name} {c.arguments}".split()) for c in answer.tool_calls)
    return Usage(6, words, 6 + words)


async def _replay(stream: list[StreamChunk]) -> AsyncIterator[StreamChunk]:
    """The chunks again, as a stream for ``collect``."""
    for chunk in stream:
        yield chunk


@pytest.mark.parametrize("text", ["Checking.", None], ids=["text", "no-text"])
async def test_whole_answer_with_tool_calls(
    server: FakeLLMServer, provider: HttpProvider, wire: Wire, text: str | None
) -> None:
    """complete() reads the calls (arguments as sent, Anthropic's input object as JSON
    text), the text (none: ""), the normalised and the provider's own finish, the usage."""
    answer = two_calls(wire, text)
    server.script([answer], wire=wire)
    response = await provider.complete(REQUEST)
    assert response.tool_calls == the_calls(wire)
    assert response.content == (text or "")
    assert (response.finish_reason, response.provider_finish_reason) == (
        "tool_calls",
        PROVIDER_FINISH[wire],
    )
    assert (response.provider, response.model) == (wire, MODELS[wire])
    assert response.id == ("chatcmpl-00000001" if wire == "openai" else "msg_00000001")
    assert response.usage == usage_of(answer)
    assert response.refusal is None


@pytest.mark.parametrize("fault", [None, Fault.noisy_sse()], ids=["clean", "noisy-splits"])
async def test_streamed_tool_calls_collect_into_calls(
    server: FakeLLMServer, provider: HttpProvider, wire: Wire, fault: Fault | None
) -> None:
    """Tool-call deltas (OpenAI delta.tool_calls; Anthropic tool_use blocks and
    input_json_delta events, numbered from 0) stream as ToolCallDelta pieces; collect()
    joins them; a stream ending with the tool_calls finish is complete."""
    answer = two_calls(wire)
    server.script([answer], wire=wire)
    if fault is not None:
        server.inject(fault, times=1)
    stream = [chunk async for chunk in provider.stream(REQUEST)]
    first, second = IDS[wire]
    assert [p for c in stream for p in c.tool_calls] == [
        ToolCallDelta(0, id=first, name="weather", arguments_delta=""),
        ToolCallDelta(0, arguments_delta='{"city":'),
        ToolCallDelta(0, arguments_delta=' "Paris"'),
        ToolCallDelta(0, arguments_delta="}"),
        ToolCallDelta(1, id=second, name="weather", arguments_delta=""),
        ToolCallDelta(1, arguments_delta='{"city":'),
        ToolCallDelta(1, arguments_delta=' "Oslo"}'),
    ]
    assert "".join(c.delta for c in stream) == "Checking."
    assert [c.finish_reason for c in stream[:-1]] == [None] * (len(stream) - 1)
    assert (stream[0].provider, stream[0].model) == (wire, MODELS[wire])
    last = stream[-1]
    assert (last.finish_reason, last.provider_finish_reason) == (
        "tool_calls",
        PROVIDER_FINISH[wire],
    )
    assert (last.provider, last.model) == (wire, MODELS[wire])
    assert last.usage == usage_of(answer)
    response = await collect(_replay(stream))
    assert response.tool_calls == the_calls(wire)
    assert response.content == "Checking."
    assert (response.finish_reason, response.provider_finish_reason) == (
        "tool_calls",
        PROVIDER_FINISH[wire],
    )
    assert (response.provider, response.model) == (wire, MODELS[wire])
    assert response.usage == usage_of(answer)


@pytest.mark.parametrize(
    ("call", "pieces", "partial_calls"),
    [
        (0, 0, ((0, ""),)),
        (0, 1, ((0, '{"city":'),)),
        (0, 2, ((0, '{"city": "Paris"'),)),
        (1, 1, ((0, PARIS), (1, '{"city":'))),
    ],
    ids=["opened", "one-piece", "two-pieces", "second-call"],
)
@pytest.mark.parametrize("break_with", ["cut", "reset"])
async def test_stream_broken_inside_tool_arguments_is_interrupted(
    server: FakeLLMServer,
    provider: HttpProvider,
    wire: Wire,
    break_with: str,
    call: int,
    pieces: int,
    partial_calls: tuple[tuple[int, str], ...],
) -> None:
    """A body that ends (cut: cleanly, without finish or terminator; reset: a TCP reset)
    inside a call's arguments is StreamInterrupted carrying the partial text and the
    calls begun so far (the last one with its partial JSON), never a success."""
    answer = two_calls(wire, "Let me see.")
    at = answer.inside_arguments(call, pieces)
    fault = Fault.cut(after_chunks=at) if break_with == "cut" else Fault.reset(after_chunks=at)
    server.script([answer], wire=wire)
    server.inject(fault, times=1)
    with pytest.raises(StreamInterrupted) as info:
        await collect(provider.stream(REQUEST))
    error = info.value
    assert error.partial == "Let me see."
    ids = IDS[wire]
    assert error.partial_tool_calls == tuple(
        ToolCall(ids[i], "weather", arguments) for i, arguments in partial_calls
    )
    assert error.provider == wire


async def test_stall_inside_tool_arguments_is_an_idle_timeout(
    server: FakeLLMServer, wire: Wire
) -> None:
    """A stream that goes silent inside a call's arguments is Timeout(idle_timeout), never
    a success with the call's JSON cut short."""
    answer = two_calls(wire)
    server.script([answer], wire=wire)
    server.inject(Fault.stall(after_chunks=answer.inside_arguments(pieces=1)), times=1)
    async with make_provider(wire, server, idle_timeout=0.1) as provider:
        with pytest.raises(Timeout) as info:
            await collect(provider.stream(REQUEST))
    assert info.value.code == "idle_timeout"
    assert info.value.provider == wire


async def test_short_stall_inside_tool_arguments_still_collects_the_calls(
    server: FakeLLMServer, wire: Wire
) -> None:
    """A pause inside a call's arguments shorter than idle_timeout: the calls arrive whole."""
    answer = two_calls(wire)
    server.script([answer], wire=wire)
    stall = Fault.stall(after_chunks=answer.inside_arguments(pieces=1), seconds=0.05)
    server.inject(stall, times=1)
    async with make_provider(wire, server, idle_timeout=1.0) as provider:
        response = await collect(provider.stream(REQUEST))
    assert response.tool_calls == the_calls(wire)
    assert response.finish_reason == "tool_calls"


async def test_error_event_after_tool_call_pieces_is_interrupted(
    server: FakeLLMServer, provider: HttpProvider, wire: Wire
) -> None:
    """An error event once tool-call pieces came (no text yet) is StreamInterrupted with
    the partial call, not the error's own class."""
    answer = two_calls(wire, text=None)
    server.script([answer], wire=wire)
    server.inject(Fault.stream_error(after_chunks=answer.inside_arguments()), times=1)
    with pytest.raises(StreamInterrupted) as info:
        await collect(provider.stream(REQUEST))
    assert info.value.partial_tool_calls == (ToolCall(IDS[wire][0], "weather", '{"city":'),)
    assert info.value.partial == ""
    assert info.value.provider == wire


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_fallback_from_openai_to_anthropic_mid_conversation(
    server: FakeLLMServer, stream: bool
) -> None:
    """A tool-using conversation that the OpenAI-compatible primary cannot serve (503) is
    sent to the Anthropic backup translated (tool_use and merged tool_result blocks), and
    the backup's tool calls come back."""
    conversation = LlmRequest(
        [
            Message("user", "Weather in Paris and Oslo?"),
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
        ],
        tools=[Tool(name="weather", parameters={"type": "object"})],
    )
    server.inject(Fault.error(503), wire="openai")
    # Whole: a call without arguments (Anthropic's input {} is "{}"); streamed: two calls.
    answer = (
        two_calls("anthropic", text=None) if stream else Answer.tool_call("weather", id="toolu_9")
    )
    server.script([answer], wire="anthropic")
    primary, backup = make_provider("openai", server), make_provider("anthropic", server)
    async with primary, backup:
        chain = FallbackProvider([primary, backup])
        response: LlmResponse
        if stream:
            response = await collect(chain.stream(conversation))
        else:
            response = await chain.complete(conversation)
    assert response.provider == "anthropic"
    if stream:
        assert response.tool_calls == the_calls("anthropic")
    else:
        assert response.tool_calls == (ToolCall("toolu_9", "weather", "{}"),)
    assert [(e.wire, e.status) for e in server.journal] == [("openai", 503), ("anthropic", 200)]
    body = server.journal[-1].json()
    assert isinstance(body, dict)
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_2", "name": "weather", "input": {"city": "Oslo"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "call_2", "content": "snow"},
            ],
        },
    ]
    assert body["tools"] == [{"name": "weather", "input_schema": {"type": "object"}}]
    assert json.loads(server.journal[0].body)["tools"] == [
        {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
    ]
