"""Helpers shared by the provider tests: providers aimed at a fake server."""

from __future__ import annotations

import json
from typing import Literal

import httpx2

from vex_llm import AnthropicProvider, OpenAIProvider
from vex_llm.providers._base import HttpProvider
from vex_llm.testing import FakeLLMServer

Wire = Literal["openai", "anthropic"]


def make_provider(
    wire: Wire,
    server: FakeLLMServer,
    *,
    timeout: float = 2.0,
    headers_timeout: float = 1.0,
    first_token_timeout: float = 1.0,
    idle_timeout: float = 1.0,
    api_key: str | None = None,
) -> HttpProvider:
    """A provider for ``wire`` aimed at ``server``, with short limits (fault tests wait
    for them, so they bound the suite's real time)."""
    if wire == "openai":
        return OpenAIProvider(
            "fake-gpt",
            base_url=server.base_url,
            api_key=api_key,
            timeout=timeout,
            connect_timeout=1.0,
            headers_timeout=headers_timeout,
            first_token_timeout=first_token_timeout,
            idle_timeout=idle_timeout,
        )
    return AnthropicProvider(
        "fake-claude",
        base_url=server.anthropic_base_url,
        api_key=api_key,
        timeout=timeout,
        connect_timeout=1.0,
        headers_timeout=headers_timeout,
        first_token_timeout=first_token_timeout,
        idle_timeout=idle_timeout,
    )


def capturing_client(
    body: bytes, *, status: int = 200, seen: list[httpx2.Request]
) -> httpx2.AsyncClient:
    """A client that answers every request with ``body`` and keeps the requests in ``seen``
    (no network)."""

    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(status, content=body, headers={"content-type": "application/json"})

    return httpx2.AsyncClient(transport=httpx2.MockTransport(answer))


OPENAI_ANSWER = json.dumps(
    {
        "model": "gpt-x-2025",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
).encode()

ANTHROPIC_ANSWER = json.dumps(
    {
        "type": "message",
        "model": "claude-x-2025",
        "content": [
            {"type": "text", "text": "hi "},
            {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": 1}},
            {"type": "text", "text": "there"},
        ],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 3, "output_tokens": 2},
    }
).encode()
