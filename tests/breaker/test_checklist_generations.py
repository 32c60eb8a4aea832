"""Checklist D and E (reference §4, B27-B35): stale results and the open duration."""

from __future__ import annotations

import pytest

from vex_llm import (
    CircuitBreaker,
    CircuitConfig,
    CircuitState,
    MemoryStore,
    Permit,
    RateLimited,
    ServerError,
    StateChange,
)
from vex_llm.testing import ManualClock

RESET = 30.0


def failure() -> ServerError:
    return ServerError("boom", status=503)


async def _raise(error: BaseException) -> None:
    raise error


async def _ok() -> str:
    return "ok"


async def fail(breaker: CircuitBreaker, error: BaseException | None = None) -> None:
    error = error if error is not None else failure()
    with pytest.raises(type(error)):
        await breaker.call(_raise, error)


async def trip(breaker: CircuitBreaker) -> None:
    while breaker.state is not CircuitState.OPEN:
        await fail(breaker)


def make(clock: ManualClock, **settings: object) -> CircuitBreaker:
    config = CircuitConfig(**{"failure_threshold": 3, "reset_timeout": RESET, **settings})  # type: ignore[arg-type]  # test-built settings
    return CircuitBreaker(config, name="gen", clock=clock)


async def report(permit: Permit, how: str) -> None:
    if how == "success":
        await permit.success()
    elif how == "failure":
        await permit.failure(failure())
    elif how == "record_error":
        await permit.record_error(failure())
    else:
        await permit.release()


REPORTS = ["success", "failure", "record_error", "release"]


def durations(events: list[StateChange]) -> list[float]:
    """How long each open period was set to last."""
    return [
        round(e.open_until - e.at, 9)
        for e in events
        if e.to_state is CircuitState.OPEN and e.open_until is not None
    ]


# -- B27 --------------------------------------------------------------------------------


@pytest.mark.parametrize("how", REPORTS)
async def test_b27_stale_outcome_from_an_earlier_closed_period(
    clock: ManualClock, how: str
) -> None:
    """B27: a CLOSED-era outcome reported in a later CLOSED generation counts only as stale."""
    breaker = make(clock)
    held = await breaker.acquire()
    await trip(breaker)
    breaker.force_closed()
    await fail(breaker)
    await fail(breaker)
    before = breaker.stats()
    assert before.generation > held.generation
    await report(held, how)
    after = breaker.stats()
    # A current success would reset the streak to 0; a current failure would trip.
    assert after.state is CircuitState.CLOSED
    assert (after.consecutive_failures, after.total_failures) == (2, 5)
    assert after.stale_outcomes == before.stale_outcomes + 1
    assert after.ignored == before.ignored


async def test_b27_overhanging_call_success_is_stale(clock: ManualClock) -> None:
    """B27: a slow call() from before a close/re-open cycle does not reset the new streak."""
    import asyncio

    breaker = make(clock)
    started = asyncio.Event()
    finish = asyncio.Event()

    async def slow() -> str:
        started.set()
        await finish.wait()
        return "late"

    task = asyncio.create_task(breaker.call(slow))
    await started.wait()
    await trip(breaker)
    breaker.force_closed()
    await fail(breaker)
    await fail(breaker)
    finish.set()
    assert await task == "late"
    stats = breaker.stats()
    assert (stats.consecutive_failures, stats.stale_outcomes) == (2, 1)
    await fail(breaker)
    assert breaker.state is CircuitState.OPEN


# -- B28 --------------------------------------------------------------------------------


@pytest.mark.parametrize("how", REPORTS)
async def test_b28_stale_outcome_cannot_close_or_reopen_half_open(
    clock: ManualClock, how: str
) -> None:
    """B28: a CLOSED-era call ending in HALF_OPEN neither closes nor reopens nor frees a slot."""
    breaker = make(clock, success_threshold=1)
    events: list[StateChange] = []
    held = await breaker.acquire()
    await trip(breaker)
    clock.advance(RESET)
    assert breaker.state is CircuitState.HALF_OPEN
    probe = await breaker.acquire()
    breaker.on_state_change(events.append)
    await report(held, how)
    stats = breaker.stats()
    assert events == []
    assert (stats.state, stats.half_open_in_flight, stats.stale_outcomes) == (
        CircuitState.HALF_OPEN,
        1,
        1,
    )
    await probe.success()
    assert breaker.state is CircuitState.CLOSED


# -- B29 --------------------------------------------------------------------------------


async def test_b29_stale_retry_after_only_lengthens_the_open_period(clock: ManualClock) -> None:
    """B29: a stale 429's Retry-After may extend the current OPEN deadline, never shorten it."""
    breaker = make(clock)
    events: list[StateChange] = []
    breaker.on_state_change(events.append)
    early, late = await breaker.acquire(), await breaker.acquire()
    await trip(breaker)
    clock.advance(10.0)
    await early.failure(RateLimited("slow down", retry_after=5.0))
    assert breaker.stats().retry_after == pytest.approx(RESET - 10.0)  # not shortened
    await late.record_error(RateLimited("slow down", retry_after=100.0))
    stats = breaker.stats()
    assert stats.retry_after == pytest.approx(100.0)
    assert (stats.state, stats.circuit_opens, stats.stale_outcomes) == (CircuitState.OPEN, 1, 2)
    assert len(events) == 1  # no second "opened"
    clock.advance(99.999)
    assert breaker.state is CircuitState.OPEN
    clock.advance(0.001)
    assert breaker.state is CircuitState.HALF_OPEN


@pytest.mark.parametrize("policy", ["ignore"])
async def test_b29_stale_retry_after_ignored_when_hints_are_off(
    clock: ManualClock, policy: str
) -> None:
    """B29: with retry_after="ignore" a stale hint moves nothing."""
    breaker = make(clock, retry_after=policy)
    held = await breaker.acquire()
    await trip(breaker)
    await held.failure(RateLimited("slow down", retry_after=100.0))
    assert breaker.stats().retry_after == pytest.approx(RESET)


async def test_b29_stale_retry_after_does_not_extend_isolation_or_half_open(
    clock: ManualClock,
) -> None:
    """B29: a stale hint never changes state: isolated stays isolated, half-open stays half-open."""
    breaker = make(clock)
    first, second = await breaker.acquire(), await breaker.acquire()
    breaker.force_open()
    await first.failure(RateLimited("slow down", retry_after=100.0))
    stats = breaker.stats()
    assert (stats.isolated, stats.retry_after) == (True, None)
    breaker.force_open(1.0)
    clock.advance(1.0)
    assert breaker.state is CircuitState.HALF_OPEN
    await second.failure(RateLimited("slow down", retry_after=100.0))
    assert breaker.state is CircuitState.HALF_OPEN


# -- B30 --------------------------------------------------------------------------------


async def test_b30_generations_are_shared_through_the_store(clock: ManualClock) -> None:
    """B30: a permit from breaker A is stale after breaker B (same store, same name) moved on."""
    store = MemoryStore()
    config = CircuitConfig(failure_threshold=2, success_threshold=1, reset_timeout=RESET)
    first = CircuitBreaker(config, name="llm", clock=clock, store=store)
    second = CircuitBreaker(config, name="llm", clock=clock, store=store)
    held = await first.acquire()
    await trip(second)
    assert first.state is CircuitState.OPEN
    clock.advance(RESET)
    await second.call(_ok)
    assert first.state is CircuitState.CLOSED
    await held.failure(failure())
    stats = second.stats()
    assert (stats.consecutive_failures, stats.stale_outcomes) == (0, 1)
    assert first.stats() == stats


# -- B31 --------------------------------------------------------------------------------


async def reopen(breaker: CircuitBreaker, clock: ManualClock, events: list[StateChange]) -> None:
    """Wait out the current open period and fail the first probe."""
    until = events[-1].open_until
    assert until is not None
    clock.set(until)
    assert breaker.state is CircuitState.HALF_OPEN
    await fail(breaker)


async def test_b31_backoff_sequence(clock: ManualClock) -> None:
    """B31: reset_timeout=5, multiplier=1.5: the 2nd consecutive open lasts 7.5 s."""
    breaker = make(clock, reset_timeout=5.0, backoff_multiplier=1.5)
    events: list[StateChange] = []
    breaker.on_state_change(events.append)
    await trip(breaker)
    await reopen(breaker, clock, events)
    reopened = clock.now
    clock.set(reopened + 6.0)
    assert breaker.state is CircuitState.OPEN
    clock.set(reopened + 7.5)
    assert breaker.state is CircuitState.HALF_OPEN
    assert durations(events) == [5.0, 7.5]


async def test_b31_constant_by_default(clock: ManualClock) -> None:
    """B31: without a multiplier every open lasts reset_timeout (seed parity)."""
    breaker = make(clock)
    events: list[StateChange] = []
    breaker.on_state_change(events.append)
    await trip(breaker)
    for _ in range(4):
        await reopen(breaker, clock, events)
    assert durations(events) == [RESET] * 5


# -- B32 --------------------------------------------------------------------------------


@pytest.mark.parametrize("close", ["probes", "force_closed", "reset"])
async def test_b32_attempt_counter_resets_after_closed(clock: ManualClock, close: str) -> None:
    """B32: the backoff exponent grows 0,1,2,3,4 across re-opens and restarts at 0 after CLOSED."""
    breaker = make(
        clock,
        reset_timeout=1.0,
        backoff_multiplier=2.0,
        max_reset_timeout=1000.0,
        success_threshold=1,
    )
    events: list[StateChange] = []
    breaker.on_state_change(events.append)
    await trip(breaker)
    for _ in range(4):
        await reopen(breaker, clock, events)
    if close == "probes":
        clock.advance(16.0)
        await breaker.call(_ok)
    elif close == "force_closed":
        breaker.force_closed()
    else:
        breaker.reset()
    assert breaker.state is CircuitState.CLOSED
    await trip(breaker)
    for _ in range(2):
        await reopen(breaker, clock, events)
    assert durations(events) == [1.0, 2.0, 4.0, 8.0, 16.0, 1.0, 2.0, 4.0]


async def test_b32_manual_open_does_not_advance_the_exponent(clock: ManualClock) -> None:
    """B32: force_open(d) lasts d and leaves the backoff exponent alone."""
    breaker = make(clock, reset_timeout=1.0, backoff_multiplier=2.0)
    events: list[StateChange] = []
    breaker.on_state_change(events.append)
    breaker.force_open(7.0)
    clock.advance(7.0)
    assert breaker.state is CircuitState.HALF_OPEN
    await fail(breaker)
    assert durations(events) == [7.0, 1.0]


# -- B33 --------------------------------------------------------------------------------


async def test_b33_duration_is_capped_and_never_overflows(clock: ManualClock) -> None:
    """B33: open durations never exceed max_reset_timeout, even after 400 re-opens (10**400)."""
    breaker = make(clock, reset_timeout=1.0, backoff_multiplier=10.0, max_reset_timeout=100.0)
    events: list[StateChange] = []
    breaker.on_state_change(events.append)
    await trip(breaker)
    for _ in range(400):
        await reopen(breaker, clock, events)
    seen = durations(events)
    assert seen[:4] == [1.0, 10.0, 100.0, 100.0]
    assert max(seen) == 100.0
    assert seen[-1] == 100.0


async def test_b33_default_cap_is_300_seconds(clock: ManualClock) -> None:
    """B33: without max_reset_timeout the grown duration stops at 300 s."""
    breaker = make(clock, reset_timeout=10.0, backoff_multiplier=3.0)
    events: list[StateChange] = []
    breaker.on_state_change(events.append)
    await trip(breaker)
    for _ in range(5):
        await reopen(breaker, clock, events)
    assert durations(events) == [10.0, 30.0, 90.0, 270.0, 300.0, 300.0]


async def test_b33_absurd_hints_and_durations_do_not_overflow(clock: ManualClock) -> None:
    """B33: a 1e300 s Retry-After is capped; force_open(1e12) works."""
    breaker = make(clock, failure_threshold=1, max_reset_timeout=600.0)
    await fail(breaker, RateLimited("slow down", retry_after=1e300))
    assert breaker.stats().retry_after == pytest.approx(600.0)
    breaker.force_open(1e12)
    assert breaker.stats().retry_after == pytest.approx(1e12)


# -- B34 --------------------------------------------------------------------------------


async def test_b34_jitter_survives_the_cap(clock: ManualClock) -> None:
    """B34: far past the cap, 1 000 jittered durations lie in [max*(1-j), max] and vary."""
    breaker = make(
        clock, reset_timeout=1.0, backoff_multiplier=2.0, max_reset_timeout=8.0, jitter=0.25
    )
    events: list[StateChange] = []
    breaker.on_state_change(events.append)
    await trip(breaker)
    for _ in range(1010):
        await reopen(breaker, clock, events)
    capped = durations(events)[10:]
    assert len(capped) == 1001
    assert all(6.0 <= d <= 8.0 for d in capped)
    assert len(set(capped)) > 100


async def test_b34_jitter_is_downward_below_the_cap(clock: ManualClock) -> None:
    """B34: a jittered first open lasts between reset_timeout*(1-j) and reset_timeout."""
    breaker = make(clock, failure_threshold=1, jitter=0.5)
    events: list[StateChange] = []
    breaker.on_state_change(events.append)
    for _ in range(50):
        await fail(breaker)
        breaker.force_closed()
    assert all(15.0 <= d <= 30.0 for d in durations(events))


# -- B35 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hint", "expected"),
    [(5.0, RESET), (120.0, 120.0), (1e6, 300.0), (None, RESET)],
)
async def test_b35_retry_after_extends_the_tripped_open_period(
    clock: ManualClock, hint: float | None, expected: float
) -> None:
    """B35: open_until = now + max(backoff, min(Retry-After, max_reset_timeout))."""
    breaker = make(clock, max_reset_timeout=300.0)
    events: list[StateChange] = []
    breaker.on_state_change(events.append)
    await fail(breaker)
    await fail(breaker)
    await fail(breaker, RateLimited("slow down", retry_after=hint))
    assert durations(events) == [expected]
    clock.advance(expected - 0.001)
    assert breaker.state is CircuitState.OPEN  # no probe before the provider said so
    clock.advance(0.001)
    assert breaker.state is CircuitState.HALF_OPEN


async def test_b35_retry_after_alone_does_not_trip_by_default(clock: ManualClock) -> None:
    """B35: with retry_after="extend" a 429 below the threshold only counts as one failure."""
    breaker = make(clock)
    await fail(breaker, RateLimited("slow down", retry_after=120.0))
    stats = breaker.stats()
    assert (stats.state, stats.consecutive_failures) == (CircuitState.CLOSED, 1)


async def test_b35_probe_failure_hint_extends_the_reopen(clock: ManualClock) -> None:
    """B35: a failing probe's Retry-After lengthens the new open period."""
    breaker = make(clock)
    events: list[StateChange] = []
    breaker.on_state_change(events.append)
    await trip(breaker)
    clock.advance(RESET)
    await fail(breaker, RateLimited("slow down", retry_after=90.0))
    assert durations(events) == [RESET, 90.0]


@pytest.mark.parametrize(
    ("hint", "trips", "expected"),
    [(5.0, True, RESET), (45.0, True, 45.0), (1.0, True, RESET), (0.5, False, None)],
)
async def test_b35_trip_policy_opens_below_the_threshold(
    clock: ManualClock, hint: float, trips: bool, expected: float | None
) -> None:
    """B35: with retry_after="trip" one failure carrying a hint >= retry_after_trip_min opens."""
    breaker = make(clock, retry_after="trip", retry_after_trip_min=1.0)
    events: list[StateChange] = []
    breaker.on_state_change(events.append)
    await fail(breaker, RateLimited("slow down", retry_after=hint))
    if not trips:
        assert events == []
        assert breaker.stats().consecutive_failures == 1
        return
    assert [(e.to_state, e.reason) for e in events] == [(CircuitState.OPEN, "retry_after")]
    assert durations(events) == [expected]


async def test_b35_ignore_policy_drops_hints(clock: ManualClock) -> None:
    """B35: with retry_after="ignore" a hint neither trips nor lengthens the open period."""
    breaker = make(clock, retry_after="ignore")
    events: list[StateChange] = []
    breaker.on_state_change(events.append)
    await fail(breaker)
    await fail(breaker)
    await fail(breaker, RateLimited("slow down", retry_after=200.0))
    assert durations(events) == [RESET]
