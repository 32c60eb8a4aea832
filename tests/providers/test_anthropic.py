"""AnthropicProvider: the Messages request it sends and how it reads answers."""

from __future__ import annotations

import json

import httpx2
import pytest
from _provider_kit import ANTHROPIC_ANSWER, capturing_client

from vex_llm import (
    AnthropicProvider,
    InvalidResponse,
    LlmRequest,
    Message,
    NotAvailable,
    ToolCall,
    Usage,
)


async def test_payload_headers_and_answer() -> None:
    """System text is lifted out, roles mapped, headers set; text blocks are joined."""
    seen: list[httpx2.Request] = []
    async with capturing_client(ANTHROPIC_ANSWER, seen=seen) as client:
        provider = AnthropicProvider(
            "claude-x", base_url="http://127.0.0.1:9/", api_key="ak", client=client
        )
        request = LlmRequest(
            [
                Message("system", "be brief"),
                Message("user", "hi"),
                Message("assistant", "hello"),
                Message("tool", "42"),
                Message("system", "and kind"),
            ],
            temperature=0.5,
            stop=["END"],
        )
        response = await provider.complete(request)
    assert (response.content, response.model, response.finish_reason) == (
        "hi there",
        "claude-x-2025",
        "stop",
    )
    assert response.usage == Usage(3, 2, 5)
    assert response.tool_calls == (ToolCall("toolu_1", "lookup", '{"q": 1}'),)
    sent = seen[-1]
    assert str(sent.url) == "http://127.0.0.1:9/v1/messages"
    assert sent.headers["x-api-key"] == "ak"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert json.loads(sent.content) == {
        "model": "claude-x",
        "max_tokens": 1024,
        "system": "be brief\n\nand kind",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "42"},
        ],
        "temperature": 0.5,
        "stop_sequences": ["END"],
    }


async def test_request_max_tokens_wins() -> None:
    """A request's max_tokens replaces the provider's default."""
    seen: list[httpx2.Request] = []
    async with capturing_client(ANTHROPIC_ANSWER, seen=seen) as client:
        provider = AnthropicProvider(
            "c", base_url="http://127.0.0.1:9", client=client, max_tokens=10
        )
        await provider.complete(LlmRequest.from_prompt("x", max_tokens=3))
        await provider.complete(LlmRequest.from_prompt("x"))
    assert [json.loads(r.content)["max_tokens"] for r in seen] == [3, 10]


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("end_turn", "stop"),
        ("max_tokens", "length"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ],
)
async def test_stop_reasons_use_the_common_vocabulary(reason: str, expected: str) -> None:
    """Anthropic stop reasons are reported in the common vocabulary, and as sent."""
    body = json.dumps({"content": [{"type": "text", "text": "x"}], "stop_reason": reason}).encode()
    seen: list[httpx2.Request] = []
    async with capturing_client(body, seen=seen) as client:
        provider = AnthropicProvider("c", base_url="http://127.0.0.1:9", client=client)
        response = await provider.complete(LlmRequest.from_prompt("x"))
    assert (response.finish_reason, response.provider_finish_reason) == (expected, reason)


async def test_error_object_in_a_200_is_an_error() -> None:
    """An error object sent with 200 is raised as its kind, not read as an answer."""
    body = b'{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'
    seen: list[httpx2.Request] = []
    async with capturing_client(body, seen=seen) as client:
        provider = AnthropicProvider("c", base_url="http://127.0.0.1:9", client=client)
        with pytest.raises(NotAvailable):
            await provider.complete(LlmRequest.from_prompt("x"))


@pytest.mark.parametrize(
    "body", [b"[]", b'{"content": "text"}', b'{"content": [{"type": "text"}]}']
)
async def test_schema_violations_are_invalid_response(body: bytes) -> None:
    """A 200 whose JSON breaks the Messages shape is InvalidResponse."""
    seen: list[httpx2.Request] = []
    async with capturing_client(body, seen=seen) as client:
        provider = AnthropicProvider("c", base_url="http://127.0.0.1:9", client=client)
        with pytest.raises(InvalidResponse):
            await provider.complete(LlmRequest.from_prompt("x"))


async def test_defaults_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """base_url and key come from ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:4321")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "ak-env")
    seen: list[httpx2.Request] = []
    async with capturing_client(ANTHROPIC_ANSWER, seen=seen) as client:
        provider = AnthropicProvider("c", client=client)
        await provider.ask("x")
    assert provider.name == "anthropic"
    assert str(seen[-1].url) == "http://127.0.0.1:4321/v1/messages"
    assert seen[-1].headers["x-api-key"] == "ak-env"


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_bad_max_tokens(value: object) -> None:
    """max_tokens must be an integer >= 1."""
    with pytest.raises(ValueError, match="max_tokens"):
        AnthropicProvider("c", base_url="http://127.0.0.1:9", max_tokens=value)  # type: ignore[arg-type]
