"""AsyncResilientTransport under the real openai SDK, over loopback against FakeLLMServer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx2
import openai
import pytest
from _transport_kit import Recording
from openai.types.chat import ChatCompletionChunk

import vex_llm
from vex_llm import CircuitConfig, CircuitState, RedisStore, RetryConfig, TimeoutConfig
from vex_llm.testing import FakeLLMServer, Fault
from vex_llm.transport import AsyncResilientTransport, Upstream

pytestmark = pytest.mark.fake_server

HI = [{"role": "user", "content": "hi"}]
MODEL = "fake-1"
SHORT = 0.3  # seconds: the first-token / idle limits in these tests


def client_for(
    server: FakeLLMServer, transport: AsyncResilientTransport, **options: object
) -> openai.AsyncOpenAI:
    """An SDK client whose HTTP goes through ``transport`` (SDK retries left at default)."""
    http = httpx2.AsyncClient(transport=transport)
    return openai.AsyncOpenAI(
        base_url=server.base_url,
        api_key="sk-primary",
        http_client=http,
        **options,  # type: ignore[arg-type]  # test-only pass-through of SDK options
    )


async def ask(client: openai.AsyncOpenAI) -> str | None:
    """One non-streamed question; the answer's text."""
    done = await client.chat.completions.create(model=MODEL, messages=HI)  # type: ignore[arg-type]
    return done.choices[0].message.content


async def drain(stream: AsyncIterator[ChatCompletionChunk], seen: list[str]) -> None:
    """Read a stream to its end, keeping the text seen."""
    async for chunk in stream:
        if chunk.choices:
            seen.append(chunk.choices[0].delta.content or "")


async def test_answers_and_marks_who_answered(server: FakeLLMServer) -> None:
    """A call answers as without the transport, with x-vex-upstream and x-vex-attempts."""
    async with client_for(server, AsyncResilientTransport()) as client:
        raw = await client.chat.completions.with_raw_response.create(model=MODEL, messages=HI)  # type: ignore[arg-type]
        assert raw.parse().choices[0].message.content == "You said: hi"
        assert raw.headers["x-vex-upstream"] == server.base_url
        assert raw.headers["x-vex-attempts"] == "1"


async def test_streams_pass_through_whole(server: FakeLLMServer) -> None:
    """A streamed answer reaches the SDK chunk by chunk, complete, with its usage."""
    async with client_for(server, AsyncResilientTransport()) as client:
        stream = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "one two three"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "You said: one two three"
        assert chunks[-1].usage is not None


async def test_a_noisy_stream_split_at_odd_bytes_passes_whole(server: FakeLLMServer) -> None:
    """Comments, unknown events, CRLF and odd splits pass through byte for byte, and the end
    marker is still found (the openai SDK itself cannot parse this body: raw httpx2 reads it)."""
    server.inject(Fault.noisy_sse())
    payload = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "a b"}]}
    url = server.base_url + "/chat/completions"
    async with (
        httpx2.AsyncClient(transport=AsyncResilientTransport()) as http,
        http.stream("POST", url, json=payload) as r,
    ):
        body = b"".join([piece async for piece in r.aiter_bytes()])
    assert b'"a "' in body
    assert b'"b"' in body
    assert body.rstrip().endswith(b"[DONE]")
    assert r.headers["x-vex-attempts"] == "1"


async def test_retries_are_the_transports_alone(server: FakeLLMServer) -> None:
    """Two 503s then an answer: exactly 3 upstream requests, whatever the SDK's max_retries."""
    server.inject(Fault.error(503), times=2)
    async with client_for(server, AsyncResilientTransport(), max_retries=5) as client:
        raw = await client.chat.completions.with_raw_response.create(model=MODEL, messages=HI)  # type: ignore[arg-type]
        assert raw.parse().choices[0].message.content == "You said: hi"
        assert raw.headers["x-vex-attempts"] == "3"
        assert len(server.journal) == 3


async def test_no_double_retries_when_every_attempt_fails(server: FakeLLMServer) -> None:
    """Always 503: the transport's 3 attempts, then the SDK raises without retrying (not 9)."""
    server.inject(Fault.error(503))
    async with client_for(server, AsyncResilientTransport()) as client:
        with pytest.raises(openai.InternalServerError) as caught:
            await ask(client)
        assert caught.value.status_code == 503
        assert caught.value.response.headers["x-should-retry"] == "false"
        assert caught.value.response.headers["x-vex-attempts"] == "3"
        assert len(server.journal) == 3


async def test_open_circuit_rejects_without_touching_the_upstream(server: FakeLLMServer) -> None:
    """Once the circuit opens, calls get a 503 circuit_open at once; the server sees none."""
    server.inject(Fault.error(503))
    transport = AsyncResilientTransport(
        circuit=CircuitConfig(failure_threshold=2, reset_timeout=30.0),
        retry=RetryConfig(attempts=1),
    )
    async with client_for(server, transport) as client:
        for _ in range(2):
            with pytest.raises(openai.InternalServerError):
                await ask(client)
        assert len(server.journal) == 2
        with pytest.raises(openai.InternalServerError) as caught:
            await ask(client)
        assert len(server.journal) == 2
        response = caught.value.response
        assert response.status_code == 503
        assert response.headers["x-vex-reason"] == "circuit_open"
        assert response.headers["x-vex-attempts"] == "0"
        assert 1 <= int(response.headers["retry-after"]) <= 30
        assert "circuit_open" in caught.value.message
        assert isinstance(caught.value.body, dict)
        assert caught.value.body["type"] == "vex_llm_error"
        assert caught.value.body["code"] == "circuit_open"
        circuit = transport.circuits[f"{server.base_url} {MODEL}"]
        assert circuit.circuit_state is CircuitState.OPEN


async def test_falls_back_to_a_second_base_url_with_its_key_and_model(
    server: FakeLLMServer,
) -> None:
    """The primary fails: the call goes to the upstream with its own key and model."""
    server.inject(Fault.error(503))
    inner = Recording()
    async with FakeLLMServer(seed=0) as backup:
        transport = AsyncResilientTransport(
            [Upstream(backup.base_url, api_key="sk-backup", model="backup-model")],
            retry=RetryConfig(attempts=1),
            transport=inner,
        )
        async with client_for(server, transport) as client:
            raw = await client.chat.completions.with_raw_response.create(model=MODEL, messages=HI)  # type: ignore[arg-type]
            assert raw.parse().choices[0].message.content == "You said: hi"
            assert raw.headers["x-vex-upstream"] == backup.base_url
            assert raw.headers["x-vex-attempts"] == "2"
            assert [entry.model for entry in backup.journal] == ["backup-model"]
        first, second = inner.sent
        assert first.headers["authorization"] == "Bearer sk-primary"
        assert second.headers["authorization"] == "Bearer sk-backup"
        assert second.url == httpx2.URL(backup.base_url + "/chat/completions")
        assert first.headers["x-stainless-retry-count"] == second.headers["x-stainless-retry-count"]


async def test_a_silent_upstream_is_cut_at_the_first_token_limit(server: FakeLLMServer) -> None:
    """A stream whose first token never comes is cut at first_token_timeout: 504, 1 try."""
    server.inject(Fault.slow_first_token(30.0))
    transport = AsyncResilientTransport(timeouts=TimeoutConfig(first_token_timeout=SHORT))
    async with client_for(server, transport) as client:
        with pytest.raises(openai.InternalServerError) as caught:
            await client.chat.completions.create(model=MODEL, messages=HI, stream=True)  # type: ignore[arg-type]
        response = caught.value.response
        assert response.status_code == 504
        assert response.headers["x-vex-reason"] == "timeout"
        assert "first token" in caught.value.message
        assert len(server.journal) == 1


async def test_a_silent_stream_falls_back_before_the_sdk_sees_it(server: FakeLLMServer) -> None:
    """The primary sends its headers and a role-only event, then nothing: at the first-token
    limit the stream goes to the backup, and the SDK reads the backup's answer whole."""
    server.inject(Fault.slow_first_token(30.0))
    async with FakeLLMServer(seed=0) as backup:
        transport = AsyncResilientTransport(
            [Upstream(backup.base_url)], timeouts=TimeoutConfig(first_token_timeout=SHORT)
        )
        async with client_for(server, transport) as client:
            raw = await client.chat.completions.with_raw_response.create(
                model=MODEL,
                messages=[{"role": "user", "content": "one two"}],
                stream=True,  # type: ignore[arg-type]
            )
            seen: list[str] = []
            await drain(raw.parse(), seen)
        assert raw.headers["x-vex-upstream"] == backup.base_url
        assert raw.headers["x-vex-attempts"] == "2"
    assert "".join(seen) == "You said: one two"


async def test_a_stalled_stream_raises_the_sdks_timeout_error(server: FakeLLMServer) -> None:
    """A stream that stalls after it started raises APITimeoutError naming the idle limit."""
    server.inject(Fault.stall(after_chunks=2))
    transport = AsyncResilientTransport(timeouts=TimeoutConfig(idle_timeout=SHORT))
    async with client_for(server, transport) as client:
        stream = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "a b c d e"}],
            stream=True,  # type: ignore[arg-type]
        )
        seen: list[str] = []
        with pytest.raises(openai.APITimeoutError) as caught:
            await drain(stream, seen)
        assert "".join(seen).startswith("You said:")
        cause = caught.value.__cause__
        assert isinstance(cause, httpx2.ReadTimeout)
        assert "vex_llm: timeout" in str(cause)
        assert "idle" in str(cause)


async def test_a_cut_stream_raises_the_sdks_connection_error(server: FakeLLMServer) -> None:
    """A body that ends without its finish marker raises APIConnectionError, not a success."""
    server.inject(Fault.cut(after_chunks=2))
    async with client_for(server, AsyncResilientTransport()) as client:
        stream = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "a b c d e"}],
            stream=True,  # type: ignore[arg-type]
        )
        with pytest.raises(openai.APIConnectionError) as caught:
            await drain(stream, [])
        assert "stream_cut" in str(caught.value.__cause__)


async def test_a_long_retry_after_is_handed_to_the_caller(server: FakeLLMServer) -> None:
    """A 429 asking for longer than max_retry_after is not waited out or retried by anyone:
    the SDK raises RateLimitError with the upstream's Retry-After after one request."""
    server.inject(Fault.rate_limited(retry_after=120))
    async with client_for(server, AsyncResilientTransport()) as client:
        with pytest.raises(openai.RateLimitError) as caught:
            await ask(client)
        assert caught.value.response.headers["retry-after"] == "120"
        assert caught.value.response.headers["x-should-retry"] == "false"
        assert len(server.journal) == 1


async def test_a_short_retry_after_is_waited_out_by_the_transport(server: FakeLLMServer) -> None:
    """A 429 with Retry-After: 2 is waited out (through the injected sleep), then answered."""
    server.inject(Fault.rate_limited(retry_after=2), times=1)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if seconds >= 10:  # a timeout's watchdog: let it run (it is cancelled when done)
            await asyncio.sleep(seconds)

    async with client_for(server, AsyncResilientTransport(sleep=sleep)) as client:
        assert await ask(client) == "You said: hi"
        assert len(server.journal) == 2
        assert 2.0 in waits


async def test_the_callers_deadline_bounds_the_call(server: FakeLLMServer) -> None:
    """vex_llm.deadline() around the SDK call: a hanging upstream gives a 504 at the deadline."""
    server.inject(Fault.hang())
    async with client_for(server, AsyncResilientTransport()) as client:
        with pytest.raises(openai.InternalServerError) as caught:
            async with vex_llm.deadline(SHORT):
                await ask(client)
        response = caught.value.response
        assert response.status_code == 504
        assert response.headers["x-vex-reason"] == "deadline_exceeded"
        assert response.headers["x-should-retry"] == "false"
        assert len(server.journal) == 1


async def test_a_spent_deadline_sends_nothing(server: FakeLLMServer) -> None:
    """A deadline already spent: 504 deadline_exceeded and no request upstream."""
    async with client_for(server, AsyncResilientTransport()) as client:
        with pytest.raises(openai.InternalServerError) as caught:
            async with vex_llm.deadline(0.0):
                await ask(client)
        assert caught.value.response.headers["x-vex-reason"] == "deadline_exceeded"
        assert server.journal == []


async def test_other_requests_pass_through_untouched(server: FakeLLMServer) -> None:
    """A request that is not an LLM call (the models list) goes through as it is."""
    inner = Recording()
    async with client_for(server, AsyncResilientTransport(transport=inner)) as client:
        with pytest.raises(openai.APIStatusError) as caught:
            await client.models.list()
        assert "x-vex-upstream" not in caught.value.response.headers
        assert [r.url.path for r in inner.sent] == ["/v1/models"]


@pytest.mark.redis
async def test_circuits_are_shared_through_redis(server: FakeLLMServer, redis_url: str) -> None:
    """Two transports (two processes' worth) over one Redis: a circuit one of them opened
    rejects the other's calls without touching the upstream."""
    server.inject(Fault.error(503))
    settings = {"circuit": CircuitConfig(failure_threshold=2), "retry": RetryConfig(attempts=1)}
    prefix = f"vex-test-{uuid.uuid4().hex}"
    stores = [RedisStore(redis_url, prefix=prefix) for _ in range(2)]
    first = AsyncResilientTransport(store=stores[0], **settings)  # type: ignore[arg-type]
    second = AsyncResilientTransport(store=stores[1], **settings)  # type: ignore[arg-type]
    try:
        async with client_for(server, first) as one, client_for(server, second) as other:
            for _ in range(2):
                with pytest.raises(openai.InternalServerError):
                    await ask(one)
            with pytest.raises(openai.InternalServerError) as caught:
                await ask(other)
    finally:
        for store in stores:
            await store.aclose()
    assert caught.value.response.headers["x-vex-reason"] == "circuit_open"
    assert len(server.journal) == 2
