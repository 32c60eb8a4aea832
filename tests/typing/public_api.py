"""Public-API usages checked by mypy --strict (not collected by pytest)."""

from __future__ import annotations

from typing import assert_type

from vex_llm import (
    CircuitBreaker,
    CircuitConfig,
    CircuitOpenError,
    CircuitState,
    CircuitStats,
    LlmError,
    LlmRequest,
    LlmResponse,
    MockProvider,
    RateLimited,
    ResilientProvider,
)
from vex_llm.testing import ManualClock


async def uses() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(CircuitConfig(failure_threshold=3), name="db", clock=clock)

    async def fetch(x: int) -> str:
        return str(x)

    assert_type(await breaker.call(fetch, 1), str)

    @breaker
    def compute(x: int) -> int:
        return x * 2

    assert_type(compute(2), int)

    @breaker
    async def remote(x: int) -> float:
        return x / 2

    assert_type(await remote(2), float)
    assert_type(breaker.state, CircuitState)
    assert_type(breaker.stats(), CircuitStats)

    provider = ResilientProvider(MockProvider.smart(), CircuitConfig.conservative(), clock=clock)
    response = await provider.complete(LlmRequest.from_prompt("hi"))
    assert_type(response, LlmResponse)
    assert_type(provider.circuit_state, CircuitState)
    try:
        await provider.ask("x")
    except CircuitOpenError as exc:
        assert_type(exc.retry_after, float | None)
    except RateLimited as exc:
        assert_type(exc.retry_after, float | None)


async def policy_uses() -> None:
    from vex_llm import AllProvidersFailed, RetryConfig, TimeoutConfig, deadline, stack, trace

    llm = stack(
        [MockProvider.smart(name="a"), MockProvider.smart(name="b")],
        deadline=20.0,
        retry=RetryConfig(attempts=2),
        timeouts=TimeoutConfig(attempt_timeout=5.0),
    )
    with trace() as events:
        try:
            async with deadline(5.0):
                assert_type(await llm.ask("hi"), str)
        except AllProvidersFailed as group:
            assert_type(group.exceptions, tuple[LlmError | ExceptionGroup[LlmError], ...])
    assert_type(events.format(), str)
    assert_type(llm.circuits["a"].circuit_state, CircuitState)
