"""Across wires: a conversation read from one wire and written to the other keeps its meaning."""

from __future__ import annotations

import dataclasses
import json

from _wire_strategies import Body, anthropic_bodies, openai_bodies
from hypothesis import given, settings

from vex_llm import ImagePart, LlmRequest, Message, TextPart, ThinkingPart, ToolChoice
from vex_llm.wire._shared import effort_of


def _message_view(message: Message) -> tuple[object, ...]:
    parts = message.parts or ((TextPart(message.content),) if message.content else ())
    parts = tuple(
        dataclasses.replace(p, detail=None, extra=None)
        if isinstance(p, ImagePart)
        else dataclasses.replace(p, extra=None)
        for p in parts
        if not isinstance(p, ThinkingPart) and (not isinstance(p, TextPart) or p.text)
    )
    calls = tuple((c.id, c.name, json.loads(c.arguments)) for c in message.tool_calls)
    return (message.role, parts, calls, message.tool_call_id)


def view(request: LlmRequest) -> dict[str, object]:
    """What must survive a trip across wires (names, image detail and formatting may not)."""
    messages = [_message_view(m) for m in request.messages]
    schema = request.response_format
    return {
        "messages": [m for m in messages if m[0] == "tool" or m[1] or m[2]],
        "tools": [
            (t.name, t.description, t.parameters or {"type": "object"}) for t in request.tools
        ],
        "tool_choice": request.tool_choice or ToolChoice("auto"),
        "parallel": request.parallel_tool_calls,
        "format": schema.schema if schema is not None and schema.type == "json_schema" else None,
        "effort": effort_of(request.reasoning) if request.reasoning else None,
        "sampling": (request.model, request.temperature, request.top_p, request.stop, request.user),
    }


@settings(max_examples=150)
@given(openai_bodies(portable=True))
def test_openai_to_anthropic_keeps_the_conversation(body: Body) -> None:
    """OpenAI -> model -> Anthropic -> model keeps messages, tools, calls, results, images."""
    request = LlmRequest.from_openai(body)
    across = LlmRequest.from_anthropic(request.to_anthropic())
    assert view(across) == view(request)
    if request.max_tokens is not None:
        assert across.max_tokens == request.max_tokens


@settings(max_examples=150)
@given(anthropic_bodies(portable=True))
def test_anthropic_to_openai_keeps_the_conversation(body: Body) -> None:
    """Anthropic -> model -> OpenAI -> model keeps messages, tools, calls, results, images."""
    request = LlmRequest.from_anthropic(body)
    across = LlmRequest.from_openai(request.to_openai())
    assert view(across) == view(request)
    assert across.max_tokens == request.max_tokens


@given(openai_bodies(portable=True))
def test_tool_results_answer_the_tool_uses_just_before_them(body: Body) -> None:
    """On the Anthropic wire every tool_result follows the assistant turn that made the call."""
    turns = LlmRequest.from_openai(body).to_anthropic()["messages"]
    assert isinstance(turns, list)
    called: set[str] = set()
    for turn in turns:
        blocks = turn["content"] if isinstance(turn["content"], list) else []
        if turn["role"] == "assistant":
            called = {b["id"] for b in blocks if b["type"] == "tool_use"}
            continue
        results = [b["tool_use_id"] for b in blocks if b["type"] == "tool_result"]
        assert set(results) <= called
        # tool results open their turn, as Anthropic requires
        assert [b["type"] == "tool_result" for b in blocks] == sorted(
            (b["type"] == "tool_result" for b in blocks), reverse=True
        )
