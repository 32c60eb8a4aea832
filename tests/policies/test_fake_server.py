"""The policies over real sockets: OpenAIProvider against FakeLLMServer on loopback.

Two providers share one fake server and are told apart by model: ``primary`` and
``secondary``; faults target one of them with ``model=``. Waits are real but short
(attempt timeouts of a few hundred ms); long Retry-After waits go through an injected sleep.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from _policies import request

from vex_llm import (
    AllProvidersFailed,
    CircuitConfig,
    CircuitState,
    LlmError,
    NotAvailable,
    OpenAIProvider,
    ResilientProvider,
    RetryConfig,
    RetryProvider,
    StreamChunk,
    StreamInterrupted,
    StreamReset,
    TimeoutConfig,
    deadline,
    stack,
    trace,
)
from vex_llm.testing import FakeLLMServer, Fault, ManualClock

pytestmark = pytest.mark.fake_server

ATTEMPT = 0.3  # seconds: the attempt / first-token timeout in these tests


@pytest.fixture
async def server() -> AsyncIterator[FakeLLMServer]:
    """A fake LLM server in the test's event loop, stopped after the test."""
    async with FakeLLMServer(seed=0, shutdown_timeout=0.1) as running:
        yield running


@pytest.fixture
async def pair(server: FakeLLMServer) -> AsyncIterator[tuple[OpenAIProvider, OpenAIProvider]]:
    """Primary and secondary providers on the fake server, closed after the test."""
    async with (
        OpenAIProvider("primary", base_url=server.base_url, name="primary", api_key="k") as a,
        OpenAIProvider("secondary", base_url=server.base_url, name="secondary", api_key="k") as b,
    ):
        yield a, b


def _hits(server: FakeLLMServer, model: str) -> int:
    return sum(1 for entry in server.journal if entry.model == model)


async def test_silent_primary_is_answered_by_the_secondary_within_the_attempt_timeout(
    server: FakeLLMServer, pair: tuple[OpenAIProvider, OpenAIProvider]
) -> None:
    """A hanging primary costs one attempt timeout; the secondary answers (complete, stream)."""
    server.inject(Fault.hang(), model="primary")
    llm = stack(list(pair), deadline=10.0, timeouts=TimeoutConfig(attempt_timeout=ATTEMPT))
    started = time.monotonic()
    response = await llm.complete(request())
    assert response.provider == "secondary"
    assert time.monotonic() - started < ATTEMPT + 0.5
    started = time.monotonic()
    chunks = [chunk async for chunk in llm.stream(request())]
    assert chunks[0].provider == "secondary"
    assert chunks[-1].finish_reason is not None
    assert time.monotonic() - started < ATTEMPT + 0.5


async def test_short_retry_after_inside_the_deadline_is_waited_out(
    server: FakeLLMServer, pair: tuple[OpenAIProvider, OpenAIProvider]
) -> None:
    """429 with Retry-After 2 s inside a 10 s deadline: wait 2 s (injected), then succeed."""
    server.inject(Fault.rate_limited(retry_after=2), times=1, model="primary")
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    retry = RetryProvider(ResilientProvider(pair[0]), RetryConfig(), sleep=sleep)
    async with deadline(10.0):
        response = await retry.complete(request())
    assert response.provider == "primary"
    assert waits == [2.0]
    assert _hits(server, "primary") == 2


async def test_long_retry_after_falls_over_at_once(
    server: FakeLLMServer, pair: tuple[OpenAIProvider, OpenAIProvider]
) -> None:
    """429 with Retry-After 120 s inside a 10 s deadline: no wait, the secondary answers."""
    server.inject(Fault.rate_limited(retry_after=120), model="primary")
    llm = stack(list(pair), deadline=10.0)
    started = time.monotonic()
    with trace() as events:
        response = await llm.complete(request())
    assert response.provider == "secondary"
    assert time.monotonic() - started < 0.5
    assert _hits(server, "primary") == 1
    assert [e.detail for e in events.of_kind("give_up")] == ["retry_after"]


async def test_5xx_burst_opens_the_breaker_and_later_calls_skip_the_primary(
    server: FakeLLMServer, pair: tuple[OpenAIProvider, OpenAIProvider]
) -> None:
    """After a 503 burst the primary's circuit is open: the server never sees it again."""
    server.inject(Fault.error(503), model="primary")
    llm = stack(
        list(pair),
        circuit=CircuitConfig(failure_threshold=3, reset_timeout=60.0),
        retry=RetryConfig(base_delay=0.01, max_delay=0.02),
    )
    for _ in range(3):
        assert (await llm.complete(request())).provider == "secondary"
    assert llm.circuits["primary"].circuit_state is CircuitState.OPEN
    touched = _hits(server, "primary")
    assert touched == 3
    for _ in range(10):
        assert (await llm.complete(request())).provider == "secondary"
    assert _hits(server, "primary") == touched
    assert llm.circuits["primary"].stats().rejected == 0  # skipped, not even knocked on


async def _read(chunks: AsyncIterator[StreamChunk]) -> tuple[list[StreamChunk], LlmError | None]:
    seen: list[StreamChunk] = []
    try:
        async for chunk in chunks:
            seen.append(chunk)
    except LlmError as exc:
        return seen, exc
    return seen, None


async def test_stream_cut_at_chunk_3_raises_with_the_partial_text(
    server: FakeLLMServer, pair: tuple[OpenAIProvider, OpenAIProvider]
) -> None:
    """Default policy: a stream cut after 3 chunks raises StreamInterrupted with them."""
    server.inject(Fault.cut(after_chunks=3), model="primary", stream=True)
    llm = stack(list(pair), deadline=10.0)
    seen, exc = await _read(llm.stream(request("one two three four five six")))
    assert isinstance(exc, StreamInterrupted)
    text = "".join(c.delta for c in seen)
    assert text
    assert exc.partial == text
    assert _hits(server, "secondary") == 0


async def test_stream_cut_at_chunk_3_restarts_on_the_secondary(
    server: FakeLLMServer, pair: tuple[OpenAIProvider, OpenAIProvider]
) -> None:
    """restart: partial text, a StreamReset carrying it, then the secondary's whole answer."""
    server.inject(Fault.cut(after_chunks=3), model="primary", stream=True)
    llm = stack(list(pair), deadline=10.0, on_stream_break="restart")
    seen, exc = await _read(llm.stream(request("one two three four five six")))
    assert exc is None
    resets = [c for c in seen if isinstance(c, StreamReset)]
    assert len(resets) == 1
    before = seen[: seen.index(resets[0])]
    after = seen[seen.index(resets[0]) + 1 :]
    assert resets[0].discarded == "".join(c.delta for c in before)
    assert after[0].provider == "secondary"
    assert after[-1].finish_reason is not None
    assert "one two three four five six" in "".join(c.delta for c in after)


async def test_a_flapping_primary_never_fails_a_call(
    server: FakeLLMServer, pair: tuple[OpenAIProvider, OpenAIProvider]
) -> None:
    """A primary alternating 503 and success: every call is answered, most by the primary."""
    server.script([Fault.error(503), None], cycle=True, model="primary")
    llm = stack(list(pair), deadline=10.0, retry=RetryConfig(base_delay=0.01, max_delay=0.02))
    answered = [(await llm.complete(request())).provider for _ in range(10)]
    assert len(answered) == 10
    assert answered.count("primary") >= 5


async def test_retry_budget_caps_upstream_calls_in_a_full_outage(
    server: FakeLLMServer, pair: tuple[OpenAIProvider, OpenAIProvider]
) -> None:
    """Everything 503 and no breaker: upstream calls <= (1 + budget) x requests + floor."""
    server.inject(Fault.error(503))
    budget, requests = 0.2, 20
    retry = RetryProvider(
        pair[0], RetryConfig(attempts=3, base_delay=0.0, budget=budget, budget_floor=0.0)
    )
    for _ in range(requests):
        with pytest.raises(NotAvailable):  # a 503 is NotAvailable on the wire mapping
            await retry.complete(request())
    upstream = len(server.journal)
    assert upstream <= (1 + budget) * requests + 1  # the bucket starts with one retry
    assert upstream >= requests


async def test_full_outage_through_the_stack_raises_one_group(
    server: FakeLLMServer, pair: tuple[OpenAIProvider, OpenAIProvider]
) -> None:
    """Both down: one AllProvidersFailed per call, and circuits keep load under 1.2 per call."""
    server.inject(Fault.error(503))
    llm = stack(list(pair), deadline=10.0, retry=RetryConfig(base_delay=0.01, max_delay=0.02))
    requests = 40
    for _ in range(requests):
        with pytest.raises(AllProvidersFailed) as caught:
            await llm.complete(request())
        assert all(isinstance(e, NotAvailable) for e in caught.value.exceptions)
    assert len(server.journal) <= 1.2 * requests


async def test_streamed_probes_close_a_half_open_circuit(
    server: FakeLLMServer, pair: tuple[OpenAIProvider, OpenAIProvider], clock: ManualClock
) -> None:
    """A 503 opens the circuit; three good streamed probes, read to the end or left right
    after the finish chunk, close it again (none is taken for an abandoned stream)."""
    server.inject(Fault.error(503), times=1, model="primary", stream=True)
    llm = stack(
        [pair[0]],
        deadline=10.0,
        retry=RetryConfig(attempts=1),
        circuit=CircuitConfig(failure_threshold=1, success_threshold=3, reset_timeout=30.0),
        clock=clock,
    )
    circuit = llm.circuits["primary"]
    _, exc = await _read(llm.stream(request()))
    assert isinstance(exc, AllProvidersFailed)
    assert circuit.circuit_state is CircuitState.OPEN
    clock.advance(30.0)
    assert circuit.circuit_state is CircuitState.HALF_OPEN
    seen, exc = await _read(llm.stream(request("one two three four")))  # read to the end
    assert exc is None
    assert seen[-1].finish_reason is not None
    async for chunk in llm.stream(request("one two three four")):  # break after the finish
        if chunk.finish_reason is not None:
            break
    assert circuit.circuit_state is CircuitState.HALF_OPEN
    async with contextlib.aclosing(llm.stream(request())) as chunks:  # type: ignore[type-var]  # an async generator
        async for chunk in chunks:
            if chunk.finish_reason is not None:
                break
    stats = circuit.stats()
    assert (stats.state, stats.ignored, stats.total_failures) == (CircuitState.CLOSED, 0, 1)
    assert _hits(server, "primary") == 4
