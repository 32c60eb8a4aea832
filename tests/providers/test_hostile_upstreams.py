"""Hostile or broken upstreams cost bounded memory and time: body, decompression and SSE limits."""

from __future__ import annotations

import functools
import json
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from _raw_server import head, raw_server, sending

from vex_llm import AnthropicProvider, InvalidResponse, LlmRequest, NotAvailable, OpenAIProvider
from vex_llm.providers import HttpLimits
from vex_llm.providers._base import HttpProvider

MB = 1024 * 1024
PEAK_LIMIT = 6 * MB
"""Most memory a call may take while it refuses a body many times this size."""

REQUEST = LlmRequest.from_prompt("hi")


def openai_at(base_url: str, limits: HttpLimits | None = None) -> OpenAIProvider:
    """An OpenAI provider aimed at a raw server."""
    return OpenAIProvider("m", base_url=base_url + "/v1", api_key="k", limits=limits, timeout=10.0)


async def peak_of(call: Callable[[], Awaitable[object]]) -> tuple[BaseException | None, int]:
    """Run ``call`` under tracemalloc: what it raised and its peak traced memory in bytes."""
    tracemalloc.start()
    try:
        try:
            await call()
        except Exception as exc:
            raised: BaseException | None = exc
        else:
            raised = None
        return raised, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def gzip_of(data: bytes) -> bytes:
    """``data`` gzip-compressed."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    return packer.compress(data) + packer.flush()


@functools.cache
def bomb() -> bytes:
    """A valid JSON answer of 64 MiB (mostly trailing whitespace), gzipped to about 64 KB."""
    answer = json.dumps(
        {"choices": [{"index": 0, "message": {"content": "hi"}, "finish_reason": "stop"}]}
    ).encode()
    return gzip_of(answer + b" " * (64 * MB))


async def drain(provider: HttpProvider) -> str:
    """Stream one answer and return its text."""
    return "".join([chunk.delta async for chunk in provider.stream(REQUEST)])


async def test_huge_error_body_is_read_only_up_to_its_cap() -> None:
    """A 503 with a 24 MB HTML page fails as NotAvailable in a few MB of memory."""
    page = b"<html>" + b"x" * (24 * MB)
    async with (
        raw_server(sending(head(503, content_type="text/html"), page)) as url,
        openai_at(url) as provider,
    ):
        raised, peak = await peak_of(lambda: provider.complete(REQUEST))
    assert isinstance(raised, NotAvailable)
    assert peak < PEAK_LIMIT


async def test_huge_success_body_is_invalid_response() -> None:
    """A 200 body over max_body_bytes fails with InvalidResponse and bounded memory."""
    body = b'{"choices": []}' + b" " * (8 * MB)
    limits = HttpLimits(max_body_bytes=MB)
    async with raw_server(sending(head(200), body)) as url, openai_at(url, limits) as provider:
        raised, peak = await peak_of(lambda: provider.complete(REQUEST))
    assert isinstance(raised, InvalidResponse)
    assert "max_body_bytes" in str(raised)
    assert peak < PEAK_LIMIT


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
async def test_gzip_bomb_is_refused_in_bounded_memory(streamed: bool) -> None:
    """A 64 KB gzip body inflating to 64 MiB is InvalidResponse within max_body_bytes of memory."""
    content_type = "text/event-stream" if streamed else "application/json"
    answer = sending(head(200, content_type=content_type, content_encoding="gzip"), bomb())
    async with raw_server(answer) as url, openai_at(url) as provider:
        call = (lambda: drain(provider)) if streamed else (lambda: provider.complete(REQUEST))
        raised, peak = await peak_of(call)
    assert isinstance(raised, InvalidResponse)
    assert peak < PEAK_LIMIT + (0 if streamed else HttpLimits().max_body_bytes)


async def test_gzip_answer_within_limits_is_read() -> None:
    """A gzipped answer of normal size is inflated and read as before."""
    body = json.dumps(
        {"choices": [{"index": 0, "message": {"content": "zipped"}, "finish_reason": "stop"}]}
    ).encode()
    async with (
        raw_server(sending(head(200, content_encoding="gzip"), gzip_of(body))) as url,
        openai_at(url) as provider,
    ):
        response = await provider.complete(REQUEST)
    assert response.content == "zipped"


async def test_one_giant_sse_line_is_invalid_response_in_bounded_memory() -> None:
    """A 24 MB ``data:`` line without an end fails at max_sse_line_bytes, in bounded memory."""
    line = b"data: " + b"x" * (24 * MB)
    async with (
        raw_server(sending(head(200, content_type="text/event-stream"), line)) as url,
        openai_at(url) as provider,
    ):
        raised, peak = await peak_of(lambda: drain(provider))
    assert isinstance(raised, InvalidResponse)
    assert "max_sse_line_bytes" in str(raised)
    assert peak < PEAK_LIMIT


async def test_event_of_many_lines_over_its_cap_is_invalid_response() -> None:
    """Many short ``data:`` lines of one event past max_sse_event_bytes fail the stream."""
    lines = b"data: " + b"y" * 100 + b"\n"
    limits = HttpLimits(max_sse_line_bytes=1024, max_sse_event_bytes=64 * 1024)
    answer = sending(head(200, content_type="text/event-stream"), lines * 2000)
    async with raw_server(answer) as url, openai_at(url, limits) as provider:
        with pytest.raises(InvalidResponse, match="max_sse_event_bytes"):
            await drain(provider)


def chat_event(text: bytes) -> bytes:
    """One Chat Completions stream event carrying ``text`` as raw bytes."""
    return b'data: {"choices": [{"index": 0, "delta": {"content": "' + text + b'"}}]}\n\n'


@pytest.mark.parametrize(
    "bad", [b"\xff", b"caf\xc3", b"\xed\xa0\x80"], ids=["ff", "cut", "surrogate"]
)
async def test_invalid_utf8_in_a_stream_is_invalid_response(bad: bytes) -> None:
    """Invalid UTF-8 inside a streamed answer is InvalidResponse, not text with U+FFFD."""
    body = chat_event(b"ok ") + chat_event(bad) + b'data: {"choices": [{"index": 0, '
    body += b'"delta": {}, "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n'
    async with (
        raw_server(sending(head(200, content_type="text/event-stream"), body)) as url,
        openai_at(url) as provider,
    ):
        with pytest.raises(InvalidResponse, match="UTF-8") as info:
            await drain(provider)
    assert "\ufffd" not in str(info.value)


async def test_utf8_split_across_pieces_still_streams() -> None:
    """Valid multi-byte characters split across network writes arrive whole."""
    body = chat_event("héllo ✓".encode()) + b'data: {"choices": [{"index": 0, '
    body += b'"delta": {}, "finish_reason": "stop"}]}\n\n'
    answer = sending(head(200, content_type="text/event-stream"), body, piece=3)
    async with raw_server(answer) as url, openai_at(url) as provider:
        assert await drain(provider) == "héllo ✓"


@pytest.fixture
async def anthropic_giant_line() -> AsyncIterator[AnthropicProvider]:
    """An Anthropic provider aimed at a server that sends one endless line."""
    line = b"event: content_block_delta\ndata: " + b"z" * (4 * MB)
    async with raw_server(sending(head(200, content_type="text/event-stream"), line)) as url:
        limits = HttpLimits(max_sse_line_bytes=64 * 1024)
        async with AnthropicProvider("c", base_url=url, api_key="k", limits=limits) as provider:
            yield provider


async def test_anthropic_stream_line_cap(anthropic_giant_line: AnthropicProvider) -> None:
    """The line cap holds on the Anthropic wire too."""
    with pytest.raises(InvalidResponse, match="max_sse_line_bytes"):
        await drain(anthropic_giant_line)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_body_bytes", 0),
        ("max_error_body_bytes", -1),
        ("max_sse_line_bytes", 1.5),
        ("max_sse_event_bytes", True),
        ("max_connections", 0),
        ("pool_timeout", 0.0),
        ("pool_timeout", float("inf")),
    ],
)
def test_limits_are_validated(field: str, value: object) -> None:
    """Bad limits fail when HttpLimits is built, naming the field."""
    with pytest.raises(ValueError, match=field):
        HttpLimits(**{field: value})  # type: ignore[arg-type]  # bad values on purpose
