"""MockProvider with tools: scripted and smart tool calls, streamed deltas, capabilities."""

from __future__ import annotations

import json

import pytest

from vex_llm import (
    Capabilities,
    ImagePart,
    InvalidRequest,
    LlmRequest,
    LlmResponse,
    Message,
    MockProvider,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    collect,
)

WEATHER = Tool(
    name="weather",
    description="The weather in a city",
    parameters={
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "alerts": {"type": ["boolean", "null"]},
        },
        "required": ["city"],
    },
)
CLOCK = Tool(name="clock", parameters={"type": "object", "properties": {}})


def _ask(prompt: str, **kwargs: object) -> LlmRequest:
    return LlmRequest.from_prompt(prompt, **kwargs)


async def test_a_scripted_response_answers_with_its_tool_calls() -> None:
    """A scripted LlmResponse with tool calls is the answer, finish reason tool_calls."""
    calls = (ToolCall("c1", "weather", '{"city": "Paris"}'), ToolCall("c2", "clock"))
    provider = MockProvider.scripted([LlmResponse("", tool_calls=calls)], name="m")
    response = await provider.complete(_ask("hi", tools=(WEATHER, CLOCK)))
    assert response.tool_calls == calls
    assert response.finish_reason == "tool_calls"
    assert response.provider == "m"
    assert response.model == "mock-1"
    assert response.usage is not None


async def test_a_scripted_tool_call_streams_as_deltas_that_collect_back() -> None:
    """A streamed tool call arrives in ToolCallDelta pieces; collect() rebuilds it exactly."""
    calls = (ToolCall("c1", "weather", '{"city": "Paris"}'), ToolCall("c2", "clock", "{}"))
    answer = LlmResponse("Checking.", tool_calls=calls)
    provider = MockProvider.scripted([answer, answer])
    chunks = [chunk async for chunk in provider.stream(_ask("hi", tools=(WEATHER, CLOCK)))]
    pieces = [piece for chunk in chunks for piece in chunk.tool_calls]
    assert len(pieces) == 4
    assert [(p.index, p.id, p.name) for p in pieces] == [
        (0, "c1", "weather"),
        (0, None, None),
        (1, "c2", "clock"),
        (1, None, None),
    ]
    assert chunks[-1].finish_reason == "tool_calls"
    assert [c.finish_reason for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    collected = await collect(provider.stream(_ask("hi", tools=(WEATHER, CLOCK))))
    assert collected.tool_calls == calls
    assert collected.content == "Checking."
    assert collected.finish_reason == "tool_calls"
    assert collected.provider == "mock"


async def test_smart_calls_the_first_tool_with_arguments_from_its_schema() -> None:
    """Unscripted, a request offering tools gets a call of the first, every property filled."""
    provider = MockProvider.smart()
    response = await provider.complete(_ask("Paris", tools=(WEATHER, CLOCK)))
    assert response.content == ""
    assert response.finish_reason == "tool_calls"
    (call,) = response.tool_calls
    assert call.name == "weather"
    assert json.loads(call.arguments) == {
        "city": "Paris",
        "days": 0,
        "unit": "celsius",
        "alerts": False,
    }
    again = await MockProvider.smart().complete(_ask("Paris", tools=(WEATHER, CLOCK)))
    assert again.tool_calls == response.tool_calls  # deterministic, id included


async def test_smart_follows_tool_choice() -> None:
    """ToolChoice.tool(name) picks that tool; ToolChoice('none') gets a text answer."""
    provider = MockProvider.smart()
    named = await provider.complete(
        _ask("now", tools=(WEATHER, CLOCK), tool_choice=ToolChoice.tool("clock"))
    )
    assert [call.name for call in named.tool_calls] == ["clock"]
    assert named.tool_calls[0].arguments == "{}"
    none = await provider.complete(_ask("hello", tools=(WEATHER,), tool_choice=ToolChoice("none")))
    assert none.tool_calls == ()
    assert none.finish_reason == "stop"
    assert none.content.startswith("Hello!")


async def test_smart_answers_a_tool_result_with_text() -> None:
    """A conversation that ends with tool results gets a text answer quoting them."""
    call = ToolCall("c1", "weather", '{"city": "Paris"}')
    request = LlmRequest(
        [
            Message("user", "Weather in Paris?"),
            Message("assistant", "", tool_calls=(call,)),
            Message("tool", "18 C, clear", tool_call_id="c1"),
        ],
        tools=(WEATHER,),
    )
    response = await MockProvider.smart().complete(request)
    assert response.tool_calls == ()
    assert response.content == "The tool answered: 18 C, clear"
    assert response.finish_reason == "stop"


async def test_call_tools_false_answers_with_text() -> None:
    """call_tools=False keeps the plain text answers even when tools are offered."""
    response = await MockProvider(call_tools=False).complete(_ask("hello", tools=(WEATHER,)))
    assert response.tool_calls == ()
    assert response.content.startswith("Hello!")


IMAGE = Message("user", [TextPart("what is this?"), ImagePart(url="https://example.com/a.png")])
SCHEMA = ResponseFormat.json_schema("answer", {"type": "object"})


@pytest.mark.parametrize(
    ("capabilities", "request_", "code"),
    [
        (Capabilities(tools=False), _ask("hi", tools=(WEATHER,)), "unsupported_tools"),
        (Capabilities(vision=False), LlmRequest([IMAGE]), "unsupported_vision"),
        (
            Capabilities(json_schema=False),
            _ask("hi", response_format=SCHEMA),
            "unsupported_json_schema",
        ),
    ],
)
@pytest.mark.parametrize("streamed", [False, True])
async def test_capabilities_refuse_before_the_call_counts(
    capabilities: Capabilities, request_: LlmRequest, code: str, streamed: bool
) -> None:
    """A request the mock's capabilities cannot take raises InvalidRequest, uncounted."""
    provider = MockProvider(capabilities=capabilities, name="m")
    answer = collect(provider.stream(request_)) if streamed else provider.complete(request_)
    with pytest.raises(InvalidRequest) as info:
        await answer
    assert info.value.code == code
    assert info.value.provider == "m"
    assert info.value.retryable is False
    assert provider.calls == 0


async def test_default_capabilities_take_everything() -> None:
    """By default the mock takes images, schemas and tools (Capabilities.for_kind('mock'))."""
    provider = MockProvider.smart()
    assert provider.capabilities == Capabilities.for_kind("mock")
    request = LlmRequest([IMAGE], tools=(WEATHER,), response_format=SCHEMA)
    assert (await provider.complete(request)).tool_calls


@pytest.mark.parametrize("latency", [True, float("nan"), float("inf"), -0.5, "1"])
def test_latency_is_checked_like_every_duration(latency: object) -> None:
    """latency goes through the shared duration check: booleans and non-numbers too."""
    with pytest.raises(ValueError, match="MockProvider latency must be a number"):
        MockProvider(latency=latency)  # type: ignore[arg-type]  # bad on purpose


async def test_smart_answers_a_json_schema_request_with_json_from_the_schema() -> None:
    """A JSON Schema response format gets JSON shaped by the schema, strings from the prompt."""
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
    }
    request = _ask("hello", response_format=ResponseFormat.json_schema("a", schema))
    response = await MockProvider.smart().complete(request)
    assert json.loads(response.content) == {"answer": "hello", "confidence": 0}
    assert response.finish_reason == "stop"
