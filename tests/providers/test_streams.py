"""Streams: what completes one, what its chunks carry, and a healthy pool after failures."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Callable

import httpx2
import pytest
from _provider_kit import Wire, make_provider

from vex_llm import (
    AnthropicProvider,
    HttpLimits,
    InvalidResponse,
    LlmError,
    LlmRequest,
    OpenAIProvider,
    StreamChunk,
    StreamInterrupted,
    Usage,
)
from vex_llm.providers._base import HttpProvider
from vex_llm.testing import FakeLLMServer, Fault

REQUEST = LlmRequest.from_prompt("alpha beta gamma")
ANSWER = "You said: alpha beta gamma"


async def collect(provider: HttpProvider) -> list[StreamChunk]:
    """All chunks of one stream."""
    return [chunk async for chunk in provider.stream(REQUEST)]


@pytest.mark.fake_server
async def test_first_and_last_chunk_name_model_and_provider(provider: HttpProvider) -> None:
    """The first and last chunks carry model and provider; the last the finish and usage."""
    chunks = await collect(provider)
    assert "".join(c.delta for c in chunks) == ANSWER
    first, last = chunks[0], chunks[-1]
    assert (first.model, first.provider) == (provider.model, provider.name)
    assert (last.model, last.provider) == (provider.model, provider.name)
    assert last.finish_reason == "stop"
    assert last.usage == Usage(3, 5, 8)
    assert all(c.finish_reason is None for c in chunks[:-1])
    assert all(c.model is None for c in chunks[1:-1])


@pytest.mark.fake_server
async def test_complete_fills_usage_finish_and_latency(provider: HttpProvider) -> None:
    """complete() reports text, model, provider name, usage, finish reason and latency."""
    response = await provider.complete(REQUEST)
    assert response.content == ANSWER
    assert response.model == provider.model
    assert response.provider == provider.name
    assert response.usage == Usage(3, 5, 8)
    assert response.finish_reason == "stop"
    assert response.latency_s > 0


@pytest.mark.fake_server
async def test_request_model_overrides_the_default(
    provider: HttpProvider, server: FakeLLMServer
) -> None:
    """LlmRequest.model is sent instead of the provider's model, and reported back."""
    request = LlmRequest.from_prompt("x", model="other-model")
    response = await provider.complete(request)
    assert response.model == "other-model"
    chunks = [c async for c in provider.stream(request)]
    assert chunks[-1].model == "other-model"
    assert [e.model for e in server.journal] == ["other-model", "other-model"]


@pytest.mark.fake_server
async def test_stream_asks_for_usage(server: FakeLLMServer) -> None:
    """OpenAI streams ask for usage; with stream_usage=False the last chunk has none."""
    async with OpenAIProvider("m", base_url=server.base_url, stream_usage=False) as plain:
        chunks = await collect(plain)
    assert chunks[-1].usage is None
    assert chunks[-1].finish_reason == "stop"


@pytest.mark.fake_server
@pytest.mark.parametrize(
    "fault",
    [Fault.stall(after_chunks=1), Fault.reset(after_chunks=1), Fault.cut(after_chunks=1)],
    ids=["stall", "reset", "cut"],
)
async def test_pool_stays_healthy_after_failed_streams(
    server: FakeLLMServer, wire: Wire, fault: Fault
) -> None:
    """After a stalled, reset or cut stream, the next calls on the same provider work."""
    async with make_provider(wire, server, idle_timeout=0.1) as provider:
        assert await provider.complete(REQUEST)  # a pooled connection exists
        for _ in range(3):
            server.inject(fault, times=1)
            with pytest.raises(LlmError):
                await collect(provider)
            assert "".join(c.delta for c in await collect(provider)) == ANSWER
            assert (await provider.complete(REQUEST)).content == ANSWER


@pytest.mark.fake_server
async def test_abandoned_stream_closes_its_response(server: FakeLLMServer, wire: Wire) -> None:
    """Closing a stream early ends the server's side too, and the provider stays usable."""
    server.inject(Fault.stall(after_chunks=1), times=1)
    async with make_provider(wire, server, idle_timeout=5.0) as provider:
        chunks = provider.stream(REQUEST)
        first = await anext(chunks)
        assert first.delta == "You "
        await chunks.aclose()  # type: ignore[attr-defined]
        assert (await provider.complete(REQUEST)).content == ANSWER
    # The stalled handler saw the client leave: the server stops without waiting.
    assert server.journal[0].fault == "stall"


# -- exotic bodies, served by an in-process transport (no network) -------------------------


def sse_client(
    body: bytes, *, split: int = 0, closed: list[bool] | None = None
) -> httpx2.AsyncClient:
    """A client whose every POST answers 200 with ``body`` as an event stream.

    Args:
        body: The stream's bytes.
        split: Send in pieces of this many bytes (0: one piece).
        closed: Appended to when the response stream is closed.
    """

    class Body(httpx2.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            step = split or len(body) or 1
            for start in range(0, len(body), step):
                yield body[start : start + step]

        async def aclose(self) -> None:
            if closed is not None:
                closed.append(True)

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, stream=Body())

    return httpx2.AsyncClient(transport=httpx2.MockTransport(answer))


def openai_chunk(content: str | None = None, finish: str | None = None) -> bytes:
    """One Chat Completions stream event."""
    delta = "{}" if content is None else json.dumps({"content": content})
    reason = "null" if finish is None else f'"{finish}"'
    return (
        b'data: {"model": "m-1", "choices": [{"index": 0, "delta": %s, "finish_reason": %s}]}\n\n'
        % (delta.encode(), reason.encode())
    )


Build = Callable[[httpx2.AsyncClient], HttpProvider]


def openai_on(client: httpx2.AsyncClient) -> HttpProvider:
    return OpenAIProvider("m", base_url="http://127.0.0.1:9/v1", client=client)


def anthropic_on(client: httpx2.AsyncClient) -> HttpProvider:
    return AnthropicProvider("c", base_url="http://127.0.0.1:9", client=client)


async def stream_text(build: Build, body: bytes, split: int = 0) -> list[StreamChunk]:
    """The chunks a provider reads from ``body``."""
    async with sse_client(body, split=split) as client:
        return await collect(build(client))


async def test_missing_done_after_finish_is_fine() -> None:
    """A finish reason without the [DONE] terminator is a complete stream."""
    chunks = await stream_text(openai_on, openai_chunk("Hi") + openai_chunk(finish="length"))
    assert "".join(c.delta for c in chunks) == "Hi"
    assert chunks[-1].finish_reason == "length"
    assert chunks[-1].model == "m-1"


async def test_finish_in_the_same_chunk_as_text() -> None:
    """Text and finish reason in one event: the text is kept, the stream completes."""
    chunks = await stream_text(openai_on, openai_chunk("Bye", finish="stop"))
    assert [c.delta for c in chunks] == ["Bye", ""]
    assert chunks[-1].finish_reason == "stop"


async def test_body_ending_without_finish_is_interrupted() -> None:
    """Text and then the end of the body, no finish and no [DONE]: StreamInterrupted."""
    with pytest.raises(StreamInterrupted) as info:
        await stream_text(openai_on, openai_chunk("Hel") + openai_chunk("lo"))
    assert info.value.partial == "Hello"


async def test_done_without_finish_completes() -> None:
    """An explicit [DONE] terminator completes a stream even without a finish reason."""
    chunks = await stream_text(openai_on, openai_chunk("ok") + b"data: [DONE]\n\n")
    assert chunks[-1].finish_reason == "stop"


async def test_event_cut_before_its_blank_line_is_dropped() -> None:
    """A final event never closed by a blank line is not read (the body broke mid-event)."""
    body = openai_chunk("ok") + openai_chunk(finish="stop")[:-1]
    with pytest.raises(StreamInterrupted):
        await stream_text(openai_on, body)


async def test_invalid_json_event_is_invalid_response() -> None:
    """A data event that is not JSON is InvalidResponse, never skipped."""
    with pytest.raises(InvalidResponse):
        await stream_text(
            openai_on, openai_chunk("a") + b"data: {oops\n\n" + openai_chunk(finish="stop")
        )


async def test_comments_and_unknown_events_are_ignored() -> None:
    """SSE comments and unknown event types change nothing."""
    body = (
        b": hello\n\n"
        + b'event: vendor\ndata: {"type": "vendor"}\n\n'
        + openai_chunk("ok")
        + b": still here\n\n"
        + openai_chunk(finish="stop")
    )
    chunks = await stream_text(openai_on, body, split=3)
    assert "".join(c.delta for c in chunks) == "ok"


async def test_anthropic_message_stop_completes_and_reads_usage() -> None:
    """message_delta's stop reason and usage, then message_stop, complete an Anthropic stream."""
    body = (
        b'event: message_start\ndata: {"type": "message_start", "message": {"model": "c-9", '
        b'"usage": {"input_tokens": 10, "cache_read_input_tokens": 2, "output_tokens": 1}}}\n\n'
        b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, '
        b'"delta": {"type": "text_delta", "text": "Hi \xc3\xa9"}}\n\n'
        b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, '
        b'"delta": {"type": "thinking_delta", "thinking": "hmm"}}\n\n'
        b'event: message_delta\ndata: {"type": "message_delta", "delta": '
        b'{"stop_reason": "max_tokens"}, "usage": {"output_tokens": 7}}\n\n'
        b'event: message_stop\ndata: {"type": "message_stop"}\n\n'
    )
    chunks = await stream_text(anthropic_on, body, split=5)
    assert "".join(c.delta for c in chunks) == "Hi é"
    last = chunks[-1]
    assert (last.finish_reason, last.model, last.usage) == (
        "length",
        "c-9",
        Usage(12, 7, 19, cached_input_tokens=2),
    )


async def test_anthropic_body_without_stop_is_interrupted() -> None:
    """An Anthropic stream that ends after text without message_delta/stop: StreamInterrupted."""
    body = (
        b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, '
        b'"delta": {"type": "text_delta", "text": "Hi"}}\n\n'
    )
    with pytest.raises(StreamInterrupted) as info:
        await stream_text(anthropic_on, body)
    assert info.value.partial == "Hi"


async def test_closing_the_iterator_closes_the_response() -> None:
    """aclose() on an abandoned stream closes the HTTP response at once."""
    closed: list[bool] = []
    body = openai_chunk("a") + openai_chunk("b") + openai_chunk(finish="stop")
    async with sse_client(body, closed=closed) as client:
        chunks = openai_on(client).stream(REQUEST)
        assert (await anext(chunks)).delta == "a"
        assert closed == []
        await chunks.aclose()  # type: ignore[attr-defined]
        assert closed == [True]


ANTHROPIC_HI = (
    b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, '
    b'"delta": {"type": "text_delta", "text": "Hi"}}\n\n'
    b'event: message_stop\ndata: {"type": "message_stop"}\n\n'
)


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
async def test_finished_stream_leaves_its_connection_to_the_next(wire: Wire) -> None:
    """After the terminator the body is read to its end: the next stream reuses the connection."""
    if wire == "openai":
        body = openai_chunk("Hi") + openai_chunk(finish="stop") + b"data: [DONE]\n\n"
    else:
        body = ANTHROPIC_HI
    answer = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
    answer += b"transfer-encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    accepted: list[int] = []
    hung_up = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:  # keep-alive: one answer per request until the client hangs up
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                writer.write(answer)
                await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        hung_up.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    root = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        async with httpx2.AsyncClient() as client:
            provider: HttpProvider
            if wire == "openai":
                provider = OpenAIProvider("m", base_url=root + "/v1", client=client)
            else:
                provider = AnthropicProvider("c", base_url=root, client=client)
            for _ in range(3):
                chunks = await collect(provider)
                assert "".join(c.delta for c in chunks) == "Hi"
                assert chunks[-1].finish_reason == "stop"
        await hung_up.wait()
    assert len(accepted) == 1


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
async def test_a_body_left_open_after_the_terminator_waits_only_the_drain_timeout(
    wire: Wire,
) -> None:
    """A server that sends the terminator and keeps the body open delays the last chunk by
    at most ``HttpLimits.drain_timeout``, not by the idle limit."""
    if wire == "openai":
        body = openai_chunk("Hi") + openai_chunk(finish="stop") + b"data: [DONE]\n\n"
    else:
        body = ANTHROPIC_HI
    answer = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
    answer += b"transfer-encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (len(body), body)
    release = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: *(\d+)", head)
            await reader.readexactly(int(length.group(1)) if length else 0)
            writer.write(answer)  # no closing 0-length chunk: the body stays open
            await writer.drain()
            await release.wait()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    root = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    limits = HttpLimits(drain_timeout=0.05)
    async with server:
        provider: HttpProvider
        if wire == "openai":
            provider = OpenAIProvider("m", base_url=root + "/v1", idle_timeout=30.0, limits=limits)
        else:
            provider = AnthropicProvider("c", base_url=root, idle_timeout=30.0, limits=limits)
        async with provider:
            started = time.monotonic()
            chunks = await asyncio.wait_for(collect(provider), timeout=10.0)
            elapsed = time.monotonic() - started
        release.set()
    assert "".join(c.delta for c in chunks) == "Hi"
    assert chunks[-1].finish_reason == "stop"
    assert elapsed < 5.0  # the idle limit (30 s) never comes into it


def test_drain_timeout_is_checked() -> None:
    """``HttpLimits.drain_timeout`` takes 0 (close at once) and refuses negative or NaN."""
    assert HttpLimits(drain_timeout=0).drain_timeout == 0
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="drain_timeout"):
            HttpLimits(drain_timeout=bad)
