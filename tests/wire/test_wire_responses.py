"""Answers on both wires: any response survives a trip through either wire's body."""

from __future__ import annotations

import dataclasses
import json

from _wire_strategies import ident, json_args, name, text
from hypothesis import given
from hypothesis import strategies as st

from vex_llm import LlmResponse, ThinkingPart, ToolCall, Usage


@st.composite
def _usage(draw: st.DrawFn, *, cache_writes: bool) -> Usage:
    prompt = draw(st.integers(0, 10_000))
    cached = draw(st.integers(0, prompt))
    written = draw(st.integers(0, prompt - cached)) if cache_writes else 0
    completion = draw(st.integers(0, 10_000))
    reasoning = 0 if cache_writes else draw(st.integers(0, completion))
    return Usage(
        prompt,
        completion,
        prompt + completion,
        cached_input_tokens=cached,
        cache_write_tokens=written,
        reasoning_tokens=reasoning,
    )


@st.composite
def responses(draw: st.DrawFn, *, wire: str) -> LlmResponse:
    """A response the given wire can carry whole."""
    calls = draw(
        st.lists(
            st.builds(lambda i, n, a: ToolCall(i, n, json.dumps(a)), ident, name, json_args),
            max_size=3,
            unique_by=lambda c: c.id,
        )
    )
    finish = "tool_calls" if calls else draw(st.sampled_from(["stop", "length", "content_filter"]))
    thinking = (
        draw(st.lists(st.builds(lambda t, s: ThinkingPart(t, signature=s), text, name), max_size=2))
        if wire == "anthropic"
        else []
    )
    return LlmResponse(
        draw(text),
        model=draw(name),
        usage=draw(st.none() | _usage(cache_writes=wire == "anthropic")),
        finish_reason=finish,
        tool_calls=calls,
        id=draw(name),
        thinking=thinking,
    )


def _same(got: LlmResponse, sent: LlmResponse) -> None:
    assert dataclasses.replace(got, provider_finish_reason=None) == sent


@given(responses(wire="openai"))
def test_any_response_survives_the_openai_wire(response: LlmResponse) -> None:
    """to_openai then from_openai gives the same response (the wire's own finish aside)."""
    _same(LlmResponse.from_openai(response.to_openai()), response)


@given(responses(wire="anthropic"))
def test_any_response_survives_the_anthropic_wire(response: LlmResponse) -> None:
    """to_anthropic then from_anthropic gives the same response (the wire's own finish aside)."""
    _same(LlmResponse.from_anthropic(response.to_anthropic()), response)


@given(responses(wire="openai"))
def test_a_response_crosses_from_openai_to_anthropic(response: LlmResponse) -> None:
    """An OpenAI answer written as Anthropic keeps text, calls, finish and token counts."""
    across = LlmResponse.from_anthropic(
        LlmResponse.from_openai(response.to_openai()).to_anthropic()
    )
    assert (across.content, across.tool_calls, across.finish_reason) == (
        response.content,
        response.tool_calls,
        response.finish_reason,
    )
    if response.usage is not None:
        assert across.usage == dataclasses.replace(response.usage, reasoning_tokens=0)
