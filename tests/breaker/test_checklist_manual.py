"""Checklist F and G (reference §4, B36-B44): manual control and state-change events."""

from __future__ import annotations

import pytest

from vex_llm import (
    CircuitBreaker,
    CircuitConfig,
    CircuitOpenError,
    CircuitState,
    CircuitStats,
    MemoryStore,
    Permit,
    ServerError,
    StateChange,
)
from vex_llm.testing import ManualClock

RESET = 30.0
CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


def failure() -> ServerError:
    return ServerError("boom", status=503)


async def _raise(error: BaseException) -> None:
    raise error


async def _ok() -> str:
    return "ok"


async def fail(breaker: CircuitBreaker) -> None:
    with pytest.raises(ServerError):
        await breaker.call(_raise, failure())


async def trip(breaker: CircuitBreaker) -> None:
    while breaker.state is not OPEN:
        await fail(breaker)


def make(
    clock: ManualClock, store: MemoryStore | None = None, **settings: object
) -> CircuitBreaker:
    config = CircuitConfig(**{"failure_threshold": 2, "reset_timeout": RESET, **settings})  # type: ignore[arg-type]  # test-built settings
    return CircuitBreaker(config, name="manual", clock=clock, store=store)


def listen(breaker: CircuitBreaker) -> list[StateChange]:
    events: list[StateChange] = []
    breaker.on_state_change(events.append)
    return events


def moves(events: list[StateChange]) -> list[tuple[CircuitState, CircuitState]]:
    return [(e.from_state, e.to_state) for e in events]


async def put_in(breaker: CircuitBreaker, clock: ManualClock, state: str) -> None:
    """Drive a fresh breaker into ``state``."""
    if state in ("open", "half_open"):
        await trip(breaker)
    if state == "half_open":
        clock.advance(RESET)
        assert breaker.state is HALF_OPEN
    if state == "isolated":
        breaker.force_open()


STATES = ["closed", "open", "half_open", "isolated"]


# -- B36 --------------------------------------------------------------------------------


@pytest.mark.parametrize("start", STATES)
async def test_b36_isolate_rejects_until_closed_by_hand(clock: ManualClock, start: str) -> None:
    """B36: force_open() rejects all (reason isolated, no retry_after) and never half-opens."""
    breaker = make(clock)
    await put_in(breaker, clock, start)
    events = listen(breaker)
    breaker.force_open()
    if start != "isolated":
        assert len(events) == 1
        assert (events[0].to_state, events[0].manual, events[0].open_until) == (OPEN, True, None)
    clock.advance(RESET * 1e6)
    for _ in range(3):
        with pytest.raises(CircuitOpenError) as caught:
            await breaker.call(_ok)
        assert (caught.value.reason, caught.value.retry_after) == ("isolated", None)
        with pytest.raises(CircuitOpenError):
            await breaker.acquire()
    stats = breaker.stats()
    assert (stats.state, stats.isolated, stats.retry_after) == (OPEN, True, None)
    assert breaker.is_open()
    breaker.force_closed()
    assert events[-1].to_state is CLOSED
    assert events[-1].manual
    assert all(e.manual for e in events)
    stats = breaker.stats()
    assert (stats.state, stats.isolated, stats.consecutive_failures) == (CLOSED, False, 0)
    assert await breaker.call(_ok) == "ok"


@pytest.mark.parametrize("start", STATES)
async def test_b36_force_closed_from_any_state(clock: ManualClock, start: str) -> None:
    """B36: force_closed() closes from any state with one manual event (none when closed)."""
    breaker = make(clock)
    await put_in(breaker, clock, start)
    if start == "closed":
        await fail(breaker)
    events = listen(breaker)
    breaker.force_closed()
    stats = breaker.stats()
    assert (stats.state, stats.consecutive_failures, stats.half_open_in_flight) == (
        CLOSED,
        1 if start == "closed" else 0,
        0,
    )
    if start == "closed":
        assert events == []  # already closed: not a transition, the streak stays
    else:
        assert [(e.to_state, e.reason, e.manual) for e in events] == [(CLOSED, "manual", True)]


# -- B39 --------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["half_open", "closed", "", "OPEN"])
async def test_b39_unknown_manual_action_is_rejected(clock: ManualClock, action: str) -> None:
    """B39: apply() with an action that is not a manual transition raises and changes nothing."""
    breaker = make(clock)
    events = listen(breaker)
    with pytest.raises(ValueError, match="action"):
        await breaker.apply(action)  # type: ignore[arg-type]  # the misuse under test
    assert breaker.state is CLOSED
    assert events == []


@pytest.mark.parametrize(
    ("action", "state"),
    [("isolate", OPEN), ("open", OPEN), ("close", CLOSED), ("reset", CLOSED)],
)
async def test_b39_apply_runs_the_manual_actions(
    clock: ManualClock, action: str, state: CircuitState
) -> None:
    """B39: apply() accepts exactly the four manual actions."""
    breaker = make(clock)
    await breaker.apply(action, duration=10.0 if action == "open" else None)  # type: ignore[arg-type]  # parametrized
    assert breaker.state is state


# -- B40 --------------------------------------------------------------------------------


@pytest.mark.parametrize("start", STATES)
async def test_b40_reset_from_any_state(clock: ManualClock, start: str) -> None:
    """B40: reset() gives a fresh CLOSED circuit (counters, backoff cleared), one event if moved."""
    breaker = make(clock, backoff_multiplier=2.0)
    await fail(breaker)
    await put_in(breaker, clock, start)
    probes: list[Permit] = []

    async def take_three() -> None:
        for _ in range(3):
            probes.append(await breaker.acquire())

    if start != "closed":
        with pytest.raises(CircuitOpenError):  # half-open: two probes, then a rejection
            await take_three()
    events = listen(breaker)
    breaker.reset()
    stats = breaker.stats()
    assert stats == CircuitStats(
        name="manual", state=CLOSED, total_requests=0, total_failures=0, circuit_opens=0,
        rejected=0, generation=stats.generation,
    )  # fmt: skip
    for probe in probes:
        await probe.release()  # stale now
    if start == "closed":
        assert events == []
    else:
        assert [(e.to_state, e.reason, e.manual) for e in events] == [(CLOSED, "reset", True)]
    # Backoff cleared: the next open lasts reset_timeout again.
    await trip(breaker)
    assert breaker.stats().retry_after == pytest.approx(RESET)


async def test_b40_reset_makes_in_flight_calls_stale(clock: ManualClock) -> None:
    """B40: outcomes of calls admitted before reset() do not count after it."""
    breaker = make(clock)
    held = await breaker.acquire()
    breaker.reset()
    await held.failure(failure())
    stats = breaker.stats()
    assert (stats.total_failures, stats.consecutive_failures, stats.stale_outcomes) == (0, 0, 1)


# -- B41 --------------------------------------------------------------------------------


@pytest.mark.parametrize("start", STATES)
async def test_b41_construction_does_not_clobber_shared_state(
    clock: ManualClock, start: str
) -> None:
    """B41: a second breaker over the same store keeps state, counters and deadline; no events."""
    store = MemoryStore()
    first = make(clock, store)
    await fail(first)
    await put_in(first, clock, start)
    before = first.stats()
    second = make(clock, store)
    events = listen(second)
    assert second.stats() == before
    assert second.state is before.state
    assert events == []
    if start == "open":
        clock.advance(RESET)
        assert second.state is HALF_OPEN
        assert first.state is HALF_OPEN


async def test_b41_other_names_and_stores_are_independent(clock: ManualClock) -> None:
    """B41: breakers with another name, or without the store, are separate circuits."""
    store = MemoryStore()
    first = make(clock, store)
    await trip(first)
    other_name = CircuitBreaker(CircuitConfig(), name="other", clock=clock, store=store)
    own_record = make(clock)
    assert other_name.state is CLOSED
    assert own_record.state is CLOSED
    assert store.names() == ["manual", "other"]


# -- B42 --------------------------------------------------------------------------------


async def test_b42_exactly_one_event_per_real_transition(clock: ManualClock) -> None:
    """B42: a full cycle emits one event per transition and nothing for same-state activity."""
    breaker = make(clock, success_threshold=2)
    events = listen(breaker)
    for _ in range(5):
        await breaker.call(_ok)  # successes in CLOSED: no "closed" events
    await fail(breaker)
    await breaker.call(_ok)
    assert events == []
    held = [await breaker.acquire() for _ in range(3)]
    await trip(breaker)
    for permit in held:
        await permit.failure(failure())  # late failures while OPEN: no second "opened"
    for _ in range(5):
        with pytest.raises(CircuitOpenError):
            await breaker.call(_ok)
    breaker.force_open(RESET)  # already open: moves the deadline only
    breaker.force_closed()
    breaker.force_closed()
    breaker.force_open()
    breaker.force_open()
    breaker.force_closed()
    await trip(breaker)
    clock.advance(RESET)
    assert breaker.state is HALF_OPEN
    assert breaker.state is HALF_OPEN
    breaker.stats()
    await breaker.call(_ok)
    await breaker.call(_ok)
    assert moves(events) == [
        (CLOSED, OPEN),
        (OPEN, CLOSED),
        (CLOSED, OPEN),
        (OPEN, CLOSED),
        (CLOSED, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, CLOSED),
    ]
    generations = [e.generation for e in events]
    assert generations == sorted(set(generations))


async def test_b42_event_fields(clock: ManualClock) -> None:
    """B42: an event names the breaker, both states, the reason, generation, time and deadline."""
    breaker = make(clock)
    events = listen(breaker)
    await trip(breaker)
    (event,) = events
    assert event == StateChange(
        breaker="manual",
        from_state=CLOSED,
        to_state=OPEN,
        reason="failure_threshold",
        generation=breaker.stats().generation,
        at=clock.now,
        open_until=clock.now + RESET,
        manual=False,
    )


async def test_b42_removed_listener_hears_nothing(clock: ManualClock) -> None:
    """B42: the function on_state_change returns removes the listener (twice is harmless)."""
    breaker = make(clock)
    events: list[StateChange] = []
    remove = breaker.on_state_change(events.append)
    remove()
    remove()
    await trip(breaker)
    assert events == []


# -- B43 --------------------------------------------------------------------------------


async def test_b43_listeners_may_read_the_breaker(clock: ManualClock) -> None:
    """B43: a listener reading state and stats inside the callback does not deadlock."""
    breaker = make(clock, success_threshold=1)
    seen: list[tuple[CircuitState, CircuitState, CircuitState]] = []

    def reader(event: StateChange) -> None:
        seen.append((event.to_state, breaker.state, breaker.stats().state))

    breaker.on_state_change(reader)
    await trip(breaker)
    clock.advance(RESET)
    await breaker.call(_ok)
    assert seen == [(OPEN, OPEN, OPEN), (HALF_OPEN, HALF_OPEN, HALF_OPEN), (CLOSED, CLOSED, CLOSED)]


async def test_b43_listener_errors_are_contained(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """B43: a raising listener is logged; the call, the machine and later listeners carry on."""
    breaker = make(clock)

    def broken(event: StateChange) -> None:
        raise RuntimeError("listener bug")

    breaker.on_state_change(broken)
    events = listen(breaker)
    error = failure()
    await fail(breaker)
    with pytest.raises(ServerError) as caught:
        await breaker.call(_raise, error)
    assert caught.value is error  # the caller sees its own error, not the listener's
    assert breaker.state is OPEN
    assert moves(events) == [(CLOSED, OPEN)]
    assert "circuit_listener_failed" in caplog.messages
    breaker.force_closed()
    assert moves(events) == [(CLOSED, OPEN), (OPEN, CLOSED)]


async def test_b43_events_arrive_in_transition_order(clock: ManualClock) -> None:
    """B43: every listener sees the transitions in order, each listener in registration order."""
    breaker = make(clock, success_threshold=1)
    log: list[tuple[str, CircuitState]] = []
    breaker.on_state_change(lambda e: log.append(("first", e.to_state)))
    breaker.on_state_change(lambda e: log.append(("second", e.to_state)))
    await trip(breaker)
    clock.advance(RESET)
    await breaker.call(_ok)
    assert log == [
        ("first", OPEN),
        ("second", OPEN),
        ("first", HALF_OPEN),
        ("second", HALF_OPEN),
        ("first", CLOSED),
        ("second", CLOSED),
    ]


# -- B44 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "trigger", ["call", "acquire", "state", "stats", "is_open", "current_state"]
)
async def test_b44_half_open_event_on_lazy_transition(clock: ManualClock, trigger: str) -> None:
    """B44: the HALF_OPEN event fires once whether a call or a state read makes the step."""
    breaker = make(clock)
    await trip(breaker)
    events = listen(breaker)
    clock.advance(RESET)
    assert events == []  # lazy: nothing happens until someone looks
    if trigger == "call":
        await breaker.call(_ok)
    elif trigger == "acquire":
        await (await breaker.acquire()).release()
    elif trigger == "state":
        assert breaker.state is HALF_OPEN
    elif trigger == "stats":
        assert breaker.stats().state is HALF_OPEN
    elif trigger == "is_open":
        assert not breaker.is_open()
    else:
        assert await breaker.current_state() is HALF_OPEN
    breaker.stats()
    assert [(e.from_state, e.to_state, e.reason) for e in events] == [
        (OPEN, HALF_OPEN, "reset_timeout")
    ]
    assert events[0].at == clock.now


async def test_b43_listener_may_change_the_state(clock: ManualClock) -> None:
    """B43: a listener that makes a manual transition inside the callback does not deadlock."""
    breaker = make(clock)
    events = listen(breaker)

    def close_on_open(event: StateChange) -> None:
        if event.to_state is OPEN:
            breaker.force_closed()

    breaker.on_state_change(close_on_open)
    await fail(breaker)
    await fail(breaker)
    assert breaker.state is CLOSED
    assert moves(events) == [(CLOSED, OPEN), (OPEN, CLOSED)]
