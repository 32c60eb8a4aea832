"""Capabilities: the check that fails a request a provider cannot take, before it is sent."""

from __future__ import annotations

import pytest

from vex_llm import (
    Capabilities,
    DocumentPart,
    ImagePart,
    InvalidRequest,
    LlmRequest,
    Message,
    ResponseFormat,
    TextPart,
    Tool,
    ToolCall,
    check_capabilities,
)

_USER = Message("user", "x")
_CASES = [
    ("vision", LlmRequest([Message("user", [TextPart("a"), ImagePart(url="https://x/i.png")])])),
    ("documents", LlmRequest([Message("user", [DocumentPart(data=b"%PDF")])])),
    ("json_schema", LlmRequest([_USER], response_format=ResponseFormat.json_schema("r", {}))),
    ("tools", LlmRequest([_USER], tools=[Tool(name="f")])),
    ("tools", LlmRequest([Message("assistant", "", tool_calls=[ToolCall("a", "f")])])),
    ("tools", LlmRequest([_USER, Message("tool", "1", tool_call_id="a")])),
    ("prefill", LlmRequest([_USER, Message("assistant", "{")])),
]


@pytest.mark.parametrize(("capability", "request_"), _CASES)
def test_missing_capability_fails_with_its_code(capability: str, request_: LlmRequest) -> None:
    """A request needing a missing capability raises InvalidRequest coded unsupported_<it>."""
    lacking = Capabilities(**{capability: False})
    with pytest.raises(InvalidRequest, match="cannot take") as caught:
        check_capabilities(request_, lacking, provider="local")
    assert caught.value.code == f"unsupported_{capability}"
    assert caught.value.provider == "local"
    assert caught.value.retryable is False
    check_capabilities(request_, Capabilities())


def test_plain_requests_pass_everywhere() -> None:
    """A text request passes even a provider that can take nothing else."""
    nothing = Capabilities(
        vision=False, documents=False, json_schema=False, tools=False, prefill=False
    )
    check_capabilities(LlmRequest.from_prompt("hi", system="s"), nothing)
    json_object = LlmRequest([_USER], response_format=ResponseFormat(type="json_object"))
    check_capabilities(json_object, nothing)


def test_defaults_per_provider_kind() -> None:
    """OpenAI takes everything but prefill, Anthropic everything; unknown servers tools only."""
    assert Capabilities.for_kind("openai") == Capabilities(prefill=False)
    assert Capabilities.for_kind("anthropic") == Capabilities()
    assert Capabilities.for_kind("ollama") == Capabilities(
        vision=False, documents=False, json_schema=False, tools=True, prefill=False
    )
