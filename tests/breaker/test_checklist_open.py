"""Checklist B and C (reference §4, B13-B26): the OPEN and HALF_OPEN states."""

from __future__ import annotations

import asyncio
import gc

import pytest

from vex_llm import (
    AuthenticationFailed,
    CircuitBreaker,
    CircuitConfig,
    CircuitOpenError,
    CircuitState,
    InvalidRequest,
    NotAvailable,
    Permit,
    ServerError,
    StateChange,
)
from vex_llm.testing import ManualClock

RESET = 30.0


def failure() -> ServerError:
    return ServerError("boom", status=503)


async def _raise(error: BaseException) -> None:
    raise error


def _raise_sync(error: BaseException) -> None:
    raise error


async def _ok() -> str:
    return "ok"


async def trip(breaker: CircuitBreaker, error: BaseException | None = None) -> BaseException:
    """Fail until the circuit opens; returns the error that tripped it."""
    last = failure()
    while breaker.state is not CircuitState.OPEN:
        last = error if error is not None else failure()
        with pytest.raises(type(last)):
            await breaker.call(_raise, last)
    return last


async def half_open(breaker: CircuitBreaker, clock: ManualClock) -> None:
    """Trip the circuit and let the open period run out."""
    await trip(breaker)
    clock.advance(breaker.config.reset_timeout)
    assert breaker.state is CircuitState.HALF_OPEN


def make(clock: ManualClock, **settings: object) -> CircuitBreaker:
    config = CircuitConfig(**{"failure_threshold": 2, "reset_timeout": RESET, **settings})  # type: ignore[arg-type]  # test-built settings
    return CircuitBreaker(config, name="payments", clock=clock)


async def rejection(breaker: CircuitBreaker) -> CircuitOpenError:
    with pytest.raises(CircuitOpenError) as caught:
        await breaker.call(_ok)
    return caught.value


# -- B13 --------------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["call", "sync", "acquire", "decorator"])
async def test_b13_open_rejects_without_calling(clock: ManualClock, via: str) -> None:
    """B13: in OPEN the callable is never invoked and each rejection counts once."""
    breaker = make(clock)
    await trip(breaker)
    invoked = 0

    async def guarded() -> None:
        nonlocal invoked
        invoked += 1

    def guarded_sync() -> None:
        nonlocal invoked
        invoked += 1

    decorated = breaker(guarded)

    async def attempt() -> None:
        if via == "call":
            await breaker.call(guarded)
        elif via == "sync":
            breaker.call_sync(guarded_sync)
        elif via == "acquire":
            await breaker.acquire()
        else:
            await decorated()

    for count in range(1, 6):
        with pytest.raises(CircuitOpenError):
            await attempt()
        stats = breaker.stats()
        assert stats.rejected == count
        assert stats.total_requests == 2 + count
    assert invoked == 0
    assert breaker.stats().total_failures == 2


# -- B14 --------------------------------------------------------------------------------


@pytest.mark.parametrize("via", ["call", "acquire", "sync"])
async def test_b14_rejection_is_informative(clock: ManualClock, via: str) -> None:
    """B14: retry_after is open_until - now and shrinks with the clock; name, state, cause."""
    breaker = make(clock)
    tripping = await trip(breaker)

    async def attempt() -> None:
        if via == "call":
            await breaker.call(_ok)
        elif via == "acquire":
            await breaker.acquire()
        else:
            breaker.call_sync(lambda: None)

    async def rejected() -> CircuitOpenError:
        with pytest.raises(CircuitOpenError) as caught:
            await attempt()
        return caught.value

    error = await rejected()
    assert isinstance(error, NotAvailable)
    assert error.retry_after == pytest.approx(RESET)
    assert (error.breaker, error.state, error.reason) == ("payments", "open", "open")
    assert error.__cause__ is tripping
    clock.advance(0.001)
    assert (await rejected()).retry_after == pytest.approx(RESET - 0.001)
    clock.advance(10.0)
    assert (await rejected()).retry_after == pytest.approx(RESET - 10.001)
    assert breaker.stats().retry_after == pytest.approx(RESET - 10.001)


async def test_b14_half_open_full_rejection_has_its_own_reason(clock: ManualClock) -> None:
    """B14: a half-open-full rejection says so and when the earliest probe lease expires."""
    breaker = make(clock, success_threshold=1, probe_lease_ttl=50.0)
    await half_open(breaker, clock)
    probe = await breaker.acquire()
    clock.advance(20.0)
    error = await rejection(breaker)
    assert (error.state, error.reason) == ("half_open", "half_open_full")
    assert error.retry_after == pytest.approx(30.0)
    await probe.release()


async def test_b14_cause_is_the_latest_tripping_failure(clock: ManualClock) -> None:
    """B14: after a probe fails, rejections carry the probe's failure as the cause."""
    breaker = make(clock)
    first = await trip(breaker)
    assert (await rejection(breaker)).__cause__ is first
    clock.advance(RESET)
    second = failure()
    with pytest.raises(ServerError):
        await breaker.call(_raise, second)
    assert (await rejection(breaker)).__cause__ is second


async def test_b14_manual_open_has_no_stale_cause(clock: ManualClock) -> None:
    """B14: a circuit opened by hand is not blamed on a failure from an earlier episode."""
    breaker = make(clock)
    await trip(breaker)
    breaker.reset()
    breaker.force_open(60.0)
    assert (await rejection(breaker)).__cause__ is None
    breaker.force_open()
    assert (await rejection(breaker)).__cause__ is None


# -- B15 --------------------------------------------------------------------------------


@pytest.mark.parametrize("trigger", ["state", "stats", "acquire", "call", "is_open"])
async def test_b15_stays_open_until_the_deadline(clock: ManualClock, trigger: str) -> None:
    """B15: OPEN and rejecting at open_until - 1 ms; the first read or call at it half-opens."""
    breaker = make(clock)
    events: list[StateChange] = []
    breaker.on_state_change(events.append)
    await trip(breaker)
    open_until = events[-1].open_until
    assert open_until == pytest.approx(clock.now + RESET)
    assert open_until is not None
    clock.set(open_until - 0.001)
    assert breaker.state is CircuitState.OPEN
    await rejection(breaker)
    clock.set(open_until)
    if trigger == "state":
        assert breaker.state is CircuitState.HALF_OPEN
    elif trigger == "stats":
        assert breaker.stats().state is CircuitState.HALF_OPEN
    elif trigger == "is_open":
        assert not breaker.is_open()
    elif trigger == "acquire":
        permit = await breaker.acquire()
        assert permit.is_probe
        await permit.success()
    else:
        assert await breaker.call(_ok) == "ok"
    assert [e.to_state for e in events] == [CircuitState.OPEN, CircuitState.HALF_OPEN]
    assert events[-1].at == open_until


async def test_b15_stays_open_long_after_without_traffic_then_half_opens(
    clock: ManualClock,
) -> None:
    """B15: with nobody asking the state stays lazily OPEN until it is looked at."""
    breaker = make(clock)
    await trip(breaker)
    clock.advance(RESET * 100)
    assert breaker.stats().state is CircuitState.HALF_OPEN


# -- B16 --------------------------------------------------------------------------------


@pytest.mark.parametrize("report", ["failure", "record_error", "success", "release"])
async def test_b16_late_outcome_in_open_changes_nothing(clock: ManualClock, report: str) -> None:
    """B16: a call admitted in CLOSED that ends while OPEN neither re-opens nor moves open_until."""
    breaker = make(clock)
    events: list[StateChange] = []
    breaker.on_state_change(events.append)
    held = await breaker.acquire()
    await trip(breaker)
    clock.advance(5.0)
    before = breaker.stats()
    late = failure()
    if report == "failure":
        await held.failure(late)
    elif report == "record_error":
        await held.record_error(late)
    elif report == "success":
        await held.success()
    else:
        await held.release()
    after = breaker.stats()
    assert len(events) == 1
    assert after.state is CircuitState.OPEN
    assert after.retry_after == before.retry_after == pytest.approx(RESET - 5.0)
    assert (after.circuit_opens, after.total_failures) == (1, 2)
    assert after.stale_outcomes == 1


async def test_b16_overhanging_call_failure_is_stale(clock: ManualClock) -> None:
    """B16: a call() that started CLOSED and fails after the trip is not counted again."""
    breaker = make(clock)
    started = asyncio.Event()
    finish = asyncio.Event()

    async def slow_failure() -> None:
        started.set()
        await finish.wait()
        raise failure()

    task = asyncio.create_task(breaker.call(slow_failure))
    await started.wait()
    await trip(breaker)
    finish.set()
    with pytest.raises(ServerError):
        await task
    stats = breaker.stats()
    assert (stats.circuit_opens, stats.total_failures, stats.stale_outcomes) == (1, 2, 1)
    assert stats.retry_after == pytest.approx(RESET)


# -- B17 --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["consecutive", "ratio"])
async def test_b17_counters_reset_on_every_transition(clock: ManualClock, mode: str) -> None:
    """B17: after CLOSED->OPEN, OPEN->HALF_OPEN and HALF_OPEN->CLOSED every count is zero."""
    breaker = make(
        clock,
        mode=mode,
        failure_threshold=3,
        success_threshold=2,
        window_size=4,
        minimum_calls=3,
        failure_rate_threshold=1.0,
    )
    await trip(breaker)
    opened = breaker.stats()
    assert (opened.consecutive_failures, opened.calls_in_window) == (0, 0)
    assert opened.failure_rate is None
    clock.advance(RESET)
    probing = breaker.stats()
    assert probing.state is CircuitState.HALF_OPEN
    assert (probing.consecutive_failures, probing.half_open_in_flight) == (0, 0)
    await breaker.call(_ok)
    assert breaker.stats().half_open_in_flight == 0
    await breaker.call(_ok)
    closed = breaker.stats()
    assert closed.state is CircuitState.CLOSED
    assert (closed.consecutive_failures, closed.calls_in_window, closed.half_open_in_flight) == (
        0,
        0,
        0,
    )
    # A fresh count: threshold - 1 failures do not re-open.
    for _ in range(2):
        with pytest.raises(ServerError):
            await breaker.call(_raise, failure())
    assert breaker.state is CircuitState.CLOSED


# -- B18 --------------------------------------------------------------------------------


@pytest.mark.parametrize("start", ["closed", "half_open", "isolated"])
async def test_b18_force_open_for_a_duration(clock: ManualClock, start: str) -> None:
    """B18: force_open(2 h) rejects at +1 h and half-opens at +2 h, from any state."""
    breaker = make(clock)
    if start == "half_open":
        await half_open(breaker, clock)
    elif start == "isolated":
        breaker.force_open()
    events: list[StateChange] = []
    breaker.on_state_change(events.append)
    now = clock.now
    breaker.force_open(7200.0)
    assert len(events) == 1
    assert (events[0].to_state, events[0].manual, events[0].reason) == (
        CircuitState.OPEN,
        True,
        "manual",
    )
    assert events[0].open_until == now + 7200.0
    clock.advance(3600.0)
    error = await rejection(breaker)
    assert error.retry_after == pytest.approx(3600.0)
    assert error.reason == "open"
    clock.set(now + 7200.0)
    assert breaker.state is CircuitState.HALF_OPEN


async def test_b18_force_open_while_open_moves_the_deadline(clock: ManualClock) -> None:
    """B18: force_open(d) on an open circuit sets open_until = now + d without a new event."""
    breaker = make(clock)
    await trip(breaker)
    events: list[StateChange] = []
    breaker.on_state_change(events.append)
    breaker.force_open(5.0)
    assert breaker.stats().retry_after == pytest.approx(5.0)
    clock.advance(5.0)
    assert breaker.state is CircuitState.HALF_OPEN
    assert [e.to_state for e in events] == [CircuitState.HALF_OPEN]


@pytest.mark.parametrize("duration", [0.0, -1.0, float("nan"), float("inf")])
async def test_b18_force_open_rejects_a_bad_duration(clock: ManualClock, duration: float) -> None:
    """B18: force_open with a non-positive or non-finite duration raises ValueError."""
    breaker = make(clock)
    with pytest.raises(ValueError, match="duration"):
        breaker.force_open(duration)
    assert breaker.state is CircuitState.CLOSED


# -- B19 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "budget"),
    [
        ({"success_threshold": 3}, 3),
        ({"success_threshold": 1}, 1),
        ({"success_threshold": 2, "half_open_max_calls": 4}, 4),
        ({"success_threshold": 3, "half_open_max_calls": 1}, 1),
    ],
)
@pytest.mark.parametrize("give_back", ["release", "ignored_error"])
async def test_b19_probe_budget(
    clock: ManualClock, settings: dict[str, int], budget: int, give_back: str
) -> None:
    """B19: K probes pass (K defaults to success_threshold), then rejections; a release refills."""
    breaker = make(clock, **settings)
    await half_open(breaker, clock)
    probes = [await breaker.acquire() for _ in range(budget)]
    assert all(p.is_probe for p in probes)
    assert breaker.stats().half_open_in_flight == budget
    error = await rejection(breaker)
    assert error.reason == "half_open_full"
    if give_back == "release":
        await probes[0].release()
    else:
        await probes[0].record_error(InvalidRequest("bad"))
    assert breaker.stats().half_open_in_flight == budget - 1
    probes[0] = await breaker.acquire()
    assert (await rejection(breaker)).reason == "half_open_full"
    assert breaker.state is CircuitState.HALF_OPEN
    for probe in probes:
        await probe.release()


# -- B20 --------------------------------------------------------------------------------


@pytest.mark.parametrize("budget", [1, 3])
async def test_b20_budget_holds_under_a_burst(clock: ManualClock, budget: int) -> None:
    """B20: 100 tasks acquiring at the instant open_until passes: exactly K admitted, one event."""
    breaker = make(clock, success_threshold=budget)
    events: list[StateChange] = []
    breaker.on_state_change(events.append)
    await trip(breaker)
    gate = asyncio.Event()

    async def attempt() -> Permit | CircuitOpenError:
        await gate.wait()
        try:
            return await breaker.acquire()
        except CircuitOpenError as exc:
            return exc

    tasks = [asyncio.create_task(attempt()) for _ in range(100)]
    await asyncio.sleep(0)
    clock.advance(RESET)
    gate.set()
    results = await asyncio.gather(*tasks)
    admitted = [r for r in results if isinstance(r, Permit)]
    rejected = [r for r in results if isinstance(r, CircuitOpenError)]
    assert len(admitted) == budget
    assert {r.reason for r in rejected} == {"half_open_full"}
    assert [e.to_state for e in events] == [CircuitState.OPEN, CircuitState.HALF_OPEN]
    assert breaker.stats().rejected == 100 - budget
    for permit in admitted:
        await permit.release()


async def test_b20_burst_of_calls_invokes_the_callable_k_times(clock: ManualClock) -> None:
    """B20: with probes in flight, a burst of 100 call()s reaches the callable only K times."""
    breaker = make(clock, success_threshold=2)
    await trip(breaker)
    clock.advance(RESET)
    release = asyncio.Event()
    invoked = 0

    async def probe() -> str:
        nonlocal invoked
        invoked += 1
        await release.wait()
        return "ok"

    async def attempt() -> str:
        try:
            return await breaker.call(probe)
        except CircuitOpenError:
            return "rejected"

    tasks = [asyncio.create_task(attempt()) for _ in range(100)]
    for _ in range(3):
        await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*tasks)
    assert invoked == 2
    assert results.count("ok") == 2
    assert breaker.state is CircuitState.CLOSED


# -- B21 --------------------------------------------------------------------------------


async def test_b21_one_probe_failure_reopens(clock: ManualClock) -> None:
    """B21: a failing probe reopens at once with a new open_until and cleared counters."""
    breaker = make(clock, success_threshold=3)
    events: list[StateChange] = []
    breaker.on_state_change(events.append)
    await half_open(breaker, clock)
    other = await breaker.acquire()
    await breaker.call(_ok)
    clock.advance(1.0)
    with pytest.raises(ServerError):
        await breaker.call(_raise, failure())
    stats = breaker.stats()
    assert stats.state is CircuitState.OPEN
    assert (stats.circuit_opens, stats.half_open_in_flight, stats.consecutive_failures) == (
        2,
        0,
        0,
    )
    assert events[-1].reason == "probe_failed"
    assert events[-1].open_until == clock.now + RESET
    assert stats.retry_after == pytest.approx(RESET)
    await other.success()  # the other probe's verdict is stale now
    assert breaker.state is CircuitState.OPEN
    assert breaker.stats().stale_outcomes == 1


# -- B22 --------------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [1, 2, 3, 5])
async def test_b22_success_threshold(clock: ManualClock, threshold: int) -> None:
    """B22: S-1 probe successes keep HALF_OPEN, the Sth closes."""
    breaker = make(clock, success_threshold=threshold)
    events: list[StateChange] = []
    await half_open(breaker, clock)
    breaker.on_state_change(events.append)
    for _ in range(threshold - 1):
        await breaker.call(_ok)
        assert breaker.state is CircuitState.HALF_OPEN
    await breaker.call(_ok)
    assert breaker.state is CircuitState.CLOSED
    assert [(e.to_state, e.reason) for e in events] == [(CircuitState.CLOSED, "probes_succeeded")]


async def test_b22_failure_in_between_restarts_the_streak(clock: ManualClock) -> None:
    """B22: a failure between probe successes reopens; the next half-open needs S new ones."""
    breaker = make(clock, success_threshold=3)
    await half_open(breaker, clock)
    await breaker.call(_ok)
    await breaker.call(_ok)
    with pytest.raises(ServerError):
        await breaker.call(_raise, failure())
    assert breaker.state is CircuitState.OPEN
    clock.advance(RESET)
    await breaker.call(_ok)
    await breaker.call(_ok)
    assert breaker.state is CircuitState.HALF_OPEN
    await breaker.call(_ok)
    assert breaker.state is CircuitState.CLOSED


# -- B24 --------------------------------------------------------------------------------


async def _hang(started: asyncio.Event) -> None:
    started.set()
    await asyncio.Event().wait()


async def end_probe_ignored(breaker: CircuitBreaker, ending: str) -> None:
    """Run one probe that ends without a verdict, the way ``ending`` says."""
    if ending == "release":
        await (await breaker.acquire()).release()
    elif ending == "invalid_request":
        with pytest.raises(InvalidRequest):
            await breaker.call(_raise, InvalidRequest("bad"))
    elif ending == "auth":
        with pytest.raises(AuthenticationFailed):
            await breaker.call(_raise, AuthenticationFailed("key"))
    elif ending == "unexpected":
        with pytest.raises(ZeroDivisionError):
            await breaker.call(_raise, ZeroDivisionError("a bug in the caller"))
    elif ending == "keyboard_interrupt":
        with pytest.raises(KeyboardInterrupt):
            breaker.call_sync(_raise_sync, KeyboardInterrupt())
    elif ending == "context_exit":
        permit = await breaker.acquire()
        with pytest.raises(asyncio.CancelledError):
            async with permit:
                raise asyncio.CancelledError
    else:
        started = asyncio.Event()
        task = asyncio.create_task(breaker.call(_hang, started))
        await started.wait()
        assert breaker.stats().half_open_in_flight == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


@pytest.mark.parametrize(
    "ending",
    [
        "release",
        "invalid_request",
        "auth",
        "unexpected",
        "cancelled",
        "keyboard_interrupt",
        "context_exit",
    ],
)
async def test_b24_ignored_probes_do_not_wedge(clock: ManualClock, ending: str) -> None:
    """B24: a probe ending IGNORED (cancellation included) frees its slot; the circuit can close."""
    breaker = make(clock, success_threshold=2, half_open_max_calls=1)
    await half_open(breaker, clock)
    for _ in range(3):  # several in a row: no slot leaks
        await end_probe_ignored(breaker, ending)
        stats = breaker.stats()
        assert (stats.state, stats.half_open_in_flight) == (CircuitState.HALF_OPEN, 0)
    assert breaker.stats().ignored == 3
    await breaker.call(_ok)
    await breaker.call(_ok)
    assert breaker.state is CircuitState.CLOSED


async def test_b24_a_dropped_permit_gives_its_slot_back(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """B24: a probe permit garbage-collected without a report frees its slot and logs a warning."""
    breaker = make(clock, success_threshold=1)
    await half_open(breaker, clock)
    permit: Permit | None = await breaker.acquire()
    assert breaker.stats().half_open_in_flight == 1
    del permit
    gc.collect()
    assert breaker.stats().half_open_in_flight == 0
    assert "circuit_permit_leaked" in caplog.messages
    await breaker.call(_ok)
    assert breaker.state is CircuitState.CLOSED


# -- B25 --------------------------------------------------------------------------------


async def test_b25_hung_probe_lease_expires(clock: ManualClock) -> None:
    """B25: a probe that never reports frees its slot after probe_lease_ttl; still HALF_OPEN."""
    breaker = make(clock, success_threshold=2, half_open_max_calls=1, probe_lease_ttl=10.0)
    await half_open(breaker, clock)
    hung = await breaker.acquire()
    clock.advance(9.999)
    error = await rejection(breaker)
    assert error.reason == "half_open_full"
    assert error.retry_after == pytest.approx(0.001)
    clock.advance(0.001)
    fresh = await breaker.acquire()
    assert fresh.is_probe
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.stats().half_open_in_flight == 1
    # The hung probe's late verdict is a real observation of this half-open period: it
    # counts, but cannot free a slot a second time.
    await hung.success()
    stats = breaker.stats()
    assert (stats.state, stats.half_open_in_flight) == (CircuitState.HALF_OPEN, 1)
    await fresh.success()
    assert breaker.state is CircuitState.CLOSED


async def test_b25_all_hung_probes_expire_together(clock: ManualClock) -> None:
    """B25: with every slot held by hung probes, all slots come back at the lease expiry."""
    breaker = make(clock, success_threshold=3, probe_lease_ttl=60.0)
    await half_open(breaker, clock)
    hung = [await breaker.acquire() for _ in range(3)]
    clock.advance(60.0)
    fresh = [await breaker.acquire() for _ in range(3)]
    assert (await rejection(breaker)).reason == "half_open_full"
    for permit in hung + fresh:
        await permit.release()


# -- B26 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("release", "release"),
        ("success", "success"),
        ("failure", "failure"),
        ("release", "failure"),
        ("success", "release"),
    ],
)
async def test_b26_a_permit_counts_once_in_half_open(
    clock: ManualClock, first: str, second: str
) -> None:
    """B26: reporting a probe permit twice changes nothing the second time; slots never exceed K."""
    breaker = make(clock, success_threshold=3, half_open_max_calls=2)
    await half_open(breaker, clock)
    permit = await breaker.acquire()

    async def report(how: str) -> None:
        if how == "release":
            await permit.release()
        elif how == "success":
            await permit.success()
        else:
            await permit.failure(failure())

    await report(first)
    assert permit.done
    before = breaker.stats()
    await report(second)
    after = breaker.stats()
    assert after == before
    if after.state is CircuitState.HALF_OPEN:
        held = [await breaker.acquire() for _ in range(2)]
        assert (await rejection(breaker)).reason == "half_open_full"
        for h in held:
            await h.release()


async def test_b26_a_permit_counts_once_in_closed(clock: ManualClock) -> None:
    """B26: a failure reported twice on one closed-state permit counts once."""
    breaker = make(clock, failure_threshold=2)
    permit = await breaker.acquire()
    await permit.failure(failure())
    await permit.failure(failure())
    await permit.record_error(failure())
    stats = breaker.stats()
    assert (stats.state, stats.total_failures, stats.consecutive_failures) == (
        CircuitState.CLOSED,
        1,
        1,
    )


async def test_b26_a_stale_release_cannot_raise_the_budget(clock: ManualClock) -> None:
    """B26: releasing a permit from an earlier generation frees no current probe slot."""
    breaker = make(clock, success_threshold=1)
    held = await breaker.acquire()  # closed era
    await half_open(breaker, clock)
    probe = await breaker.acquire()
    await held.release()
    assert (await rejection(breaker)).reason == "half_open_full"
    assert breaker.stats().half_open_in_flight == 1
    await probe.release()
