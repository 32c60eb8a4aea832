"""RetryProvider and RetryBudget: what is retried, how long it waits, when it gives up."""

from __future__ import annotations

import random

import pytest
from _policies import BreakingStream, collect, request

from vex_llm import (
    AuthenticationFailed,
    CircuitConfig,
    CircuitOpenError,
    InvalidRequest,
    LlmError,
    MockProvider,
    RateLimited,
    ResilientProvider,
    ServerError,
    Timeout,
    deadline,
    trace,
)
from vex_llm.policies import RetryBudget, RetryConfig, RetryProvider
from vex_llm.testing import ManualClock


def _retry(
    provider: MockProvider | ResilientProvider | BreakingStream,
    clock: ManualClock,
    **settings: object,
) -> RetryProvider:
    config = RetryConfig(**settings)  # type: ignore[arg-type]  # test settings are RetryConfig fields
    return RetryProvider(provider, config, clock=clock, sleep=clock.sleep, rng=random.Random(1))


async def test_transient_failures_are_retried_until_success() -> None:
    """Two 503s then an answer: three calls, the answer comes back."""
    clock = ManualClock(auto_advance=True)
    mock = MockProvider.scripted([ServerError("boom", status=503)] * 2 + ["ok"])
    response = await _retry(mock, clock).complete(request())
    assert response.content == "ok"
    assert mock.calls == 3
    assert len(clock.sleeps) == 2


async def test_gives_up_after_attempts_with_the_last_error_and_a_note() -> None:
    """When attempts run out the last error itself is raised, with a note, no wrapper."""
    clock = ManualClock(auto_advance=True)
    errors = [ServerError("first", status=500), ServerError("last", status=503)]
    mock = MockProvider.scripted(errors)
    with pytest.raises(ServerError) as caught:
        await _retry(mock, clock, attempts=2).complete(request())
    assert caught.value.message == "last"
    assert any("gave up" in note and "2 attempt" in note for note in caught.value.__notes__)
    assert mock.calls == 2


@pytest.mark.parametrize(
    "error",
    [InvalidRequest("bad"), AuthenticationFailed("no key"), ServerError("x", retryable=False)],
)
async def test_non_retryable_errors_are_raised_at_once(error: LlmError) -> None:
    """Caller errors and errors marked not retryable get exactly one attempt."""
    clock = ManualClock(auto_advance=True)
    mock = MockProvider.failing(error)
    with pytest.raises(type(error)):
        await _retry(mock, clock, attempts=5).complete(request())
    assert mock.calls == 1
    assert clock.sleeps == []


async def test_circuit_open_error_is_never_retried() -> None:
    """A CircuitOpenError from the inner breaker ends the retries without waiting."""
    clock = ManualClock(auto_advance=True)
    mock = MockProvider.failing(CircuitOpenError("open"))
    with pytest.raises(CircuitOpenError):
        await _retry(mock, clock, attempts=5).complete(request())
    assert mock.calls == 1


async def test_stops_knocking_once_its_own_circuit_opens() -> None:
    """After the failure that opens the inner circuit, no further attempt is made."""
    clock = ManualClock(auto_advance=True)
    mock = MockProvider.failing(ServerError("down", status=503))
    guarded = ResilientProvider(mock, CircuitConfig(failure_threshold=2), clock=clock)
    with pytest.raises(ServerError) as caught:
        await _retry(guarded, clock, attempts=5).complete(request())
    assert mock.calls == 2
    assert guarded.stats().rejected == 0
    assert any("circuit opened" in note for note in caught.value.__notes__)


async def test_timeouts_are_not_retried_by_default() -> None:
    """A Timeout goes up at once (a fallback answers sooner); retry_timeouts=True retries it."""
    clock = ManualClock(auto_advance=True)
    mock = MockProvider.scripted([Timeout("slow"), "ok"])
    with pytest.raises(Timeout):
        await _retry(mock, clock).complete(request())
    mock = MockProvider.scripted([Timeout("slow"), "ok"])
    assert (await _retry(mock, clock, retry_timeouts=True).complete(request())).content == "ok"


async def test_backoff_waits_grow_and_stay_capped() -> None:
    """Waits follow the capped exponential ceiling (no jitter: exactly base * 2^(n-1))."""
    clock = ManualClock(auto_advance=True)
    mock = MockProvider.failing(ServerError("down"))
    retry = _retry(mock, clock, attempts=6, base_delay=1.0, max_delay=4.0, jitter=0.0, budget=1.0)
    with pytest.raises(ServerError):
        await retry.complete(request())
    assert clock.sleeps == [1.0, 2.0, 4.0, 4.0, 4.0]


async def test_short_retry_after_that_fits_is_waited_out() -> None:
    """A 2 s Retry-After inside a 10 s deadline: wait 2 s (not less), then succeed."""
    clock = ManualClock(auto_advance=True)
    mock = MockProvider.scripted([RateLimited("slow down", retry_after=2.0), "ok"])
    async with deadline(10.0, clock=clock):
        response = await _retry(mock, clock, base_delay=0.1).complete(request())
    assert response.content == "ok"
    assert clock.sleeps == [2.0]


@pytest.mark.parametrize(("retry_after", "limit"), [(120.0, 10.0), (45.0, 100.0)])
async def test_retry_after_that_does_not_fit_gives_up_at_once(
    retry_after: float, limit: float
) -> None:
    """Retry-After beyond the time left (or max_retry_after): raise at once, no wait."""
    clock = ManualClock(auto_advance=True)
    mock = MockProvider.scripted([RateLimited("slow down", retry_after=retry_after), "ok"])
    with trace(clock=clock) as events:
        async with deadline(limit, clock=clock):
            with pytest.raises(RateLimited) as caught:
                await _retry(mock, clock).complete(request())
    assert mock.calls == 1
    assert clock.sleeps == []
    assert "Retry-After" in caught.value.__notes__[-1]
    assert [e.detail for e in events.of_kind("give_up")] == ["retry_after"]


async def test_backoff_that_does_not_fit_the_deadline_gives_up() -> None:
    """When the next backoff would outlast the time left, the error is raised instead."""
    clock = ManualClock(auto_advance=True)
    mock = MockProvider.failing(ServerError("down"))
    async with deadline(0.5, clock=clock):
        with pytest.raises(ServerError) as caught:
            await _retry(mock, clock, base_delay=1.0, jitter=0.0).complete(request())
    assert mock.calls == 1
    assert "time left" in caught.value.__notes__[-1]


async def test_own_deadline_bounds_the_retries() -> None:
    """RetryConfig.deadline ends the retries when the next wait would pass it."""
    clock = ManualClock(auto_advance=True)
    mock = MockProvider.failing(ServerError("down"))
    retry = _retry(mock, clock, attempts=10, base_delay=1.0, jitter=0.0, deadline=3.5, budget=1.0)
    with pytest.raises(ServerError):
        await retry.complete(request())
    assert clock.sleeps == [1.0, 2.0]


async def test_budget_caps_retries_under_a_full_outage() -> None:
    """With the budget at 20 % and no floor, 100 failing calls make at most 1.2 x 100 + 1."""
    clock = ManualClock(auto_advance=True)
    mock = MockProvider.failing(ServerError("down"))
    retry = _retry(mock, clock, attempts=3, budget=0.2, budget_floor=0.0, base_delay=0.0)
    for _ in range(100):
        with pytest.raises(ServerError):
            await retry.complete(request())
    assert mock.calls <= 1.2 * 100 + 1
    assert mock.calls >= 100 + 19  # the budget is spent, not merely unused


async def test_budget_notes_why_it_gave_up() -> None:
    """A call refused a retry by the budget says so in its note."""
    clock = ManualClock(auto_advance=True)
    mock = MockProvider.failing(ServerError("down"))
    budget = RetryBudget(0.0, floor=0.0, clock=clock)
    assert budget.try_spend()  # the one retry the bucket starts with
    retry = RetryProvider(mock, RetryConfig(), budget=budget, clock=clock, sleep=clock.sleep)
    with pytest.raises(ServerError) as caught:
        await retry.complete(request())
    assert mock.calls == 1
    assert "budget" in caught.value.__notes__[-1]


def test_budget_floor_refills_over_time() -> None:
    """The floor earns retries per second, up to ten seconds' worth."""
    clock = ManualClock()
    budget = RetryBudget(0.0, floor=2.0, clock=clock)
    assert budget.balance == 20.0
    while budget.try_spend():
        pass
    clock.advance(1.0)
    assert budget.balance == pytest.approx(2.0)
    clock.advance(100.0)
    assert budget.balance == 20.0


def test_budget_ratio_earns_per_call() -> None:
    """Each call earns `ratio` of a retry."""
    clock = ManualClock()
    budget = RetryBudget(0.25, floor=0.0, clock=clock)
    assert budget.try_spend()
    assert not budget.try_spend()
    for _ in range(4):
        budget.record_call()
    assert budget.try_spend()


async def test_streams_are_retried_before_their_first_chunk() -> None:
    """A stream that fails to start is retried; the answer streams in full."""
    clock = ManualClock(auto_advance=True)
    mock = MockProvider.scripted([ServerError("boom"), "one two"])
    chunks = await collect(_retry(mock, clock).stream(request()))
    assert "".join(c.delta for c in chunks) == "one two"
    assert mock.calls == 2


async def test_streams_are_not_retried_after_their_first_chunk() -> None:
    """A stream that breaks midway raises as it is: a retry would repeat delivered text."""
    clock = ManualClock(auto_advance=True)
    broken = BreakingStream(["a", "b"], error=ServerError("cut"))
    received: list[str] = []

    async def consume() -> None:
        async for chunk in _retry(broken, clock).stream(request()):
            received.append(chunk.delta)

    with pytest.raises(ServerError):
        await consume()
    assert received == ["a", "b"]
    assert broken.calls == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("attempts", 0),
        ("attempts", True),
        ("base_delay", -1.0),
        ("max_delay", float("nan")),
        ("budget", 1.5),
        ("budget", -0.1),
        ("jitter", 2.0),
        ("deadline", 0.0),
        ("budget_floor", -1.0),
        ("max_retry_after", -1.0),
    ],
)
def test_bad_settings_fail_at_construction(field: str, value: object) -> None:
    """Contradictory settings raise ValueError naming the field."""
    with pytest.raises(ValueError, match=f"RetryConfig.{field}"):
        RetryConfig(**{field: value})  # type: ignore[arg-type]  # deliberately bad values


def test_budget_ratio_outside_unit_interval_raises() -> None:
    """RetryBudget refuses a ratio outside [0, 1]."""
    with pytest.raises(ValueError, match="ratio"):
        RetryBudget(1.2)
