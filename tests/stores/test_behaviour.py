"""One behavioural suite, run through CircuitBreaker's public API over MemoryStore and
over RedisStore (breaker-semantics.md §4). Redis time is pinned to the ManualClock, to
within the latency of one call, so boundaries are tested with a 10 ms margin."""

from __future__ import annotations

import asyncio

import pytest
from _circuits import Circuits

from vex_llm import (
    CircuitBreaker,
    CircuitConfig,
    CircuitOpenError,
    CircuitState,
    InvalidRequest,
    RateLimited,
    ServerError,
    StateChange,
)

EPS = 0.01
CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


async def ok() -> str:
    return "ok"


async def down() -> str:
    raise ServerError("upstream down", status=503)


async def outcome(breaker: CircuitBreaker, fn: object = ok) -> str:
    """Run one call: "ok", "failed", "ignored" or "rejected:<reason>"."""
    try:
        await breaker.call(fn)  # type: ignore[arg-type]
    except CircuitOpenError as exc:
        return f"rejected:{exc.reason}"
    except ServerError:
        return "failed"
    except (InvalidRequest, RateLimited):
        return "raised"
    return "ok"


async def trip(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        assert await outcome(breaker, down) == "failed"


def recorder(breaker: CircuitBreaker) -> list[StateChange]:
    events: list[StateChange] = []
    breaker.on_state_change(events.append)
    return events


async def test_trips_on_the_nth_consecutive_failure(circuits: Circuits) -> None:
    """B01: threshold-1 failures keep it closed; the threshold-th opens it."""
    breaker = circuits.make(CircuitConfig(failure_threshold=3))
    await trip(breaker, 2)
    assert await breaker.current_state() is CLOSED
    await trip(breaker, 1)
    assert await breaker.current_state() is OPEN
    assert breaker.state is OPEN


async def test_a_success_resets_the_streak(circuits: Circuits) -> None:
    """B02: 4 failures, a success, 4 failures: closed with a streak of 4."""
    breaker = circuits.make(CircuitConfig(failure_threshold=5))
    await trip(breaker, 4)
    assert await outcome(breaker) == "ok"
    await trip(breaker, 4)
    stats = await breaker.fetch_stats()
    assert (stats.state, stats.consecutive_failures, stats.total_failures) == (CLOSED, 4, 8)


async def test_ignored_outcomes_are_neutral(circuits: Circuits) -> None:
    """B03: caller errors neither count nor reset the streak; they are counted as ignored."""
    breaker = circuits.make(CircuitConfig(failure_threshold=3))

    async def caller_error() -> str:
        raise InvalidRequest("bad prompt")

    await trip(breaker, 2)
    for _ in range(3):
        assert await outcome(breaker, caller_error) == "raised"
    stats = await breaker.fetch_stats()
    assert (stats.state, stats.consecutive_failures, stats.ignored) == (CLOSED, 2, 3)
    await trip(breaker, 1)
    assert await breaker.current_state() is OPEN


async def test_open_rejects_without_calling(circuits: Circuits) -> None:
    """B13/B14: open rejects at once, counts it, and says when the next probe is due."""
    breaker = circuits.make(CircuitConfig(failure_threshold=2, reset_timeout=30.0))
    await trip(breaker, 2)
    circuits.clock.advance(10.0)
    called = []

    async def spy() -> str:
        called.append(1)
        return "ok"

    with pytest.raises(CircuitOpenError) as caught:
        await breaker.call(spy)
    assert called == []
    assert caught.value.reason == "open"
    assert caught.value.retry_after == pytest.approx(20.0, abs=EPS)
    stats = await breaker.fetch_stats()
    assert (stats.rejected, stats.total_requests, stats.total_failures) == (1, 3, 2)
    assert stats.retry_after == pytest.approx(20.0, abs=EPS)


async def test_half_opens_when_the_open_period_ends(circuits: Circuits) -> None:
    """B15: open until the deadline; after it a state read or a call moves to half-open."""
    breaker = circuits.make(CircuitConfig(failure_threshold=1, reset_timeout=5.0))
    events = recorder(breaker)
    await trip(breaker, 1)
    circuits.clock.advance(5.0 - EPS)
    assert await outcome(breaker) == "rejected:open"
    circuits.clock.advance(2 * EPS)
    assert await breaker.current_state() is HALF_OPEN
    assert [(e.from_state, e.to_state) for e in events] == [(CLOSED, OPEN), (OPEN, HALF_OPEN)]
    assert events[1].reason == "reset_timeout"


async def test_the_probe_budget_is_held(circuits: Circuits) -> None:
    """B19: K probes are admitted, the next is rejected as half_open_full; a release frees one."""
    config = CircuitConfig(failure_threshold=1, reset_timeout=1.0, half_open_max_calls=2)
    breaker = circuits.make(config)
    await trip(breaker, 1)
    circuits.clock.advance(1.0 + EPS)
    first = await breaker.acquire()
    second = await breaker.acquire()
    assert first.is_probe
    assert second.is_probe
    with pytest.raises(CircuitOpenError) as caught:
        await breaker.acquire()
    assert caught.value.reason == "half_open_full"
    assert (await breaker.fetch_stats()).half_open_in_flight == 2
    await first.release()
    third = await breaker.acquire()
    assert third.is_probe
    await second.release()
    await third.release()


async def test_probe_successes_close_the_circuit(circuits: Circuits) -> None:
    """success_threshold probe successes close it; counters and backoff start over."""
    breaker = circuits.make(CircuitConfig(failure_threshold=1, success_threshold=2))
    events = recorder(breaker)
    await trip(breaker, 1)
    circuits.clock.advance(30.0 + EPS)
    assert await outcome(breaker) == "ok"
    assert await breaker.current_state() is HALF_OPEN
    assert await outcome(breaker) == "ok"
    assert await breaker.current_state() is CLOSED
    assert events[-1].reason == "probes_succeeded"


async def test_a_failed_probe_reopens(circuits: Circuits) -> None:
    """B21: one failed probe opens the circuit again with a new open period."""
    breaker = circuits.make(CircuitConfig(failure_threshold=1, reset_timeout=5.0))
    events = recorder(breaker)
    await trip(breaker, 1)
    circuits.clock.advance(5.0 + EPS)
    assert await outcome(breaker, down) == "failed"
    stats = await breaker.fetch_stats()
    assert (stats.state, stats.circuit_opens) == (OPEN, 2)
    assert stats.retry_after == pytest.approx(5.0, abs=EPS)
    assert events[-1].reason == "probe_failed"


async def test_a_lost_probe_frees_its_slot_when_its_lease_ends(circuits: Circuits) -> None:
    """A probe that never reports cannot wedge half-open: its lease expires."""
    config = CircuitConfig(
        failure_threshold=1, reset_timeout=1.0, half_open_max_calls=1, probe_lease_ttl=10.0
    )
    breaker = circuits.make(config)
    await trip(breaker, 1)
    circuits.clock.advance(1.0 + EPS)
    lost = await breaker.acquire()
    circuits.clock.advance(10.0 - 2 * EPS)
    assert await outcome(breaker) == "rejected:half_open_full"
    circuits.clock.advance(4 * EPS)
    assert await outcome(breaker) == "ok"
    await lost.release()


async def test_a_cancelled_probe_gives_its_slot_back(circuits: Circuits) -> None:
    """Cancellation inside a probe releases its slot (counts neither way)."""
    config = CircuitConfig(failure_threshold=1, reset_timeout=1.0, half_open_max_calls=1)
    breaker = circuits.make(config)
    await trip(breaker, 1)
    circuits.clock.advance(1.0 + EPS)
    started = asyncio.Event()

    async def hang() -> str:
        started.set()
        await asyncio.Event().wait()
        return "never"

    task = asyncio.create_task(breaker.call(hang))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await outcome(breaker) == "ok"
    assert (await breaker.fetch_stats()).ignored == 1


async def test_a_late_outcome_is_stale(circuits: Circuits) -> None:
    """B16/§6.7: calls admitted before a trip change nothing when they end."""
    breaker = circuits.make(CircuitConfig(failure_threshold=2))
    late_success, late_failure = await breaker.acquire(), await breaker.acquire()
    await trip(breaker, 2)
    before = await breaker.fetch_stats()
    await late_success.success()
    await late_failure.failure(ServerError("late", status=503))
    after = await breaker.fetch_stats()
    assert (after.state, after.circuit_opens, after.stale_outcomes) == (OPEN, 1, 2)
    assert after.retry_after == pytest.approx(before.retry_after or 0.0, abs=EPS)


async def test_a_late_rate_limit_extends_the_open_period(circuits: Circuits) -> None:
    """§6.8: a stale 429's Retry-After may lengthen the current open period, never shorten it."""
    breaker = circuits.make(CircuitConfig(failure_threshold=1, reset_timeout=10.0))
    short, long = await breaker.acquire(), await breaker.acquire()
    await trip(breaker, 1)
    await short.failure(RateLimited("slow down", retry_after=2.0))
    assert (await breaker.fetch_stats()).retry_after == pytest.approx(10.0, abs=EPS)
    await long.failure(RateLimited("slow down", retry_after=100.0))
    stats = await breaker.fetch_stats()
    assert stats.retry_after == pytest.approx(100.0, abs=EPS)
    assert (stats.circuit_opens, stats.stale_outcomes) == (1, 2)


async def test_retry_after_lengthens_the_open_period(circuits: Circuits) -> None:
    """retry_after="extend": the tripping 429's hint sets a longer open period (capped)."""
    config = CircuitConfig(failure_threshold=1, reset_timeout=10.0, max_reset_timeout=60.0)
    breaker = circuits.make(config)

    async def limited() -> str:
        raise RateLimited("slow down", retry_after=45.0)

    assert await outcome(breaker, limited) == "raised"
    assert (await breaker.fetch_stats()).retry_after == pytest.approx(45.0, abs=EPS)
    other = circuits.make(config, name="other")

    async def very_limited() -> str:
        raise RateLimited("slow down", retry_after=1000.0)

    assert await outcome(other, very_limited) == "raised"
    assert (await other.fetch_stats()).retry_after == pytest.approx(60.0, abs=EPS)


@pytest.mark.parametrize(("hint", "expected"), [(2.0, OPEN), (0.5, CLOSED)])
async def test_retry_after_trip_opens_at_once(
    circuits: Circuits, hint: float, expected: CircuitState
) -> None:
    """retry_after="trip": a 429 with a hint >= retry_after_trip_min opens at once."""
    config = CircuitConfig(failure_threshold=5, retry_after="trip", retry_after_trip_min=1.0)
    breaker = circuits.make(config)
    events = recorder(breaker)

    async def limited() -> str:
        raise RateLimited("slow down", retry_after=hint)

    assert await outcome(breaker, limited) == "raised"
    assert await breaker.current_state() is expected
    assert [e.reason for e in events] == (["retry_after"] if expected is OPEN else [])


async def test_open_periods_back_off_up_to_the_cap(circuits: Circuits) -> None:
    """§6.8: each re-open without a close multiplies the open period, capped."""
    config = CircuitConfig(
        failure_threshold=1, reset_timeout=10.0, backoff_multiplier=2.0, max_reset_timeout=25.0
    )
    breaker = circuits.make(config)
    await trip(breaker, 1)
    seen = []
    for _ in range(3):
        stats = await breaker.fetch_stats()
        assert stats.retry_after is not None
        seen.append(round(stats.retry_after))
        circuits.clock.advance(stats.retry_after + EPS)
        assert await outcome(breaker, down) == "failed"
    assert seen == [10, 20, 25]


async def test_jitter_only_shortens_the_open_period(circuits: Circuits) -> None:
    """§6.8: jitter draws the open period down from the cap, never above it."""
    config = CircuitConfig(failure_threshold=1, reset_timeout=10.0, jitter=0.5)
    for index in range(5):
        breaker = circuits.make(config, name=f"j{index}")
        await trip(breaker, 1)
        retry_after = (await breaker.fetch_stats()).retry_after
        assert retry_after is not None
        assert 5.0 - EPS <= retry_after <= 10.0 + EPS


async def test_ratio_mode_count_window(circuits: Circuits) -> None:
    """B06-B08: judged from minimum_calls on, inclusive threshold, oldest outcome evicted."""
    config = CircuitConfig(
        mode="ratio", window="count", window_size=4, minimum_calls=4, failure_rate_threshold=0.5
    )
    breaker = circuits.make(config)
    for fn in (down, ok, ok, ok, ok, down):
        await outcome(breaker, fn)
    assert await breaker.current_state() is CLOSED  # the first failure was evicted
    events = recorder(breaker)
    await outcome(breaker, down)  # window: ok ok down down -> 0.5
    assert await breaker.current_state() is OPEN
    assert events[0].reason == "failure_rate"

    young = circuits.make(config, name="young")
    for _ in range(3):
        await outcome(young, down)
    assert await young.current_state() is CLOSED  # 3 calls < minimum_calls


@pytest.mark.parametrize(("gap", "expected"), [(9.5, OPEN), (10.0, CLOSED), (10.5, CLOSED)])
async def test_ratio_mode_time_window_rolls(
    circuits: Circuits, gap: float, expected: CircuitState
) -> None:
    """B09/B10: a rolling time window; an outcome is gone exactly window_seconds later."""
    config = CircuitConfig(
        mode="ratio", window="time", window_seconds=10.0, window_buckets=10, minimum_calls=2
    )
    breaker = circuits.make(config)
    await outcome(breaker, down)
    circuits.clock.advance(gap)
    await outcome(breaker, down)
    assert await breaker.current_state() is expected


async def test_slow_successes_count_as_failures_in_consecutive_mode(circuits: Circuits) -> None:
    """B11: slower than slow_call_duration (strictly) counts; exactly as long does not."""
    breaker = circuits.make(CircuitConfig(failure_threshold=2, slow_call_duration=1.0))

    def taking(seconds: float) -> object:
        async def call() -> str:
            circuits.clock.advance(seconds)
            return "ok"

        return call

    assert await outcome(breaker, taking(1.5)) == "ok"
    assert await outcome(breaker, taking(1.0)) == "ok"
    assert (await breaker.fetch_stats()).consecutive_failures == 0
    assert await outcome(breaker, taking(1.5)) == "ok"
    assert await outcome(breaker, taking(2.0)) == "ok"
    stats = await breaker.fetch_stats()
    assert (stats.state, stats.slow_calls) == (OPEN, 3)


async def test_slow_call_rate_trips_ratio_mode(circuits: Circuits) -> None:
    """B11: in ratio mode slow calls have their own rate and trip with 0 % failures."""
    config = CircuitConfig(
        mode="ratio",
        window_size=10,
        minimum_calls=2,
        slow_call_duration=1.0,
        slow_call_rate_threshold=0.5,
    )
    breaker = circuits.make(config)
    events = recorder(breaker)

    async def slow() -> str:
        circuits.clock.advance(2.0)
        return "ok"

    await outcome(breaker, ok)
    await outcome(breaker, slow)
    assert await breaker.current_state() is OPEN
    assert events[0].reason == "slow_call_rate"


async def test_isolation_holds_until_closed_by_hand(circuits: Circuits) -> None:
    """Manual isolate: rejected as isolated, no retry_after, no recovery by time; close ends it."""
    breaker = circuits.make(CircuitConfig(reset_timeout=1.0))
    await breaker.apply("isolate")
    circuits.clock.advance(1000.0)
    with pytest.raises(CircuitOpenError) as caught:
        await breaker.call(ok)
    assert (caught.value.reason, caught.value.retry_after) == ("isolated", None)
    stats = await breaker.fetch_stats()
    assert (stats.state, stats.isolated, stats.retry_after) == (OPEN, True, None)
    await breaker.apply("close")
    assert await outcome(breaker) == "ok"


async def test_open_by_hand_for_a_duration(circuits: Circuits) -> None:
    """B18: apply("open", duration=d) rejects until d has passed, then probes."""
    breaker = circuits.make(CircuitConfig(reset_timeout=1.0))
    await breaker.apply("open", duration=20.0)
    circuits.clock.advance(20.0 - EPS)
    assert await outcome(breaker) == "rejected:open"
    circuits.clock.advance(2 * EPS)
    assert await outcome(breaker) == "ok"
    assert await breaker.current_state() is HALF_OPEN


async def test_reset_clears_every_count(circuits: Circuits) -> None:
    """reset: a fresh closed circuit, counters and backoff cleared."""
    breaker = circuits.make(CircuitConfig(failure_threshold=1))
    await trip(breaker, 1)
    await outcome(breaker)
    await breaker.apply("reset")
    stats = await breaker.fetch_stats()
    counts = (stats.total_requests, stats.total_failures, stats.circuit_opens, stats.rejected)
    assert (stats.state, counts) == (CLOSED, (0, 0, 0, 0))


async def test_counters_count_every_call(circuits: Circuits) -> None:
    """total_requests counts rejected calls too (as the seed); rejected and failures apart."""
    breaker = circuits.make(CircuitConfig(failure_threshold=3))
    await outcome(breaker)
    await trip(breaker, 3)
    await outcome(breaker)
    await outcome(breaker)
    stats = await breaker.fetch_stats()
    assert (stats.total_requests, stats.rejected, stats.total_failures, stats.circuit_opens) == (
        6,
        2,
        3,
        1,
    )


async def test_breakers_with_one_name_are_one_circuit(circuits: Circuits) -> None:
    """B49: failures through one breaker open it for another, which never calls its function."""
    first = circuits.make(CircuitConfig(failure_threshold=2))
    second = circuits.make(CircuitConfig(failure_threshold=2))
    await trip(first, 2)
    assert await outcome(second) == "rejected:open"


async def test_names_never_share_state(circuits: Circuits) -> None:
    """B53: circuits "a" and "b" over one store are independent."""
    a = circuits.make(CircuitConfig(failure_threshold=1), name="a")
    b = circuits.make(CircuitConfig(failure_threshold=1), name="b")
    await trip(a, 1)
    assert await outcome(b) == "ok"
    assert await b.current_state() is CLOSED


async def test_each_transition_is_reported_once(circuits: Circuits) -> None:
    """B51: across breakers of one circuit, each transition reaches exactly one of them."""
    config = CircuitConfig(failure_threshold=2, reset_timeout=1.0, success_threshold=1)
    first, second = circuits.make(config), circuits.make(config)
    events = recorder(first)
    second_events = recorder(second)
    await outcome(first, down)
    await outcome(second, down)
    circuits.clock.advance(1.0 + EPS)
    assert await outcome(first) == "ok"
    everything = [(e.from_state, e.to_state) for e in events + second_events]
    assert sorted(everything, key=str) == sorted(
        [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)], key=str
    )
    assert [(e.from_state, e.to_state) for e in second_events] == [(CLOSED, OPEN)]
