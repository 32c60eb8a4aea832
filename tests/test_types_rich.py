"""Rich request and response types: parts, tools, formats, reasoning, and backward compatibility."""

from __future__ import annotations

import dataclasses

import pytest

from vex_llm import (
    DocumentPart,
    ImagePart,
    LlmRequest,
    LlmResponse,
    Message,
    Reasoning,
    ResponseFormat,
    StreamChunk,
    StreamReset,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    Usage,
)


def test_message_from_parts_keeps_text_in_content() -> None:
    """A message built from parts exposes its text as content and every part in parts."""
    image = ImagePart(url="https://x/cat.png")
    message = Message("user", [TextPart("what is"), image, TextPart("this?")])
    assert message.content == "what is\nthis?"
    assert message.parts == (TextPart("what is"), image, TextPart("this?"))
    assert Message("user", "hi").parts == ()
    assert LlmRequest([message]).prompt == "what is\nthis?"


def test_existing_positional_signatures_still_work() -> None:
    """The old positional forms build the same objects; new fields are keyword-only."""
    assert Message("user", "x") == Message(role="user", content="x")
    assert Usage(1, 2, 3).cached_input_tokens == 0
    assert Usage(1, 2, 3) == Usage(1, 2, 3, cached_input_tokens=0, reasoning_tokens=0)
    response = LlmResponse("t", "m", "p", None, "stop", 0.5)
    assert (response.tool_calls, response.refusal, response.provider_finish_reason) == (
        (),
        None,
        None,
    )
    chunk = StreamChunk("d", "stop", None, "m", "p")
    assert chunk.tool_calls == ()
    reset = StreamReset("", None, None, None, "p", "gone", "Timeout")
    assert (reset.provider, reset.discarded, reset.reason) == ("p", "gone", "Timeout")
    request = LlmRequest([Message("user", "x")], "m", 5, 0.5, 0.9, ["s"])
    assert (request.tools, request.tool_choice, request.extra) == ((), None, None)


def test_sequences_become_tuples() -> None:
    """Tool calls, tools and chunk deltas are stored as tuples."""
    message = Message("assistant", "", tool_calls=[ToolCall("a", "f")])
    assert message.tool_calls == (ToolCall("a", "f", "{}"),)
    assert LlmRequest([message], tools=[Tool(name="f")]).tools == (Tool(name="f"),)
    assert StreamChunk("", tool_calls=[ToolCallDelta(0)]).tool_calls == (ToolCallDelta(0),)
    assert LlmResponse("", tool_calls=[ToolCall("a", "f")]).tool_calls == (ToolCall("a", "f"),)


def test_types_are_frozen() -> None:
    """The new value types cannot be mutated."""
    values: list[object] = [
        TextPart("x"),
        ImagePart(url="u"),
        Tool(name="f"),
        ToolChoice("auto"),
        ToolCall("a", "f"),
        ResponseFormat(),
        Reasoning(effort="low"),
        Message("user", "x"),
    ]
    for value in values:
        first = dataclasses.fields(value)[0].name  # type: ignore[arg-type]  # all dataclasses
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, first, "y")


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: Message("user", b"x"), TypeError, "content"),
        (lambda: Message("user", ["x"]), TypeError, "parts"),
        (lambda: Message("user", "x", tool_calls=[ToolCall("a", "f")]), ValueError, "assistant"),
        (lambda: Message("user", "x", tool_call_id="a"), ValueError, "tool_call_id"),
        (lambda: ImagePart(), ValueError, "exactly one"),
        (lambda: ImagePart(url="u", data=b"x"), ValueError, "exactly one"),
        (lambda: ImagePart(data=b"x"), ValueError, "media_type"),
        (lambda: ImagePart(url="u", detail="max"), ValueError, "detail"),
        (lambda: DocumentPart(data="x"), TypeError, "bytes"),
        (lambda: Tool(name=""), ValueError, "name"),
        (lambda: ToolChoice("any"), ValueError, "mode"),
        (lambda: ToolChoice("tool"), ValueError, "name"),
        (lambda: ToolChoice("auto", "f"), ValueError, "name"),
        (lambda: ToolCall("", "f"), ValueError, "id"),
        (lambda: ToolCall("a", "f", {}), TypeError, "arguments"),
        (lambda: ToolCallDelta(-1), ValueError, "index"),
        (lambda: ResponseFormat(type="yaml"), ValueError, "type"),
        (lambda: ResponseFormat(type="json_schema"), ValueError, "schema"),
        (lambda: ResponseFormat(type="text", name="x"), ValueError, "json_schema"),
        (lambda: Reasoning(), ValueError, "effort"),
        (lambda: Reasoning(effort="max"), ValueError, "effort"),
        (lambda: Reasoning(budget_tokens=0), ValueError, "budget_tokens"),
        (
            lambda: LlmRequest([Message("user", "x")], tools=[Tool(name="f"), Tool(name="f")]),
            ValueError,
            "duplicate",
        ),
        (lambda: LlmRequest([Message("user", "x")], tools=["f"]), TypeError, "Tool"),
        (lambda: LlmRequest([Message("user", "x")], tool_choice="auto"), TypeError, "tool_choice"),
        (lambda: LlmRequest([Message("user", "x")], extra={"gemini": {}}), ValueError, "extra"),
        (lambda: TextPart("x", extra={"gemini": {}}), ValueError, "extra"),
        (lambda: Message("user", "x", extra={"gemini": {}}), ValueError, "extra"),
        (lambda: Tool(name="f", extra=[]), ValueError, "extra"),
        (lambda: Message("user", [ThinkingPart("x")]), ValueError, "assistant"),
        (lambda: ThinkingPart("x", redacted="y"), ValueError, "redacted"),
    ],
)
def test_bad_values_fail_when_built(build: object, error: type[Exception], match: str) -> None:
    """Invalid values raise when the object is built, naming what is wrong."""
    assert callable(build)
    with pytest.raises(error, match=match):
        build()


def test_constructors_for_choices_and_formats() -> None:
    """ToolChoice.tool and ResponseFormat.json_schema build the documented values."""
    assert ToolChoice.tool("f") == ToolChoice("tool", "f")
    schema = {"type": "object"}
    made = ResponseFormat.json_schema("r", schema)
    assert (made.type, made.name, made.strict) == ("json_schema", "r", True)
    assert made.schema is schema  # schemas are not copied (documented)


def test_extra_for_reads_one_wire() -> None:
    """extra_for returns the fields for one wire, empty when there are none."""
    request = LlmRequest([Message("user", "x")], extra={"openai": {"n": 1}})
    assert request.extra_for("openai") == {"n": 1}
    assert request.extra_for("anthropic") == {}
