"""AsyncResilientTransport under the real anthropic SDK, over loopback against FakeLLMServer."""

from __future__ import annotations

import anthropic
import httpx2
import pytest
from _transport_kit import Recording

from vex_llm import CircuitConfig, RetryConfig, TimeoutConfig
from vex_llm.testing import FakeLLMServer, Fault
from vex_llm.transport import AsyncResilientTransport, Upstream

pytestmark = pytest.mark.fake_server

HI = [{"role": "user", "content": "hello there"}]
MODEL = "claude-fake"


def client_for(
    server: FakeLLMServer, transport: AsyncResilientTransport
) -> anthropic.AsyncAnthropic:
    """An SDK client whose HTTP goes through ``transport`` (SDK retries left at default)."""
    return anthropic.AsyncAnthropic(
        base_url=server.anthropic_base_url,
        api_key="sk-ant-primary",
        http_client=httpx2.AsyncClient(transport=transport),
    )


async def test_overloaded_is_retried_by_the_transport_alone(server: FakeLLMServer) -> None:
    """Two 529 overloaded answers, then text: exactly 3 upstream requests."""
    server.inject(Fault.overloaded(), times=2)
    async with client_for(server, AsyncResilientTransport()) as client:
        raw = await client.messages.with_raw_response.create(
            model=MODEL,
            max_tokens=50,
            messages=HI,  # type: ignore[arg-type]
        )
        message = await raw.parse()
        assert message.content[0].text == "You said: hello there"  # type: ignore[union-attr]
        assert raw.headers["x-vex-attempts"] == "3"
    assert len(server.journal) == 3


async def test_an_overloaded_error_event_before_any_text_is_retried(server: FakeLLMServer) -> None:
    """An overloaded_error event inside a 200 stream, before any text, is retried like a 529:
    the SDK reads the third attempt's answer whole."""
    server.inject(Fault.stream_error("overloaded_error"), times=2)
    async with client_for(server, AsyncResilientTransport()) as client:
        assert await read_all(client) == "You said: hello there"
    assert len(server.journal) == 3


async def test_overloaded_error_events_to_the_end_answer_503(server: FakeLLMServer) -> None:
    """Every attempt's stream says overloaded_error: the SDK gets a 503 naming it."""
    server.inject(Fault.stream_error("overloaded_error"))
    transport = AsyncResilientTransport(retry=RetryConfig(attempts=2))
    async with client_for(server, transport) as client:
        with pytest.raises(anthropic.InternalServerError) as caught:
            await read_all(client)
    assert caught.value.status_code == 503
    assert caught.value.response.headers["x-vex-reason"] == "overloaded_error"
    assert len(server.journal) == 2


async def test_a_stream_reads_whole_through_the_sdk_helper(server: FakeLLMServer) -> None:
    """messages.stream() through the transport gives the whole text and its stop reason."""
    async with client_for(server, AsyncResilientTransport()) as client:
        text = await read_all(client)
        async with client.messages.stream(model=MODEL, max_tokens=50, messages=HI) as stream:  # type: ignore[arg-type]
            final = await stream.get_final_message()
    assert text == "You said: hello there"
    assert final.stop_reason == "end_turn"


async def test_open_circuit_answers_an_anthropic_shaped_503(server: FakeLLMServer) -> None:
    """The rejection reaches the SDK as its InternalServerError with an Anthropic error body."""
    server.inject(Fault.overloaded())
    transport = AsyncResilientTransport(
        circuit=CircuitConfig(failure_threshold=1), retry=RetryConfig(attempts=1)
    )
    async with client_for(server, transport) as client:
        with pytest.raises(anthropic.InternalServerError):
            await client.messages.create(model=MODEL, max_tokens=50, messages=HI)  # type: ignore[arg-type]
        with pytest.raises(anthropic.InternalServerError) as caught:
            await client.messages.create(model=MODEL, max_tokens=50, messages=HI)  # type: ignore[arg-type]
    assert len(server.journal) == 1
    assert caught.value.response.headers["x-vex-reason"] == "circuit_open"
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert body["error"]["type"] == "circuit_open"


async def test_falls_back_with_the_upstreams_key(server: FakeLLMServer) -> None:
    """An Anthropic upstream gets its own key (the SDK sends it as a bearer token) and model."""
    server.inject(Fault.overloaded())
    inner = Recording()
    async with FakeLLMServer(seed=0) as backup:
        transport = AsyncResilientTransport(
            [Upstream(backup.anthropic_base_url, api_key="sk-ant-backup", model="claude-backup")],
            retry=RetryConfig(attempts=1),
            transport=inner,
        )
        async with client_for(server, transport) as client:
            message = await client.messages.create(model=MODEL, max_tokens=50, messages=HI)  # type: ignore[arg-type]
        assert message.content[0].text == "You said: hello there"  # type: ignore[union-attr]
        assert [entry.model for entry in backup.journal] == ["claude-backup"]
        keys = [r.headers["authorization"] for r in inner.sent]
        assert keys == ["Bearer sk-ant-primary", "Bearer sk-ant-backup"]
        assert inner.sent[1].url == httpx2.URL(backup.anthropic_base_url + "/v1/messages")


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Fault.stall(after_chunks=2), "no idle within 0.3s"),
        (Fault.cut(after_chunks=2), "stream_cut"),
    ],
    ids=["stall", "cut"],
)
async def test_a_broken_stream_raises_the_sdks_api_error(
    server: FakeLLMServer, fault: Fault, reason: str
) -> None:
    """A stalled or cut Anthropic stream raises the SDK's APIStatusError (an APIError)
    naming the reason, never a truncated success or an untyped httpx2 error."""
    server.inject(fault)
    transport = AsyncResilientTransport(timeouts=TimeoutConfig(idle_timeout=0.3))
    async with client_for(server, transport) as client:
        with pytest.raises(anthropic.APIStatusError) as caught:
            await read_all(client)
    assert "vex_llm" in caught.value.message
    assert reason in caught.value.message


async def read_all(client: anthropic.AsyncAnthropic) -> str:
    """The whole text of one streamed answer."""
    async with client.messages.stream(model=MODEL, max_tokens=50, messages=HI) as stream:  # type: ignore[arg-type]
        return "".join([piece async for piece in stream.text_stream])
