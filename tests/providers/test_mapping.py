"""Every row of the error mapping, for both providers, streamed and not, over real sockets."""

from __future__ import annotations

import email.utils
import time

import pytest
from _provider_kit import Wire, make_provider

from vex_llm import (
    AuthenticationFailed,
    ConnectionFailed,
    ContextLengthExceeded,
    InvalidRequest,
    InvalidResponse,
    LlmError,
    LlmRequest,
    NotAvailable,
    RateLimited,
    ServerError,
    StreamInterrupted,
    Timeout,
)
from vex_llm.providers._base import HttpProvider
from vex_llm.testing import FakeLLMServer, Fault

pytestmark = pytest.mark.fake_server

REQUEST = LlmRequest.from_prompt("one two three four five")


async def call(provider: HttpProvider, streamed: bool) -> str:
    """Run the request one way or the other and return the text."""
    if streamed:
        return "".join([chunk.delta async for chunk in provider.stream(REQUEST)])
    return (await provider.complete(REQUEST)).content


async def failure(provider: HttpProvider, streamed: bool) -> LlmError:
    """Run the request and return the LlmError it raised."""
    with pytest.raises(LlmError) as info:
        await call(provider, streamed)
    return info.value


streamed = pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])


@streamed
@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, InvalidRequest),
        (404, InvalidRequest),
        (413, InvalidRequest),
        (422, InvalidRequest),
        (401, AuthenticationFailed),
        (403, AuthenticationFailed),
        (408, Timeout),
        (429, RateLimited),
        (500, ServerError),
        (502, ServerError),
        (504, ServerError),
        (503, NotAvailable),
        (529, NotAvailable),
    ],
)
async def test_status_maps_to_its_error(
    server: FakeLLMServer, provider: HttpProvider, status: int, kind: type[LlmError], streamed: bool
) -> None:
    """Each HTTP status becomes its error class, with provider, status, model and request id."""
    server.inject(Fault.error(status))
    error = await failure(provider, streamed)
    assert type(error) is kind
    assert error.status == status
    assert error.provider == provider.name
    assert error.model == provider.model
    assert error.request_id is not None
    assert error.request_id.startswith("req_")
    assert f"HTTP {status}" in str(error)


@streamed
async def test_context_length_is_recognised(
    server: FakeLLMServer, provider: HttpProvider, streamed: bool
) -> None:
    """A context-length 400 is ContextLengthExceeded, a subclass of InvalidRequest."""
    server.inject(Fault.context_length())
    error = await failure(provider, streamed)
    assert isinstance(error, ContextLengthExceeded)
    assert isinstance(error, InvalidRequest)
    assert not error.retryable


@streamed
async def test_other_400_is_not_context_length(
    server: FakeLLMServer, provider: HttpProvider, streamed: bool
) -> None:
    """A content-policy 400 stays a plain InvalidRequest carrying the provider's code."""
    server.inject(Fault.error(400, code="content_policy_violation", message="Flagged."))
    error = await failure(provider, streamed)
    assert type(error) is InvalidRequest
    assert error.code == "content_policy_violation"


@streamed
async def test_overloaded_is_not_available(
    server: FakeLLMServer, provider: HttpProvider, wire: Wire, streamed: bool
) -> None:
    """Overload (Anthropic 529 overloaded_error, OpenAI 503) is NotAvailable and retryable."""
    server.inject(Fault.overloaded())
    error = await failure(provider, streamed)
    assert type(error) is NotAvailable
    assert error.retryable
    assert error.status == (529 if wire == "anthropic" else 503)
    assert error.code == "overloaded_error"


@streamed
@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry_after": 7}, 7.0),
        ({"retry_after": 0.25}, 0.25),
        ({"retry_after_ms": 1500}, 1.5),
        ({"retry_after": 30, "retry_after_ms": 250}, 0.25),
        ({}, None),
        ({"retry_after": "soon"}, None),
    ],
)
async def test_rate_limit_carries_retry_after(
    server: FakeLLMServer,
    provider: HttpProvider,
    headers: dict[str, float | str],
    expected: float | None,
    streamed: bool,
) -> None:
    """429 is RateLimited; retry_after comes from retry-after-ms, else Retry-After."""
    server.inject(Fault.rate_limited(**headers))  # type: ignore[arg-type]
    error = await failure(provider, streamed)
    assert isinstance(error, RateLimited)
    assert error.retry_after == expected
    assert error.retryable


async def test_rate_limit_http_date(server: FakeLLMServer, provider: HttpProvider) -> None:
    """A Retry-After HTTP date becomes the seconds until that date."""
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    server.inject(Fault.rate_limited(retry_after=when))
    error = await failure(provider, False)
    assert isinstance(error, RateLimited)
    assert error.retry_after is not None
    assert 110 <= error.retry_after <= 121


async def test_spent_quota_is_not_retryable(server: FakeLLMServer, provider: HttpProvider) -> None:
    """A 429 insufficient_quota is RateLimited but not retryable: waiting will not help."""
    server.inject(Fault.error(429, code="insufficient_quota", message="You exceeded your quota."))
    error = await failure(provider, False)
    assert isinstance(error, RateLimited)
    assert not error.retryable


@streamed
async def test_missing_key_401_names_the_variable(
    server: FakeLLMServer, provider: HttpProvider, wire: Wire, streamed: bool
) -> None:
    """A 401 without a key says which environment variable to set."""
    server.inject(Fault.error(401))
    error = await failure(provider, streamed)
    assert isinstance(error, AuthenticationFailed)
    variable = "OPENAI_API_KEY" if wire == "openai" else "ANTHROPIC_API_KEY"
    assert f"set the {variable} environment variable" in str(error)


@streamed
async def test_refused_connection_is_connection_failed(wire: Wire, streamed: bool) -> None:
    """Nothing listening on the port any more: ConnectionFailed."""
    async with FakeLLMServer() as gone:
        provider = make_provider(wire, gone)
    async with provider:
        error = await failure(provider, streamed)
    assert isinstance(error, ConnectionFailed)
    assert error.retryable


@streamed
async def test_reset_before_answer_is_connection_failed(
    server: FakeLLMServer, provider: HttpProvider, streamed: bool
) -> None:
    """A TCP reset before any answer: ConnectionFailed."""
    server.inject(Fault.reset())
    error = await failure(provider, streamed)
    assert isinstance(error, ConnectionFailed)


async def test_plain_answer_cut_mid_body_is_connection_failed(
    server: FakeLLMServer, provider: HttpProvider
) -> None:
    """A non-streamed body cut short of its Content-Length: ConnectionFailed."""
    server.inject(Fault.cut())
    error = await failure(provider, False)
    assert isinstance(error, ConnectionFailed)


@streamed
async def test_malformed_json_is_invalid_response(
    server: FakeLLMServer, provider: HttpProvider, streamed: bool
) -> None:
    """A body or data event that is not JSON: InvalidResponse."""
    server.inject(Fault.malformed())
    error = await failure(provider, streamed)
    assert isinstance(error, InvalidResponse)


async def test_garbage_body_is_invalid_response(
    server: FakeLLMServer, provider: HttpProvider
) -> None:
    """An HTML page where JSON was due: InvalidResponse."""
    server.inject(Fault.garbage_sse())
    error = await failure(provider, False)
    assert isinstance(error, InvalidResponse)


async def test_garbage_stream_is_interrupted(server: FakeLLMServer, provider: HttpProvider) -> None:
    """An event stream with no events that just ends: StreamInterrupted, never success."""
    server.inject(Fault.garbage_sse())
    error = await failure(provider, True)
    assert isinstance(error, StreamInterrupted)
    assert error.partial == ""


async def test_cut_stream_is_interrupted_with_partial(
    server: FakeLLMServer, provider: HttpProvider
) -> None:
    """A stream that ends cleanly after two chunks without a finish: StreamInterrupted."""
    server.inject(Fault.cut(after_chunks=2))
    error = await failure(provider, True)
    assert isinstance(error, StreamInterrupted)
    assert error.partial == "You said: "
    assert error.retryable


async def test_reset_mid_stream_is_interrupted(
    server: FakeLLMServer, provider: HttpProvider
) -> None:
    """A TCP reset after some text: StreamInterrupted with the text so far."""
    server.inject(Fault.reset(after_chunks=3))
    error = await failure(provider, True)
    assert isinstance(error, StreamInterrupted)
    assert error.partial == "You said: one "


async def test_error_event_before_text_is_its_own_kind(
    server: FakeLLMServer, provider: HttpProvider
) -> None:
    """An overloaded error event before any text is NotAvailable, like the status would be."""
    server.inject(Fault.stream_error("overloaded_error", after_chunks=0))
    error = await failure(provider, True)
    assert type(error) is NotAvailable
    assert error.code == "overloaded_error"


async def test_error_event_after_text_is_interrupted(
    server: FakeLLMServer, provider: HttpProvider
) -> None:
    """An error event after some text is StreamInterrupted, keeping the partial text and code."""
    server.inject(Fault.stream_error("overloaded_error", after_chunks=2))
    error = await failure(provider, True)
    assert isinstance(error, StreamInterrupted)
    assert error.partial == "You said: "
    assert error.code == "overloaded_error"


async def test_stream_error_on_plain_call_is_the_status(
    server: FakeLLMServer, provider: HttpProvider
) -> None:
    """The same fault on a non-streamed call comes back as the error status."""
    server.inject(Fault.stream_error("api_error"))
    error = await failure(provider, False)
    assert type(error) is ServerError
    assert error.status == 500


async def test_hang_hits_total_timeout(server: FakeLLMServer, wire: Wire) -> None:
    """A server that never answers: Timeout with code total_timeout after `timeout`."""
    server.inject(Fault.hang())
    async with make_provider(wire, server, timeout=0.15) as provider:
        started = time.monotonic()
        error = await failure(provider, False)
    assert isinstance(error, Timeout)
    assert error.code == "total_timeout"
    assert time.monotonic() - started < 1.0


async def test_hang_hits_headers_timeout(server: FakeLLMServer, wire: Wire) -> None:
    """A stream whose headers never come: Timeout with code headers_timeout."""
    server.inject(Fault.hang())
    async with make_provider(wire, server, headers_timeout=0.1) as provider:
        error = await failure(provider, True)
    assert isinstance(error, Timeout)
    assert error.code == "headers_timeout"


async def test_slow_first_token_hits_ttft(server: FakeLLMServer, wire: Wire) -> None:
    """Headers at once but no text in time: Timeout with code ttft_timeout."""
    server.inject(Fault.slow_first_token(5.0))
    async with make_provider(wire, server, first_token_timeout=0.15) as provider:
        error = await failure(provider, True)
    assert isinstance(error, Timeout)
    assert error.code == "ttft_timeout"


async def test_ttft_includes_the_wait_for_headers(server: FakeLLMServer, wire: Wire) -> None:
    """The first-token limit counts from the request's start, headers wait included."""
    server.inject(Fault.latency(0.3))
    async with make_provider(wire, server, first_token_timeout=0.15) as provider:
        error = await failure(provider, True)
    assert isinstance(error, Timeout)
    assert error.code == "ttft_timeout"


async def test_stall_mid_stream_hits_idle_timeout(server: FakeLLMServer, wire: Wire) -> None:
    """Text, then silence: Timeout with code idle_timeout."""
    server.inject(Fault.stall(after_chunks=2))
    async with make_provider(wire, server, idle_timeout=0.1) as provider:
        error = await failure(provider, True)
    assert isinstance(error, Timeout)
    assert error.code == "idle_timeout"


async def test_slow_but_steady_stream_passes(server: FakeLLMServer, wire: Wire) -> None:
    """A short stall below the idle limit is fine: the answer completes."""
    server.inject(Fault.stall(after_chunks=1, seconds=0.05))
    async with make_provider(wire, server, idle_timeout=0.5) as provider:
        assert await call(provider, True) == "You said: one two three four five"


async def test_noisy_stream_is_read_whole(server: FakeLLMServer, provider: HttpProvider) -> None:
    """Comments, unknown events, CRLF lines and odd splits do not disturb a stream."""
    server.inject(Fault.noisy_sse())
    assert await call(provider, True) == "You said: one two three four five"


@streamed
async def test_latency_only_delays(
    server: FakeLLMServer, provider: HttpProvider, streamed: bool
) -> None:
    """Latency below the limits delays the answer, and the latency shows in latency_s."""
    server.inject(Fault.latency(0.05))
    if streamed:
        assert await call(provider, True) == "You said: one two three four five"
    else:
        response = await provider.complete(REQUEST)
        assert response.latency_s >= 0.05


@streamed
async def test_script_fails_then_succeeds(
    server: FakeLLMServer, provider: HttpProvider, streamed: bool
) -> None:
    """'Fail three times then succeed': three ServerErrors, then the answer."""
    server.inject(Fault.error(500), times=3)
    for _ in range(3):
        assert isinstance(await failure(provider, streamed), ServerError)
    assert await call(provider, streamed) == "You said: one two three four five"
