"""RedisStore's Lua scripts against the pure machine: Hypothesis drives random operation
sequences through both stores' interface and every answer must agree.

Redis time is pinned to the ManualClock to within one call's latency, so the clock moves in
steps of 1/8 s from 1/16 s and every duration stays >= 35 ms away from that grid: no
comparison ever falls on a boundary where microseconds of latency could decide it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _circuits import pinned_offset, unique_prefix
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _redis_server import RedisServer
from vex_llm import CircuitConfig, MemoryStore, Outcome, RedisStore
from vex_llm.circuit import Admission, Snapshot, Ticket, Transition
from vex_llm.testing import ManualClock

pytestmark = pytest.mark.redis

STEP = 0.125
NAME = "p"


@st.composite
def configs(draw: st.DrawFn) -> CircuitConfig:
    mode = draw(st.sampled_from(["consecutive", "ratio"]))
    window = draw(st.sampled_from(["count", "time"]))
    return CircuitConfig(
        failure_threshold=draw(st.integers(1, 3)),
        success_threshold=draw(st.integers(1, 2)),
        half_open_max_calls=draw(st.integers(1, 2)),
        reset_timeout=1.04,
        backoff_multiplier=draw(st.sampled_from([1.0, 2.0])),
        max_reset_timeout=6.04,
        probe_lease_ttl=2.04,
        retry_after=draw(st.sampled_from(["extend", "trip", "ignore"])),
        retry_after_trip_min=1.0,
        mode=mode,
        window=window,
        window_size=4,
        window_seconds=4.0,
        window_buckets=4,
        minimum_calls=draw(st.integers(1, 4)),
        failure_rate_threshold=draw(st.sampled_from([0.5, 1.0])),
        slow_call_duration=draw(st.sampled_from([None, 1.0])),
        slow_call_rate_threshold=0.5,
    )


acquire = st.tuples(st.just("acquire"), st.just(0))
settle = st.tuples(
    st.just("settle"),
    st.integers(0, 3),
    st.sampled_from([Outcome.SUCCESS, Outcome.FAILURE, Outcome.FAILURE, Outcome.IGNORED]),
    st.sampled_from([0.5, 2.0]),
    st.sampled_from([None, 0.54, 3.04, 7.04]),
)
# Weighted towards calls, so sequences reach half-open, backoff, stale hints and windows.
operations = st.one_of(
    acquire,
    acquire,
    acquire,
    settle,
    settle,
    settle,
    st.tuples(st.just("advance"), st.integers(1, 24)),
    st.tuples(st.just("advance"), st.integers(1, 24)),
    st.tuples(st.just("force"), st.sampled_from(["isolate", "open", "close", "reset"])),
)


def near(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    # Redis time is BASE + clock() plus the latency between computing the offset and the
    # script running: on a loaded machine that reaches tens of milliseconds. Decisions
    # stay exact (durations keep >= 35 ms away from the clock's grid); reported durations
    # may differ by that latency, so they compare within 30 ms.
    return abs(a - b) < 0.03


def same_transition(a: Transition | None, b: Transition | None) -> bool:
    if a is None or b is None:
        return a is b
    key = ("from_state", "to_state", "generation", "reason", "manual")
    return all(getattr(a, k) == getattr(b, k) for k in key) and near(a.open_until, b.open_until)


def same_admission(a: Admission, b: Admission) -> bool:
    key = ("admitted", "state", "generation", "lease", "reason")
    return (
        all(getattr(a, k) == getattr(b, k) for k in key)
        and near(a.retry_after, b.retry_after)
        and same_transition(a.transition, b.transition)
    )


def same_snapshot(a: Snapshot, b: Snapshot) -> bool:
    key = (
        "state",
        "generation",
        "total_requests",
        "total_failures",
        "circuit_opens",
        "rejected",
        "ignored",
        "stale",
        "slow_calls",
        "consecutive_failures",
        "isolated",
        "half_open_in_flight",
    )
    return (
        all(getattr(a, k) == getattr(b, k) for k in key)
        and near(a.retry_after, b.retry_after)
        and same_transition(a.transition, b.transition)
    )


async def replay(url: str, config: CircuitConfig, steps: list[tuple[Any, ...]]) -> None:
    clock = ManualClock(start=STEP / 2)
    memory = MemoryStore()
    redis = RedisStore(url, prefix=unique_prefix(), timeout=2.0, clock_offset=pinned_offset(clock))
    tickets: list[tuple[Ticket, Ticket]] = []
    try:
        # Connect and load every script first: a first call's extra round trips would
        # otherwise shift the pinned Redis time by milliseconds.
        warm = await redis.acquire("warm-up", config, 0.0)
        await redis.record("warm-up", config, Ticket(0, 0, "x"), Outcome.SUCCESS, 0.0)
        await redis.release("warm-up", Ticket(0, 0, "x"))
        await redis.force("warm-up", config, "close", 0.0)
        await redis.snapshot("warm-up", config, 0.0)
        assert warm.admitted
        for step in steps:
            now = clock()
            match step:
                case ("advance", count):
                    clock.advance(count * STEP)
                case ("acquire", _):
                    a = await memory.acquire(NAME, config, now)
                    b = await redis.acquire(NAME, config, now)
                    assert same_admission(a, b), (step, a, b)
                    if a.admitted:
                        tickets.append(
                            (
                                Ticket(a.generation, a.lease, a.incarnation),
                                Ticket(b.generation, b.lease, b.incarnation),
                            )
                        )
                case ("settle", index, outcome, duration, hint):
                    if not tickets:
                        continue
                    ticket_a, ticket_b = tickets.pop(index % len(tickets))
                    hint = hint if outcome is Outcome.FAILURE else None
                    results = [
                        await store.record(
                            NAME, config, ticket, outcome, now, duration=duration, retry_after=hint
                        )
                        for store, ticket in ((memory, ticket_a), (redis, ticket_b))
                    ]
                    assert same_transition(*results), (step, *results)
                case ("force", action):
                    results = [
                        await store.force(NAME, config, action, now, duration=1.54)
                        for store in (memory, redis)
                    ]
                    assert same_transition(*results), (step, *results)
            a_snap = await memory.snapshot(NAME, config, clock())
            b_snap = await redis.snapshot(NAME, config, clock())
            assert same_snapshot(a_snap, b_snap), (step, a_snap, b_snap)
        assert not redis.degraded
    finally:
        await redis.aclose()


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(config=configs(), steps=st.lists(operations, min_size=10, max_size=60))
def test_redis_scripts_agree_with_the_machine(
    redis_server: RedisServer, config: CircuitConfig, steps: list[tuple[Any, ...]]
) -> None:
    """Every admission, transition and snapshot of RedisStore equals MemoryStore's."""
    asyncio.run(replay(redis_server.url, config, steps))
