"""stack(): the recommended layers, wired in the recommended order."""

from __future__ import annotations

import logging
import random

import pytest
from _policies import collect, drive, request

from vex_llm import (
    AllProvidersFailed,
    CircuitConfig,
    CircuitState,
    DeadlineProvider,
    FallbackProvider,
    HedgeConfig,
    HedgeProvider,
    MockProvider,
    ResilienceStack,
    RetryConfig,
    ServerError,
    TimeoutConfig,
    stack,
    trace,
)
from vex_llm.testing import ManualClock


def _stack(providers: list[MockProvider], clock: ManualClock, **options: object) -> ResilienceStack:
    return stack(
        providers,
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(3),
        **options,  # type: ignore[arg-type]  # test options are stack() keywords
    )


async def test_three_lines_answer_a_question() -> None:
    """The README's common case: build, ask, get the answer."""
    llm = stack([MockProvider.smart(name="primary"), MockProvider.smart(name="backup")])
    assert await llm.ask("capital of france?") == "Paris."


async def test_layers_are_in_the_recommended_order() -> None:
    """deadline -> fallback -> retry -> breaker -> timeout -> provider."""
    clock = ManualClock()
    llm = _stack([MockProvider.smart(name="a"), MockProvider.smart(name="b")], clock)
    assert isinstance(llm.outer, DeadlineProvider)
    fallback = llm.outer.inner
    assert isinstance(fallback, FallbackProvider)
    kinds = []
    layer = fallback.providers[0]
    while hasattr(layer, "inner"):
        kinds.append(type(layer).__name__)
        layer = layer.inner
    assert kinds == ["RetryProvider", "ResilientProvider", "TimeoutProvider"]
    assert set(llm.circuits) == {"a", "b"}


async def test_a_silent_primary_is_answered_by_the_backup_within_the_attempt_timeout() -> None:
    """A hanging primary costs one first-token timeout, then the backup answers."""
    clock = ManualClock()
    silent = MockProvider.smart(name="silent", latency=1e6, sleep=clock.sleep)
    llm = _stack(
        [silent, MockProvider.smart(name="backup")],
        clock,
        timeouts=TimeoutConfig(attempt_timeout=2.0),
        deadline=30.0,
    )
    response = await drive(clock, llm.complete(request()))
    assert response.provider == "backup"
    assert clock.now <= 2.0 + 0.05
    chunks = await drive(clock, collect(llm.stream(request())))
    assert chunks[0].provider == "backup"


async def test_a_failing_primary_opens_and_is_then_skipped() -> None:
    """5xx bursts open the primary's circuit; later calls do not touch it."""
    clock = ManualClock()
    primary = MockProvider.failing(ServerError("down", status=503), name="primary")
    llm = _stack(
        [primary, MockProvider.smart(name="backup")],
        clock,
        circuit=CircuitConfig(failure_threshold=3, reset_timeout=60.0),
        retry=RetryConfig(attempts=2, base_delay=0.01),
    )
    for _ in range(3):
        assert (await drive(clock, llm.complete(request()))).provider == "backup"
    assert llm.circuits["primary"].circuit_state is CircuitState.OPEN
    touched = primary.calls
    with trace(clock=clock) as events:
        for _ in range(10):
            await drive(clock, llm.complete(request()))
    assert primary.calls == touched
    assert {e.detail for e in events.of_kind("skip")} == {"circuit_open"}


async def test_full_outage_keeps_upstream_calls_near_one_per_request() -> None:
    """Everything down: retries are budgeted and circuits open, so load does not multiply."""
    clock = ManualClock()
    providers = [MockProvider.failing(ServerError("down"), name=n) for n in ("a", "b")]
    llm = _stack(providers, clock, retry=RetryConfig(budget=0.2, budget_floor=0.0))
    requests = 50
    for _ in range(requests):
        with pytest.raises(AllProvidersFailed):
            await drive(clock, llm.complete(request()))
    upstream = sum(p.calls for p in providers)
    assert upstream / requests <= 1.2


async def test_hedge_option_hedges_instead_of_falling_back() -> None:
    """With hedge=HedgeConfig(...), the middle layer is a HedgeProvider."""
    clock = ManualClock()
    llm = _stack(
        [
            MockProvider.smart(name="a", latency=9.0, sleep=clock.sleep),
            MockProvider.smart(name="b", latency=0.1, sleep=clock.sleep),
        ],
        clock,
        hedge=HedgeConfig(delay=0.5),
    )
    assert isinstance(llm.outer, DeadlineProvider)
    assert isinstance(llm.outer.inner, HedgeProvider)
    response = await drive(clock, llm.complete(request()))
    assert response.provider == "b"


async def test_events_are_logged_without_prompts_or_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The 'vex_llm' logger gets the decisions; never the prompt or the completion."""
    clock = ManualClock()
    llm = _stack(
        [MockProvider.failing(ServerError("down"), name="a"), MockProvider.smart(name="b")],
        clock,
    )
    secret_prompt = "my secret prompt 12345"
    with caplog.at_level(logging.DEBUG, logger="vex_llm"):
        response = await drive(clock, llm.complete(request(secret_prompt)))
    text = caplog.text
    assert "fallback" in text
    assert secret_prompt not in text
    assert response.content not in text


def test_bad_settings_fail_at_construction() -> None:
    """An empty list or duplicate names raise ValueError."""
    with pytest.raises(ValueError, match="at least one"):
        stack([])
    with pytest.raises(ValueError, match="distinct"):
        stack([MockProvider.smart(), MockProvider.smart()])
    with pytest.raises(ValueError, match="context_windows"):
        stack([MockProvider.smart()], context_windows={MockProvider.smart(name="x"): 5})


async def test_a_clock_with_its_own_sleep_drives_the_waits_without_sleep() -> None:
    """Given only ``clock=``, the stack waits on that clock's own ``sleep`` (one clock)."""
    clock = ManualClock(auto_advance=True)
    primary = MockProvider.scripted([ServerError("boom", status=500), "ok"], name="primary")
    retry = RetryConfig(attempts=2, base_delay=5.0, jitter=0.0)
    llm = stack([primary], deadline=None, clock=clock, retry=retry)
    answer = await llm.complete(request("hi"))
    assert answer.content == "ok"
    assert clock.sleeps == [5.0]  # the backoff, on the manual clock: no real wait
