"""Core value types: validation and conveniences."""

from __future__ import annotations

import dataclasses

import pytest

from vex_llm import LlmRequest, LlmResponse, Message, StreamChunk, Usage


def test_from_prompt_builds_system_and_user_messages() -> None:
    """from_prompt puts the system message first and the prompt last."""
    request = LlmRequest.from_prompt("hi", system="be brief", max_tokens=5)
    assert request.messages == (Message("system", "be brief"), Message("user", "hi"))
    assert request.max_tokens == 5
    assert request.prompt == "hi"


def test_request_is_frozen_and_holds_tuples() -> None:
    """A request cannot be mutated and copies its sequences into tuples."""
    messages = [Message("user", "a")]
    request = LlmRequest(messages, stop=["x"])
    messages.append(Message("user", "b"))
    assert request.messages == (Message("user", "a"),)
    assert request.stop == ("x",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.model = "other"  # type: ignore[misc]  # the point of the test


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"messages": []}, "messages"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
    ],
)
def test_bad_request_settings_name_the_field(kwargs: dict[str, object], field: str) -> None:
    """Invalid request settings raise ValueError naming the field."""
    base: dict[str, object] = {"messages": [Message("user", "x")]}
    base.update(kwargs)
    with pytest.raises(ValueError, match=field):
        LlmRequest(**base)  # type: ignore[arg-type]  # built from a dict on purpose


def test_bad_message_role_and_content() -> None:
    """Unknown roles raise ValueError; non-string content raises TypeError."""
    with pytest.raises(ValueError, match="role"):
        Message("robot", "x")  # type: ignore[arg-type]  # the point of the test
    with pytest.raises(TypeError, match="content"):
        Message("user", None)  # type: ignore[arg-type]  # the point of the test


def test_usage_of_sums_the_total() -> None:
    """Usage.of fills total_tokens with the sum."""
    assert Usage.of(3, 4) == Usage(3, 4, 7)


def test_response_and_chunk_defaults() -> None:
    """Responses and chunks have the contract's defaults."""
    response = LlmResponse("hi")
    assert (response.model, response.provider, response.usage, response.latency_s) == (
        "",
        "",
        None,
        0.0,
    )
    chunk = StreamChunk("x")
    assert (chunk.finish_reason, chunk.usage, chunk.model, chunk.provider) == (
        None,
        None,
        None,
        None,
    )
