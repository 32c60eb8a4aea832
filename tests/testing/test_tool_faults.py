"""Stream faults on tool-call streams, striking inside a call's arguments (raw httpx2)."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest
from _fake_kit import (
    PATHS,
    WEATHER,
    WIRES,
    Wire,
    anthropic_arguments,
    body,
    events,
    openai_arguments,
    post,
    post_raw,
)

from vex_llm.testing import Answer, FakeLLMServer, Fault

pytestmark = pytest.mark.fake_server

ANSWER = Answer.tool_call("get_weather", WEATHER, text="Checking now.")
INSIDE = ANSWER.inside_arguments(pieces=2)  # 2 text words + the opening + 2 pieces
FIRST_TWO = WEATHER[:16]  # two arguments pieces of 8 characters


def arguments(wire: Wire, items: list[Any]) -> str:
    """The arguments text of the (only) tool call that arrived."""
    return openai_arguments(items, 0) if wire == "openai" else anthropic_arguments(items, 1)


def finished(wire: Wire, items: list[Any]) -> bool:
    """Whether the events carry a finish reason."""
    if wire == "openai":
        return any(c.get("choices") and c["choices"][0]["finish_reason"] for c in items)
    return any(e["type"] in ("message_delta", "message_stop") for e in items)


@pytest.mark.parametrize("wire", WIRES)
async def test_cut_inside_the_arguments(server: FakeLLMServer, wire: Wire) -> None:
    """A cut at inside_arguments() ends the body cleanly after two arguments pieces:
    the text and the call's opening arrived, the JSON is unfinished, no finish, no [DONE]."""
    server.script([ANSWER])
    server.inject(Fault.cut(after_chunks=INSIDE), times=1)
    response = await post(server, wire, body(wire, stream=True))
    assert response.status_code == 200
    assert "[DONE]" not in response.text
    items = events(response.text)
    assert INSIDE == 5
    assert not finished(wire, items)
    assert arguments(wire, items) == FIRST_TWO
    with pytest.raises(ValueError):  # noqa: PT011 - the truncated JSON does not parse
        json.loads(arguments(wire, items))
    last = items[-1]
    if wire == "openai":
        assert last["choices"][0]["delta"]["tool_calls"][0]["function"] == {"arguments": ' "Paris"'}
    else:
        assert last["delta"] == {"type": "input_json_delta", "partial_json": ' "Paris"'}
    assert server.journal[0].fault == "cut"


@pytest.mark.parametrize("wire", WIRES)
async def test_cut_before_any_arguments(server: FakeLLMServer, wire: Wire) -> None:
    """pieces=0 cuts right after the call's opening (id and name, no arguments yet)."""
    server.script([ANSWER])
    server.inject(Fault.cut(after_chunks=ANSWER.inside_arguments(pieces=0)), times=1)
    items = events((await post(server, wire, body(wire, stream=True))).text)
    assert arguments(wire, items) == ""
    if wire == "openai":
        assert items[-1]["choices"][0]["delta"]["tool_calls"][0]["id"] == "call_00000001_0"
    else:
        assert items[-1]["content_block"]["type"] == "tool_use"


@pytest.mark.parametrize("wire", WIRES)
async def test_reset_inside_the_arguments(server: FakeLLMServer, wire: Wire) -> None:
    """A reset inside the arguments drops the connection after the same two pieces."""
    server.script([ANSWER])
    server.inject(Fault.reset(after_chunks=INSIDE), times=1)
    with pytest.raises(httpx2.HTTPError):
        await post(server, wire, body(wire, stream=True))
    server.script([ANSWER])
    server.inject(Fault.reset(after_chunks=INSIDE), times=1)
    items = events((await post_raw(server, wire, body(wire, stream=True))).decode())
    assert arguments(wire, items) == FIRST_TWO
    assert not finished(wire, items)


@pytest.mark.parametrize("wire", WIRES)
async def test_error_event_inside_the_arguments(server: FakeLLMServer, wire: Wire) -> None:
    """stream_error inside the arguments sends the wire's error event after two pieces."""
    server.script([ANSWER])
    server.inject(Fault.stream_error("overloaded_error", after_chunks=INSIDE), times=1)
    items = events((await post(server, wire, body(wire, stream=True))).text)
    assert arguments(wire, items[:-1]) == FIRST_TWO
    assert not finished(wire, items)
    error = items[-1]["error"]
    assert error["type" if wire == "anthropic" else "code"] == "overloaded_error"


@pytest.mark.parametrize("wire", WIRES)
async def test_malformed_event_inside_the_arguments(server: FakeLLMServer, wire: Wire) -> None:
    """malformed inside the arguments sends an event that is not JSON after two pieces."""
    server.script([ANSWER])
    server.inject(Fault(kind="malformed", after_chunks=INSIDE), times=1)
    text = (await post(server, wire, body(wire, stream=True))).text
    good = text[: text.rindex("data: ")]
    assert arguments(wire, events(good)) == FIRST_TWO
    with pytest.raises(ValueError):  # noqa: PT011 - the last event is not JSON
        json.loads(text[text.rindex("data: ") + 6 :])


@pytest.mark.parametrize("wire", WIRES)
async def test_stall_inside_the_arguments(server: FakeLLMServer, wire: Wire) -> None:
    """A stall inside the arguments sends two pieces, then nothing until the client leaves."""
    server.script([ANSWER])
    server.inject(Fault.stall(after_chunks=INSIDE), times=1)
    chunks: list[bytes] = []

    async def read() -> None:
        async with client.stream("POST", PATHS[wire], json=body(wire, stream=True)) as r:
            async for chunk in r.aiter_raw():
                chunks.append(chunk)

    async with httpx2.AsyncClient(base_url=server.url, timeout=0.2) as client:
        with pytest.raises(httpx2.ReadTimeout):
            await read()
    assert arguments(wire, events(b"".join(chunks).decode())) == FIRST_TWO


@pytest.mark.parametrize("wire", WIRES)
async def test_noisy_tool_stream_still_reassembles(server: FakeLLMServer, wire: Wire) -> None:
    """noisy_sse on a tool stream: comments and odd splits, the arguments intact, finished."""
    server.script([ANSWER])
    server.inject(Fault.noisy_sse(), times=1)
    response = await post(server, wire, body(wire, stream=True))
    assert ": keep-alive" in response.text
    items = [e for e in events(response.text) if e.get("type") != "vendor_heartbeat"]
    assert arguments(wire, items) == WEATHER
    assert finished(wire, items)


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("stream", [False, True])
async def test_late_tool_call_arrives_whole(
    server: FakeLLMServer, wire: Wire, stream: bool
) -> None:
    """latency and slow_first_token delay a tool-call answer, streamed or not, but it
    arrives whole with its finish reason."""
    server.script([ANSWER])
    server.inject(Fault.latency(0.01), times=1)
    server.inject(Fault.slow_first_token(0.01), times=1)
    response = await post(server, wire, body(wire, stream=stream))
    if stream:
        items = events(response.text)
        assert arguments(wire, items) == WEATHER
        assert finished(wire, items)
    elif wire == "openai":
        call = response.json()["choices"][0]["message"]["tool_calls"][0]
        assert call["function"]["arguments"] == WEATHER
    else:
        assert response.json()["content"][1]["input"] == json.loads(WEATHER)
    assert server.journal[0].fault == "latency+slow_first_token"


@pytest.mark.parametrize("wire", WIRES)
async def test_fault_rule_before_the_answer_rule_still_gets_the_answer(
    server: FakeLLMServer, wire: Wire
) -> None:
    """Rule order does not matter: a cut added before the Answer still cuts the tool call."""
    server.inject(Fault.cut(after_chunks=INSIDE), times=1)
    server.script([ANSWER])
    items = events((await post(server, wire, body(wire, stream=True))).text)
    assert arguments(wire, items) == FIRST_TWO
    assert [e.rules for e in server.journal] == [[1, 2]]


@pytest.mark.parametrize("wire", WIRES)
async def test_plain_call_cut_mid_tool_body(server: FakeLLMServer, wire: Wire) -> None:
    """A cut on a non-streamed tool answer closes the connection mid-body."""
    server.script([ANSWER])
    server.inject(Fault.cut(), times=1)
    raw = await post_raw(server, wire, body(wire))
    server.script([ANSWER])
    whole = (await post(server, wire, body(wire))).content  # the same size: ids are fixed-width
    assert len(raw) == len(whole) // 2
    assert raw.startswith(b'{"id":')
    assert b"tool" in whole


@pytest.mark.parametrize("wire", WIRES)
async def test_errors_win_over_the_answer(server: FakeLLMServer, wire: Wire) -> None:
    """An error fault on a request with a scripted answer is the error; the answer is spent."""
    server.script([ANSWER, None])
    server.inject(Fault.error(503), times=1)
    failed = await post(server, wire, body(wire))
    text = await post(server, wire, body(wire))
    assert failed.status_code == 503
    assert "tool" not in text.text
