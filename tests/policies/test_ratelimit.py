"""RateLimitedProvider: budgets, reserve and settle, deadline-aware waiting, tiers, and the
local rate limit that neither retries nor opens a circuit."""

from __future__ import annotations

import asyncio
import sys

import pytest
from _policies import BreakingStream, collect, drive, request

from vex_llm import (
    CircuitConfig,
    CircuitOpenError,
    CircuitState,
    FallbackProvider,
    LlmRequest,
    MemoryBuckets,
    MockProvider,
    RateBudget,
    RateLimitConfig,
    RateLimited,
    RateLimitedProvider,
    ResilientProvider,
    ServerError,
    current_tenant,
    deadline,
    stack,
    tenant,
    trace,
)
from vex_llm.policies import RetryConfig, estimate_tokens, tiktoken_estimator
from vex_llm.stores import BucketKey
from vex_llm.testing import ManualClock


def _limited(provider: MockProvider, clock: ManualClock, **settings: object) -> RateLimitedProvider:
    config = RateLimitConfig(**settings)  # type: ignore[arg-type]  # test settings are fields
    return RateLimitedProvider(provider, config, clock=clock, sleep=clock.sleep)


async def test_requests_beyond_the_burst_wait_for_their_turn() -> None:
    """3 per 60 s: three go at once, the fourth waits 20 s (one interval), then goes."""
    clock = ManualClock()
    mock = MockProvider.smart()
    limited = _limited(mock, clock, budget=RateBudget(requests=3, window=60.0))
    for _ in range(3):
        await limited.complete(request())
    assert clock.sleeps == []
    await drive(clock, limited.complete(request()), step=1.0)
    assert clock.sleeps == [pytest.approx(20.0)]
    assert mock.calls == 4


async def test_a_wait_beyond_the_deadline_raises_local_rate_limit_at_once() -> None:
    """No room within the deadline: RateLimited(code local_rate_limit), provider untouched."""
    clock = ManualClock()
    mock = MockProvider.smart()
    limited = _limited(mock, clock, budget=RateBudget(requests=1, window=60.0))
    await limited.complete(request())
    with deadline(5.0, clock=clock), pytest.raises(RateLimited) as caught:
        await limited.complete(request())
    error = caught.value
    assert error.code == "local_rate_limit"
    assert error.retry_after == pytest.approx(60.0)
    assert error.retryable is False
    assert error.status is None
    assert mock.calls == 1
    assert clock.sleeps == []


async def test_max_wait_bounds_the_wait_without_a_deadline() -> None:
    """max_wait=0: an empty budget fails at once even with no deadline set."""
    clock = ManualClock()
    limited = _limited(MockProvider.smart(), clock, budget=RateBudget(requests=1), max_wait=0.0)
    await limited.complete(request())
    with pytest.raises(RateLimited, match="local rate limit"):
        await limited.complete(request())


async def test_tokens_are_reserved_then_settled_with_the_real_usage() -> None:
    """The estimate (prompt + max_tokens) is reserved; the usage refunds the difference."""
    clock = ManualClock()
    buckets = MemoryBuckets(clock=clock)
    mock = MockProvider.smart()
    config = RateLimitConfig(budget=RateBudget(tokens_per_minute=6000))
    limited = RateLimitedProvider(mock, config, store=buckets, clock=clock, sleep=clock.sleep)
    asked = LlmRequest.from_prompt("x" * 400, max_tokens=500)
    reserved = estimate_tokens(asked) + 500
    response = await limited.complete(asked)
    assert response.usage is not None
    used = response.usage.total_tokens
    assert used < reserved
    tat = buckets.tat(BucketKey("mock", "provider:tokens"))
    assert tat == pytest.approx(used * 60.0 / 6000)


async def test_usage_above_the_estimate_is_debited() -> None:
    """An answer that used more than reserved takes the difference from the bucket."""
    clock = ManualClock()
    buckets = MemoryBuckets(clock=clock)
    answer = MockProvider.scripted(["ok"])
    config = RateLimitConfig(budget=RateBudget(tokens_per_minute=600), completion_tokens=1)
    limited = RateLimitedProvider(answer, config, store=buckets, clock=clock)
    response = await limited.complete(request("hi"))
    assert response.usage is not None
    assert buckets.tat(BucketKey("mock", "provider:tokens")) == pytest.approx(
        response.usage.total_tokens * 0.1
    )


async def test_throughput_reaches_the_real_limit_after_settling() -> None:
    """With settlement, a tokens budget admits as many calls as real usage allows, not
    as many as the pessimistic estimate would."""
    clock = ManualClock()
    mock = MockProvider.smart()
    limited = _limited(mock, clock, budget=RateBudget(tokens_per_minute=2000), max_wait=0.0)
    asked = LlmRequest.from_prompt("hi", max_tokens=900)
    admitted = 0
    for _ in range(50):
        try:
            await limited.complete(asked)
        except RateLimited:
            break
        admitted += 1
    assert admitted > 2  # the estimate (~905 each) alone would stop after two


async def test_a_local_rate_limit_never_counts_against_the_circuit() -> None:
    """A breaker outside the limiter sees local rate limits and stays closed."""
    clock = ManualClock()
    limited = _limited(MockProvider.smart(), clock, budget=RateBudget(requests=1), max_wait=0.0)
    guarded = ResilientProvider(limited, CircuitConfig(failure_threshold=2), clock=clock)
    await guarded.complete(request())
    for _ in range(5):
        with pytest.raises(RateLimited):
            await guarded.complete(request())
    assert guarded.circuit_state is CircuitState.CLOSED
    assert guarded.stats().total_failures == 0


async def test_a_fallback_moves_on_at_once_on_a_local_rate_limit() -> None:
    """The primary's budget is spent: the secondary answers without any wait."""
    clock = ManualClock()
    primary = _limited(
        MockProvider.smart(name="a"), clock, budget=RateBudget(requests=1), max_wait=0.0
    )
    secondary = MockProvider.smart(name="b")
    chain = FallbackProvider([primary, secondary])
    await chain.complete(request())
    answer = await chain.complete(request())
    assert answer.provider == "b"
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("who", "allowed"), [("acme", 5), ("free-user", 1), (None, 1), ("stranger", 1)]
)
async def test_tenants_get_their_tier_and_unknown_ones_the_default(
    who: str | None, allowed: int
) -> None:
    """acme is 'pro' (5 per minute); unknown tenants and calls without one get 'free' (1)."""
    clock = ManualClock()
    limited = _limited(
        MockProvider.smart(),
        clock,
        tiers={"pro": RateBudget(requests=5), "free": RateBudget(requests=1)},
        tenants={"acme": "pro", "free-user": "free"},
        default_tier="free",
        max_wait=0.0,
    )

    async def burst() -> int:
        count = 0
        for _ in range(10):
            try:
                await limited.complete(request())
            except RateLimited:
                return count
            count += 1
        return count

    if who is None:
        assert await burst() == allowed
    else:
        with tenant(who):
            assert current_tenant() == who
            assert await burst() == allowed
    assert current_tenant() is None


async def test_each_tenant_has_a_bucket_of_its_own() -> None:
    """One tenant spending its tier leaves another tenant's budget whole."""
    clock = ManualClock()
    limited = _limited(
        MockProvider.smart(),
        clock,
        tiers={"t": RateBudget(requests=1)},
        default_tier="t",
        max_wait=0.0,
    )
    with tenant("a"):
        await limited.complete(request())
        with pytest.raises(RateLimited):
            await limited.complete(request())
    with tenant("b"):
        await limited.complete(request())


async def test_a_model_budget_replaces_the_provider_budget_for_that_model() -> None:
    """Requests naming a listed model charge its own bucket."""
    clock = ManualClock()
    limited = _limited(
        MockProvider.smart(),
        clock,
        budget=RateBudget(requests=1),
        models={"big": RateBudget(requests=2)},
        max_wait=0.0,
    )
    big = LlmRequest.from_prompt("hi", model="big")
    await limited.complete(big)
    await limited.complete(big)
    await limited.complete(request())
    with pytest.raises(RateLimited):
        await limited.complete(big)


async def test_a_stream_is_admitted_and_settled_with_its_last_chunk_usage() -> None:
    """A stream reserves like a call and is settled with the usage of its last chunk."""
    clock = ManualClock()
    buckets = MemoryBuckets(clock=clock)
    config = RateLimitConfig(budget=RateBudget(requests=2, tokens_per_minute=60000))
    limited = RateLimitedProvider(
        MockProvider.smart(), config, store=buckets, clock=clock, sleep=clock.sleep
    )
    chunks = await collect(limited.stream(LlmRequest.from_prompt("hello there", max_tokens=999)))
    usage = next(c.usage for c in reversed(chunks) if c.usage is not None)
    assert chunks[-1].finish_reason is not None
    tat = buckets.tat(BucketKey("mock", "provider:tokens"))
    assert tat == pytest.approx(usage.total_tokens * 60.0 / 60000)


async def test_a_call_cancelled_while_waiting_gives_its_place_back() -> None:
    """Cancelled in line: the reservation is refunded, the next call waits no longer."""
    clock = ManualClock()
    buckets = MemoryBuckets(clock=clock)
    config = RateLimitConfig(budget=RateBudget(requests=1, window=10.0))
    limited = RateLimitedProvider(
        MockProvider.smart(), config, store=buckets, clock=clock, sleep=clock.sleep
    )
    await limited.complete(request())
    waiting = asyncio.ensure_future(limited.complete(request()))
    for _ in range(5):
        await asyncio.sleep(0)
    assert clock.sleepers == 1
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert buckets.tat(BucketKey("mock", "provider:requests")) == pytest.approx(10.0)


async def test_stack_puts_the_limiter_below_retry_and_above_the_breaker() -> None:
    """stack(rate_limits=...): a spent budget falls back at once, no retry, circuit closed."""
    clock = ManualClock()
    first = MockProvider.smart(name="first")
    second = MockProvider.smart(name="second")
    llm = stack(
        [first, second],
        clock=clock,
        sleep=clock.sleep,
        retry=RetryConfig(attempts=3),
        rate_limits={first: RateLimitConfig(budget=RateBudget(requests=1), max_wait=0.0)},
    )
    assert (await llm.complete(request())).provider == "first"
    assert (await llm.complete(request())).provider == "second"
    assert first.calls == 1
    assert llm.circuits["first"].circuit_state is CircuitState.CLOSED
    assert clock.sleeps == []


def test_settings_are_checked_when_built() -> None:
    """Bad budgets and tier tables fail at construction, naming the field."""
    with pytest.raises(ValueError, match="requests or tokens_per_minute"):
        RateBudget()
    with pytest.raises(ValueError, match=r"RateBudget.requests"):
        RateBudget(requests=0)
    with pytest.raises(ValueError, match="needs a budget"):
        RateLimitConfig()
    with pytest.raises(ValueError, match="tiers not in tiers"):
        RateLimitConfig(tiers={"a": RateBudget(requests=1)}, tenants={"x": "b"})
    with pytest.raises(ValueError, match="default_tier"):
        RateLimitConfig(tiers={"a": RateBudget(requests=1)}, default_tier="b")
    with pytest.raises(ValueError, match="max_wait"):
        RateLimitConfig(budget=RateBudget(requests=1), max_wait=-1.0)
    with pytest.raises(ValueError, match="tenant name"), tenant(""):
        pass


def test_the_default_estimate_is_characters_over_four() -> None:
    """400 characters in one message: 100 tokens plus 4 for the message."""
    assert estimate_tokens(LlmRequest.from_prompt("x" * 400)) == 104


async def test_a_call_refused_by_an_open_circuit_gets_its_reservation_back() -> None:
    """Limiter above an open breaker: the rejected call spends no budget."""
    clock = ManualClock()
    buckets = MemoryBuckets(clock=clock)
    breaker = ResilientProvider(MockProvider.smart(), clock=clock)
    breaker.breaker.force_open()
    config = RateLimitConfig(budget=RateBudget(requests=1), max_wait=0.0)
    limited = RateLimitedProvider(breaker, config, store=buckets, clock=clock)
    for _ in range(3):
        with pytest.raises(CircuitOpenError):
            await limited.complete(request())
    assert buckets.tat(BucketKey("mock", "provider:requests")) is None


async def test_a_failed_call_keeps_its_reservation() -> None:
    """The provider may have counted a failed call: its budget is not given back."""
    clock = ManualClock()
    failing = MockProvider.failing(ServerError("boom", status=500))
    limited = _limited(failing, clock, budget=RateBudget(requests=1), max_wait=0.0)
    with pytest.raises(ServerError):
        await limited.complete(request())
    with pytest.raises(RateLimited, match="local rate limit"):
        await limited.complete(request())


async def test_an_abandoned_stream_keeps_its_reservation_and_closes_the_source() -> None:
    """A stream closed before its finish: the source is closed, the request stays charged."""
    clock = ManualClock()
    source = BreakingStream(["a", "b", "c"], finish=True)
    limited = _limited(source, clock, budget=RateBudget(requests=1), max_wait=0.0)
    chunks = limited.stream(request())
    assert (await anext(chunks)).delta == "a"
    await chunks.aclose()  # type: ignore[attr-defined]  # the policy's stream closes
    assert source.closed_streams == 1
    with pytest.raises(RateLimited):
        await collect(limited.stream(request()))


async def test_a_local_rate_limit_on_a_stream_is_raised_before_any_chunk() -> None:
    """An empty budget refuses a stream at its start, before the provider is asked."""
    clock = ManualClock()
    mock = MockProvider.smart()
    limited = _limited(mock, clock, budget=RateBudget(requests=1), max_wait=0.0)
    await collect(limited.stream(request()))
    with pytest.raises(RateLimited) as caught:
        await collect(limited.stream(request()))
    assert caught.value.code == "local_rate_limit"
    assert mock.calls == 1


async def test_waits_and_refusals_show_in_the_trace() -> None:
    """A wait for the budget and a refusal are traced with detail rate_limit."""
    clock = ManualClock()
    limited = _limited(MockProvider.smart(), clock, budget=RateBudget(requests=1, window=2.0))
    await limited.complete(request())
    with trace(clock=clock) as seen:
        await drive(clock, limited.complete(request()), step=0.5)
        with deadline(0.5, clock=clock), pytest.raises(RateLimited):
            await limited.complete(request())
    assert [(e.kind, e.detail) for e in seen] == [
        ("wait", "rate_limit"),
        ("give_up", "rate_limit"),
    ]


def test_the_tiktoken_estimator_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without tiktoken installed, asking for its estimator names the extra to install.

    (Where tiktoken is installed its encodings download on first use, and tests never
    leave the machine: the import is made to fail instead.)"""
    monkeypatch.setitem(sys.modules, "tiktoken", None)
    with pytest.raises(ImportError, match=r"vex-llm\[tiktoken\]"):
        tiktoken_estimator()
