"""Raw-wire helpers for the fake server's tests: plain httpx2 posts and SSE parsing."""

from __future__ import annotations

import json
from typing import Any, Literal

import httpx2

from vex_llm.testing import FakeLLMServer

Wire = Literal["openai", "anthropic"]
WIRES: tuple[Wire, ...] = ("openai", "anthropic")
PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}
WEATHER = '{"city": "Paris", "unit": "celsius"}'


def body(wire: Wire, *, stream: bool = False, **fields: object) -> dict[str, Any]:
    """A minimal valid request for ``wire`` (one user message), with ``fields`` on top."""
    out: dict[str, Any] = {"model": "m-1", "messages": [{"role": "user", "content": "weather?"}]}
    if wire == "anthropic":
        out["max_tokens"] = 100
    if stream:
        out["stream"] = True
        if wire == "openai":
            out["stream_options"] = {"include_usage": True}
    out.update(fields)
    return out


async def post(server: FakeLLMServer, wire: Wire, data: dict[str, Any]) -> httpx2.Response:
    """POST ``data`` to the wire's endpoint with a plain httpx2 client."""
    async with httpx2.AsyncClient(base_url=server.url) as client:
        return await client.post(PATHS[wire], json=data)


async def post_raw(server: FakeLLMServer, wire: Wire, data: dict[str, Any]) -> bytes:
    """POST and read the whole body, even when the server cuts it short."""
    chunks: list[bytes] = []
    async with (
        httpx2.AsyncClient(base_url=server.url) as client,
        client.stream("POST", PATHS[wire], json=data) as response,
    ):
        try:
            async for chunk in response.aiter_raw():
                chunks.append(chunk)
        except httpx2.HTTPError:
            pass  # a reset or a short body: what came before is what the test looks at
    return b"".join(chunks)


def events(text: str) -> list[Any]:
    """The JSON data of an SSE body's events, in order (``[DONE]`` left out)."""
    return [
        json.loads(line[6:])
        for line in text.splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


def openai_arguments(chunks: list[Any], index: int = 0) -> str:
    """The arguments text of tool call ``index`` reassembled from OpenAI chunks."""
    return "".join(
        call["function"].get("arguments", "")
        for chunk in chunks
        if chunk.get("choices")
        for call in chunk["choices"][0]["delta"].get("tool_calls", [])
        if call["index"] == index
    )


def anthropic_arguments(items: list[Any], block: int) -> str:
    """The ``partial_json`` text of content block ``block`` reassembled from events."""
    return "".join(
        e["delta"]["partial_json"]
        for e in items
        if e["type"] == "content_block_delta"
        and e["index"] == block
        and e["delta"]["type"] == "input_json_delta"
    )
