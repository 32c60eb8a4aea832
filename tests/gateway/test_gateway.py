"""The gateway driven by the real openai and anthropic SDKs against fake upstreams."""

from __future__ import annotations

import anthropic
import httpx2
import openai
import pytest

from conftest import Serve, fallback_stack, upstream_provider
from vex_llm import RetryConfig, stack
from vex_llm.testing import FakeLLMServer, Fault


def _openai(url: str, key: str = "unused") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


def _anthropic(url: str, key: str = "unused") -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url, api_key=key, max_retries=0)


async def test_openai_chat_completion_answers(serve: Serve, upstream: FakeLLMServer) -> None:
    """A chat completion through the gateway comes back in OpenAI form with the vex headers."""
    async with serve({"smart": upstream_provider(upstream, "fake-gpt")}) as url:
        client = _openai(url)
        raw = await client.chat.completions.with_raw_response.create(
            model="smart", messages=[{"role": "user", "content": "hello"}]
        )
        answer = raw.parse()
        await client.close()
    assert answer.choices[0].message.content
    assert raw.headers["x-vex-model"] == "fake-gpt"
    assert raw.headers["x-vex-provider"]


async def test_openai_stream_ends_with_done(serve: Serve, upstream: FakeLLMServer) -> None:
    """A streamed chat completion arrives whole through the SDK."""
    async with serve({"smart": upstream_provider(upstream, "fake-gpt")}) as url:
        client = _openai(url)
        stream = await client.chat.completions.create(
            model="smart", messages=[{"role": "user", "content": "hello"}], stream=True
        )
        text = "".join(
            [event.choices[0].delta.content or "" async for event in stream if event.choices]
        )
        await client.close()
    assert text


async def test_anthropic_messages_over_an_openai_upstream(
    serve: Serve, upstream: FakeLLMServer
) -> None:
    """/v1/messages answers in Anthropic form from an OpenAI-wire upstream, streamed and not."""
    async with serve({"claude-ish": upstream_provider(upstream, "fake-gpt")}) as url:
        client = _anthropic(url)
        message = await client.messages.create(
            model="claude-ish", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )
        async with client.messages.stream(
            model="claude-ish", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            streamed = await stream.get_final_text()
        await client.close()
    assert message.content[0].type == "text"
    assert message.content[0].text
    assert streamed


async def test_fallback_answers_when_the_primary_is_down(
    serve: Serve, upstream: FakeLLMServer
) -> None:
    """A 503 from the primary is answered by the backup, streamed and not."""
    upstream.inject(Fault.error(503), model="primary-gpt")
    async with serve({"smart": fallback_stack(upstream)}) as url:
        client = _openai(url)
        raw = await client.chat.completions.with_raw_response.create(
            model="smart", messages=[{"role": "user", "content": "hello"}]
        )
        stream = await client.chat.completions.create(
            model="smart", messages=[{"role": "user", "content": "hello"}], stream=True
        )
        text = "".join(
            [event.choices[0].delta.content or "" async for event in stream if event.choices]
        )
        await client.close()
    assert raw.headers["x-vex-model"] == "backup-gpt"
    assert raw.headers["x-vex-provider"] == "backup-gpt"
    assert text


async def test_every_candidate_down_is_a_503_with_retry_after(
    serve: Serve, upstream: FakeLLMServer
) -> None:
    """With both upstreams unavailable the client gets 503 and Retry-After, streamed too."""
    upstream.inject(Fault.error(503))
    async with serve({"smart": fallback_stack(upstream)}) as url:
        client = _openai(url)
        with pytest.raises(openai.InternalServerError) as caught:
            await client.chat.completions.create(
                model="smart", messages=[{"role": "user", "content": "hello"}]
            )
        with pytest.raises(openai.InternalServerError) as streamed:
            await client.chat.completions.create(
                model="smart", messages=[{"role": "user", "content": "hello"}], stream=True
            )
        await client.close()
    assert caught.value.status_code == 503
    assert caught.value.response.headers["retry-after"]
    assert streamed.value.status_code == 503


async def test_upstream_rate_limit_is_a_429(serve: Serve, upstream: FakeLLMServer) -> None:
    """An upstream 429 reaches the client as 429 with Retry-After (Anthropic-shaped too)."""
    upstream.inject(Fault.rate_limited(retry_after=7))
    async with serve({"smart": upstream_provider(upstream, "fake-gpt")}) as url:
        client = _anthropic(url)
        with pytest.raises(anthropic.RateLimitError) as caught:
            await client.messages.create(
                model="smart", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
            )
        await client.close()
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]


async def test_unknown_model_and_bad_request(serve: Serve, upstream: FakeLLMServer) -> None:
    """An unknown model is a 404 and a malformed request a 400 naming the field."""
    async with serve({"smart": upstream_provider(upstream, "fake-gpt")}) as url:
        client = _openai(url)
        with pytest.raises(openai.NotFoundError):
            await client.chat.completions.create(
                model="nope", messages=[{"role": "user", "content": "hello"}]
            )
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(model="smart", messages="hello")  # type: ignore[arg-type]
        await client.close()
    assert "messages" in str(caught.value)


async def test_upstream_auth_failure_is_a_502(serve: Serve, upstream: FakeLLMServer) -> None:
    """An upstream refusing the gateway's provider key is a 502, never a 401."""
    upstream.inject(Fault.error(401))
    async with serve({"smart": upstream_provider(upstream, "fake-gpt")}) as url:
        client = _openai(url)
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(
                model="smart", messages=[{"role": "user", "content": "hello"}]
            )
        await client.close()
    assert caught.value.status_code == 502


async def test_a_cut_stream_ends_with_an_error_event(serve: Serve, upstream: FakeLLMServer) -> None:
    """A stream cut after the first chunk ends in an SSE error object and no [DONE]."""
    upstream.inject(Fault.cut(after_chunks=1))
    async with serve({"smart": upstream_provider(upstream, "fake-gpt")}) as url:
        body = {"model": "smart", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
        async with httpx2.AsyncClient() as http:
            response = await http.post(f"{url}/v1/chat/completions", json=body)
        client = _openai(url)
        stream = await client.chat.completions.create(
            model="smart", messages=[{"role": "user", "content": "hello"}], stream=True
        )
        with pytest.raises(openai.APIError):
            async for _ in stream:
                pass
        await client.close()
    assert response.status_code == 200
    assert '"error"' in response.text.rsplit("data:", 1)[-1]
    assert "[DONE]" not in response.text


async def test_a_cut_anthropic_stream_ends_with_an_error_event(
    serve: Serve, upstream: FakeLLMServer
) -> None:
    """On /v1/messages the break is an ``event: error``."""
    upstream.inject(Fault.cut(after_chunks=1))
    async with serve({"smart": upstream_provider(upstream, "fake-gpt")}) as url:
        body = {
            "model": "smart",
            "max_tokens": 20,
            "stream": True,
            "messages": [{"role": "user", "content": "hi"}],
        }
        async with httpx2.AsyncClient() as http:
            response = await http.post(f"{url}/v1/messages", json=body)
    assert response.status_code == 200
    assert "event: error" in response.text
    assert "message_stop" not in response.text


async def test_gateway_keys(serve: Serve, upstream: FakeLLMServer) -> None:
    """With keys set, a wrong key is a 401 and the right one works as Bearer or x-api-key."""
    async with serve({"smart": upstream_provider(upstream, "fake-gpt")}, keys=["s3cret"]) as url:
        wrong = _openai(url, "wrong")
        with pytest.raises(openai.AuthenticationError):
            await wrong.chat.completions.create(
                model="smart", messages=[{"role": "user", "content": "hello"}]
            )
        right = _openai(url, "s3cret")
        answer = await right.chat.completions.create(
            model="smart", messages=[{"role": "user", "content": "hello"}]
        )
        claude = _anthropic(url, "s3cret")
        message = await claude.messages.create(
            model="smart", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
        )
        for client in (wrong, right, claude):
            await client.close()
    assert answer.choices[0].message.content
    assert message.content


async def test_body_limit_models_and_health(serve: Serve, upstream: FakeLLMServer) -> None:
    """A body over the limit is a 413; /v1/models, /healthz, /readyz and /v1/circuits answer."""
    models = {"smart": fallback_stack(upstream)}
    async with serve(models, max_body_bytes=200) as url, httpx2.AsyncClient() as http:
        big = {"model": "smart", "messages": [{"role": "user", "content": "x" * 500}]}
        too_big = await http.post(f"{url}/v1/chat/completions", json=big)
        listed = (await http.get(f"{url}/v1/models")).json()
        health = await http.get(f"{url}/healthz")
        ready = await http.get(f"{url}/readyz")
        circuits = (await http.get(f"{url}/v1/circuits")).json()
    assert too_big.status_code == 413
    assert [entry["id"] for entry in listed["data"]] == ["smart"]
    assert health.status_code == ready.status_code == 200
    assert {row["circuit"] for row in circuits["circuits"]} == {"primary-gpt", "backup-gpt"}
    assert {row["state"] for row in circuits["circuits"]} == {"closed"}


async def test_refused_request_and_spent_deadline(serve: Serve, upstream: FakeLLMServer) -> None:
    """The upstream's 400 passes through; a silent upstream past the deadline is a 504."""
    upstream.inject(Fault.error(400), model="picky-gpt")
    upstream.inject(Fault.hang(), model="silent-gpt")
    silent = stack(
        [upstream_provider(upstream, "silent-gpt")], retry=RetryConfig(attempts=1), deadline=0.2
    )
    models = {"picky": upstream_provider(upstream, "picky-gpt"), "silent": silent}
    async with serve(models) as url:
        client = _openai(url)
        with pytest.raises(openai.BadRequestError):
            await client.chat.completions.create(
                model="picky", messages=[{"role": "user", "content": "hello"}]
            )
        with pytest.raises(openai.APIStatusError) as caught:
            await client.chat.completions.create(
                model="silent", messages=[{"role": "user", "content": "hello"}]
            )
        await client.close()
    assert caught.value.status_code == 504


async def test_over_capacity_is_a_fast_503(serve: Serve, upstream: FakeLLMServer) -> None:
    """With the one slot held by an open stream, the next request gets 503 and Retry-After."""
    upstream.inject(Fault.stall(after_chunks=1))
    body = {"model": "smart", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    async with (
        serve({"smart": upstream_provider(upstream, "fake-gpt")}, max_concurrent=1) as url,
        httpx2.AsyncClient() as http,
    ):
        async with http.stream("POST", f"{url}/v1/chat/completions", json=body) as held:
            busy = await http.post(f"{url}/v1/chat/completions", json=body)
        assert held.status_code == 200
    assert busy.status_code == 503
    assert busy.headers["retry-after"] == "1"
