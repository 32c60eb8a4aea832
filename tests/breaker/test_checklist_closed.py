"""Checklist A (reference §4, B01-B11): how the breaker counts while CLOSED.

Every outcome is driven through the public API (``call``, the sync decorator path, or a
two-step ``Permit``); time only moves through the ``ManualClock``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

import pytest

from vex_llm import (
    AuthenticationFailed,
    CircuitBreaker,
    CircuitConfig,
    CircuitOpenError,
    CircuitState,
    ConnectionFailed,
    ContextLengthExceeded,
    InvalidRequest,
    InvalidResponse,
    NotAvailable,
    Outcome,
    RateLimited,
    ServerError,
    StateChange,
    StreamInterrupted,
    Timeout,
    classify_error,
)
from vex_llm.testing import ManualClock

Via = Literal["call", "sync", "permit"]
VIAS: tuple[Via, ...] = ("call", "sync", "permit")

COUNTED: list[BaseException] = [
    ConnectionFailed("refused"),
    NotAvailable("overloaded"),
    RateLimited("slow down"),
    Timeout("no answer"),
    ServerError("boom", status=503),
    StreamInterrupted("cut"),
    OSError("socket"),
    ConnectionResetError("reset"),
    TimeoutError("raw timeout"),
]

IGNORED: list[BaseException] = [
    InvalidRequest("bad request"),
    ContextLengthExceeded("too long"),
    AuthenticationFailed("bad key"),
    InvalidResponse("garbage"),
    CircuitOpenError("inner breaker", breaker="inner"),
    ValueError("a bug in the caller"),
    KeyError("missing"),
]


def _ids(errors: list[BaseException]) -> list[str]:
    return [type(error).__name__ for error in errors]


async def _raise(error: BaseException) -> None:
    raise error


def _raise_sync(error: BaseException) -> None:
    raise error


async def run(
    breaker: CircuitBreaker, error: BaseException | None = None, via: Via = "call"
) -> None:
    """One call through ``via`` that succeeds (``error=None``) or raises ``error``."""
    if via == "permit":
        permit = await breaker.acquire()
        if error is None:
            await permit.success()
        else:
            await permit.record_error(error)
        return
    if error is None:
        if via == "call":
            await breaker.call(_ok)
        else:
            breaker.call_sync(_ok_sync)
        return
    with pytest.raises(type(error)) as caught:
        await _failing_call(breaker, error, via)
    assert caught.value is error


async def _failing_call(breaker: CircuitBreaker, error: BaseException, via: Via) -> None:
    if via == "call":
        await breaker.call(_raise, error)
    else:
        breaker.call_sync(_raise_sync, error)


async def _ok() -> str:
    return "ok"


def _ok_sync() -> str:
    return "ok"


def failure() -> ServerError:
    return ServerError("boom", status=503)


def ratio_config(**overrides: object) -> CircuitConfig:
    settings: dict[str, object] = {
        "mode": "ratio",
        "window": "count",
        "window_size": 10,
        "minimum_calls": 4,
        "failure_rate_threshold": 0.5,
    }
    settings.update(overrides)
    return CircuitConfig(**settings)  # type: ignore[arg-type]  # test-built settings


# -- B01 --------------------------------------------------------------------------------


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("threshold", [1, 3, 5])
async def test_b01_nth_consecutive_failure_opens(
    clock: ManualClock, threshold: int, via: Via
) -> None:
    """B01: the Nth consecutive counted failure opens the circuit, N-1 do not."""
    breaker = CircuitBreaker(CircuitConfig(failure_threshold=threshold), clock=clock)
    for _ in range(threshold - 1):
        await run(breaker, failure(), via)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.stats().consecutive_failures == threshold - 1
    await run(breaker, failure(), via)
    assert breaker.state is CircuitState.OPEN
    stats = breaker.stats()
    assert (stats.circuit_opens, stats.total_failures) == (1, threshold)


@pytest.mark.parametrize("error", COUNTED, ids=_ids(COUNTED))
async def test_b01_default_classification_counts_provider_failures(
    clock: ManualClock, error: BaseException
) -> None:
    """B01: every failure class DESIGN.md lists (and raw OSError/TimeoutError) counts."""
    assert classify_error(error) is Outcome.FAILURE
    breaker = CircuitBreaker(CircuitConfig(failure_threshold=2), clock=clock)
    await run(breaker, error)
    await run(breaker, error)
    assert breaker.state is CircuitState.OPEN
    assert breaker.stats().total_failures == 2


# -- B02 --------------------------------------------------------------------------------


@pytest.mark.parametrize("via", VIAS)
async def test_b02_success_resets_the_streak(clock: ManualClock, via: Via) -> None:
    """B02: 4 failures, 1 success, 4 failures with threshold 5 stay CLOSED at a streak of 4."""
    breaker = CircuitBreaker(CircuitConfig(failure_threshold=5), clock=clock)
    for _ in range(4):
        await run(breaker, failure(), via)
    await run(breaker, None, via)
    assert breaker.stats().consecutive_failures == 0
    for _ in range(4):
        await run(breaker, failure(), via)
    stats = breaker.stats()
    assert stats.state is CircuitState.CLOSED
    assert (stats.consecutive_failures, stats.total_failures) == (4, 8)
    await run(breaker, failure(), via)
    assert breaker.state is CircuitState.OPEN


# -- B03 --------------------------------------------------------------------------------


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("error", IGNORED, ids=_ids(IGNORED))
async def test_b03_ignored_outcomes_are_neutral(
    clock: ManualClock, error: BaseException, via: Via
) -> None:
    """B03: ignored errors change no failure count, do not reset the streak, count as ignored."""
    assert classify_error(error) is Outcome.IGNORED
    breaker = CircuitBreaker(CircuitConfig(failure_threshold=3), clock=clock)
    await run(breaker, failure(), via)
    await run(breaker, failure(), via)
    for _ in range(5):
        await run(breaker, error, via)
    stats = breaker.stats()
    assert stats.state is CircuitState.CLOSED
    assert (stats.consecutive_failures, stats.total_failures, stats.ignored) == (2, 2, 5)
    await run(breaker, failure(), via)  # the streak survived the ignored outcomes
    assert breaker.state is CircuitState.OPEN


async def test_b03_ignored_outcomes_never_open_a_fresh_circuit(clock: ManualClock) -> None:
    """B03: any number of ignored outcomes alone leaves the circuit CLOSED."""
    breaker = CircuitBreaker(CircuitConfig(failure_threshold=1), clock=clock)
    for _ in range(50):
        await run(breaker, InvalidRequest("bad"))
    stats = breaker.stats()
    assert (stats.state, stats.ignored, stats.total_failures) == (CircuitState.CLOSED, 50, 0)


async def test_b03_a_classifier_that_raises_counts_neither_way(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """B03: a broken classifier is logged and the outcome is ignored; the error propagates."""

    def broken(exc: BaseException) -> Outcome:
        raise RuntimeError("classifier bug")

    breaker = CircuitBreaker(CircuitConfig(failure_threshold=1, classify=broken), clock=clock)
    await run(breaker, failure())
    assert breaker.state is CircuitState.CLOSED
    assert breaker.stats().ignored == 1
    assert "circuit_classify_failed" in caplog.messages


# -- B04 --------------------------------------------------------------------------------


def _server_errors_are_healthy(exc: BaseException) -> Outcome:
    if isinstance(exc, ServerError):
        return Outcome.SUCCESS
    return classify_error(exc)


@pytest.mark.parametrize("via", VIAS)
async def test_b04_classifier_can_turn_errors_into_successes(clock: ManualClock, via: Via) -> None:
    """B04: an error classified SUCCESS never opens, resets the streak, and still propagates."""
    config = CircuitConfig(failure_threshold=2, classify=_server_errors_are_healthy)
    breaker = CircuitBreaker(config, clock=clock)
    for _ in range(10):
        await run(breaker, failure(), via)
    assert breaker.state is CircuitState.CLOSED
    await run(breaker, Timeout("slow"), via)
    assert breaker.stats().consecutive_failures == 1
    await run(breaker, failure(), via)  # counts as a success: the streak resets
    stats = breaker.stats()
    assert (stats.consecutive_failures, stats.total_failures, stats.ignored) == (0, 1, 0)
    await run(breaker, Timeout("slow"), via)
    assert breaker.state is CircuitState.CLOSED


async def test_b04_classifier_can_count_a_normally_ignored_error(clock: ManualClock) -> None:
    """B04: the classification is the configured predicate, both ways."""

    def strict(exc: BaseException) -> Outcome:
        return Outcome.FAILURE

    breaker = CircuitBreaker(CircuitConfig(failure_threshold=2, classify=strict), clock=clock)
    await run(breaker, InvalidRequest("bad"))
    await run(breaker, InvalidRequest("bad"))
    assert breaker.state is CircuitState.OPEN


# -- B06 --------------------------------------------------------------------------------


@pytest.mark.parametrize("window", ["count", "time"])
@pytest.mark.parametrize("minimum", [1, 4, 7])
async def test_b06_minimum_volume(clock: ManualClock, window: str, minimum: int) -> None:
    """B06: below minimum_calls all-failing calls stay CLOSED with no rate; the Mth evaluates."""
    breaker = CircuitBreaker(ratio_config(window=window, minimum_calls=minimum), clock=clock)
    for done in range(1, minimum):
        await run(breaker, failure())
        stats = breaker.stats()
        assert stats.state is CircuitState.CLOSED
        assert stats.failure_rate is None
        assert stats.calls_in_window == done
    await run(breaker, failure())
    assert breaker.state is CircuitState.OPEN


async def test_b06_minimum_calls_is_clamped_to_a_count_window(clock: ManualClock) -> None:
    """B06: a count window smaller than minimum_calls judges once it is full."""
    breaker = CircuitBreaker(ratio_config(window_size=3, minimum_calls=20), clock=clock)
    for _ in range(3):
        await run(breaker, failure())
    assert breaker.state is CircuitState.OPEN


# -- B07 --------------------------------------------------------------------------------


@pytest.mark.parametrize("window", ["count", "time"])
@pytest.mark.parametrize(
    ("threshold", "failures", "calls", "opens"),
    [
        (0.5, 2, 4, True),
        (0.5, 1, 4, False),
        (0.3, 3, 10, True),
        (0.3, 2, 10, False),
        (1.0, 4, 4, True),
        (1.0, 3, 4, False),
    ],
)
async def test_b07_rate_threshold_is_inclusive(
    clock: ManualClock, window: str, threshold: float, failures: int, calls: int, opens: bool
) -> None:
    """B07: a failure rate exactly equal to the threshold opens; just below does not."""
    config = ratio_config(
        window=window, window_size=calls, minimum_calls=calls, failure_rate_threshold=threshold
    )
    breaker = CircuitBreaker(config, clock=clock)
    for _ in range(calls - failures):
        await run(breaker)
    for _ in range(failures):
        await run(breaker, failure())
    expected = CircuitState.OPEN if opens else CircuitState.CLOSED
    assert breaker.state is expected


# -- B08 --------------------------------------------------------------------------------


async def test_b08_count_window_evicts_the_oldest(clock: ManualClock) -> None:
    """B08: window_size=5 aggregates only the last 5 outcomes after the 6th."""
    breaker = CircuitBreaker(ratio_config(window_size=5, minimum_calls=5), clock=clock)
    for error in (failure(), None, None, failure(), None):
        await run(breaker, error)
    assert breaker.stats().failure_rate == pytest.approx(0.4)
    # Without eviction this would be 3 failures in 6 calls (0.5) and open.
    await run(breaker, failure())
    stats = breaker.stats()
    assert stats.state is CircuitState.CLOSED
    assert stats.calls_in_window == 5
    assert stats.failure_rate == pytest.approx(0.4)
    for _ in range(5):
        await run(breaker)
    assert breaker.stats().failure_rate == 0.0


# -- B09 / B10 --------------------------------------------------------------------------


async def test_b09_time_window_rolls_across_periods(clock: ManualClock) -> None:
    """B09: failures at the end of one window period and the start of the next combine."""
    clock.set(2000.0)
    config = ratio_config(window="time", window_seconds=10.0, window_buckets=10, minimum_calls=4)
    breaker = CircuitBreaker(config, clock=clock)
    clock.set(2009.0)
    await run(breaker)
    await run(breaker)
    await run(breaker, failure())
    clock.set(2010.0)  # a tumbling window would have cleared here
    await run(breaker, failure())
    assert breaker.state is CircuitState.OPEN


@pytest.mark.parametrize("buckets", [1, 10, 60])
async def test_b10_outcome_expires_at_exactly_t0_plus_window(
    clock: ManualClock, buckets: int
) -> None:
    """B10: an outcome recorded at t0 is counted just before t0 + window and not at it."""
    clock.set(3000.0)
    config = ratio_config(
        window="time", window_seconds=60.0, window_buckets=buckets, minimum_calls=1
    )
    breaker = CircuitBreaker(config, clock=clock)
    await run(breaker)
    clock.set(3059.999)
    assert breaker.stats().calls_in_window == 1
    clock.set(3060.0)
    assert breaker.stats().calls_in_window == 0
    assert breaker.stats().failure_rate is None


async def test_b10_expired_failures_do_not_count_towards_a_trip(clock: ManualClock) -> None:
    """B10: failures older than the window never combine with new ones."""
    clock.set(3000.0)
    config = ratio_config(window="time", window_seconds=10.0, window_buckets=10, minimum_calls=2)
    breaker = CircuitBreaker(config, clock=clock)
    await run(breaker, InvalidRequest("neutral"))  # ignored: no window entry
    await run(breaker, failure())
    clock.set(3010.0)
    await run(breaker)
    await run(breaker)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.stats().failure_rate == 0.0


# -- B11 --------------------------------------------------------------------------------


def _taking(
    clock: ManualClock, seconds: float, error: BaseException | None = None
) -> Callable[[], Awaitable[str]]:
    async def call() -> str:
        clock.advance(seconds)
        if error is not None:
            raise error
        return "ok"

    return call


@pytest.mark.parametrize(
    ("took", "slow"),
    [(1.999, False), (2.0, False), (2.001, True), (30.0, True)],
)
async def test_b11_slow_means_strictly_longer(clock: ManualClock, took: float, slow: bool) -> None:
    """B11: a call longer than slow_call_duration is slow; exactly as long is not."""
    config = CircuitConfig(failure_threshold=5, slow_call_duration=2.0)
    breaker = CircuitBreaker(config, clock=clock)
    await breaker.call(_taking(clock, took))
    stats = breaker.stats()
    assert stats.slow_calls == int(slow)
    assert stats.consecutive_failures == int(slow)  # a slow success extends the streak


async def test_b11_slow_successes_trip_consecutive_mode(clock: ManualClock) -> None:
    """B11: in consecutive mode slow successes count towards the failure streak and trip."""
    events: list[StateChange] = []
    breaker = CircuitBreaker(
        CircuitConfig(failure_threshold=2, slow_call_duration=1.0), clock=clock
    )
    breaker.on_state_change(events.append)
    await breaker.call(_taking(clock, 5.0))
    assert breaker.state is CircuitState.CLOSED
    await breaker.call(_taking(clock, 5.0))
    assert breaker.state is CircuitState.OPEN
    assert [e.reason for e in events] == ["failure_threshold"]
    assert breaker.stats().total_failures == 0


async def test_b11_slow_rate_opens_with_no_failures(clock: ManualClock) -> None:
    """B11: in ratio mode a slow-call rate >= its threshold opens at a 0 % failure rate."""
    events: list[StateChange] = []
    config = ratio_config(
        minimum_calls=4,
        failure_rate_threshold=1.0,
        slow_call_duration=1.0,
        slow_call_rate_threshold=0.5,
    )
    breaker = CircuitBreaker(config, clock=clock)
    breaker.on_state_change(events.append)
    await breaker.call(_taking(clock, 0.5))
    await breaker.call(_taking(clock, 3.0))
    await breaker.call(_taking(clock, 0.5))
    assert breaker.stats().slow_call_rate is None  # below minimum_calls
    await breaker.call(_taking(clock, 3.0))
    assert breaker.state is CircuitState.OPEN
    assert [e.reason for e in events] == ["slow_call_rate"]
    assert breaker.stats().total_failures == 0


async def test_b11_slow_rate_below_threshold_stays_closed(clock: ManualClock) -> None:
    """B11: a slow-call rate below its threshold does not open."""
    config = ratio_config(minimum_calls=4, slow_call_duration=1.0, slow_call_rate_threshold=0.75)
    breaker = CircuitBreaker(config, clock=clock)
    for took in (3.0, 3.0, 0.5, 0.5):
        await breaker.call(_taking(clock, took))
    stats = breaker.stats()
    assert stats.state is CircuitState.CLOSED
    assert stats.slow_call_rate == pytest.approx(0.5)


@pytest.mark.parametrize("mode", ["consecutive", "ratio"])
async def test_b11_slow_failure_counts_as_failed_and_slow(clock: ManualClock, mode: str) -> None:
    """B11: a slow failure increments both the failure and the slow-call counts."""
    config = ratio_config(mode=mode, minimum_calls=10, slow_call_duration=1.0)
    breaker = CircuitBreaker(config, clock=clock)
    with pytest.raises(ServerError):
        await breaker.call(_taking(clock, 2.0, failure()))
    stats = breaker.stats()
    assert (stats.total_failures, stats.slow_calls) == (1, 1)


@pytest.mark.parametrize("mode", ["consecutive", "ratio"])
async def test_b11_slow_probe_reopens(clock: ManualClock, mode: str) -> None:
    """B11: a half-open probe that succeeds slowly counts as a failed probe and reopens."""
    events: list[StateChange] = []
    config = ratio_config(mode=mode, minimum_calls=1, slow_call_duration=1.0, reset_timeout=10.0)
    breaker = CircuitBreaker(config, clock=clock)
    breaker.on_state_change(events.append)
    breaker.force_open(10.0)
    clock.advance(10.0)
    assert await breaker.call(_taking(clock, 1.5)) == "ok"
    assert [(e.to_state, e.reason) for e in events][-1] == (CircuitState.OPEN, "probe_failed")
