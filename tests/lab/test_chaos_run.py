"""The chaos lab's data side: per-second bins by start time, requests in flight, scenarios."""

from __future__ import annotations

import asyncio
import math

import pytest

from vex_llm import MockProvider
from vex_llm.lab import (
    INTERRUPTED,
    SCENARIOS,
    CallRecord,
    ChaosRun,
    FaultWindow,
    Scenario,
    bin_edges,
    bin_of,
    drive,
    per_second,
    run_chaos,
)
from vex_llm.testing import Fault, ManualClock


def call(started: float, latency: float, ok: bool = True) -> CallRecord:
    """A bare-side request record."""
    return CallRecord("bare", started, latency, ok, "primary" if ok else None)


def test_requests_count_in_the_second_they_started() -> None:
    """Outcome and latency belong to the start second, however long the request ran."""
    stats = per_second(
        [call(0.2, 0.1), call(0.9, 3.0, ok=False), call(1.5, 0.2), call(2.0, 0.05)],
        duration=3.0,
    )
    assert [s.start for s in stats] == [0.0, 1.0, 2.0]
    assert [(s.requests, s.succeeded) for s in stats] == [(2, 1), (1, 1), (1, 1)]
    assert stats[0].success_rate == 0.5
    assert (stats[0].p50, stats[0].p99) == (0.1, 3.0)
    assert (stats[1].p50, stats[2].p50) == (0.2, 0.05)


def test_stuck_requests_show_in_flight_while_nothing_starts() -> None:
    """A hung request is in flight (and failing) in every second it waits, though none start."""
    stats = per_second([call(0.5, 5.0, ok=False), call(0.0, 0.25)], duration=4.0)
    assert [s.requests for s in stats] == [2, 0, 0, 0]
    assert math.isnan(stats[1].success_rate)
    assert math.isnan(stats[1].p50)
    assert [s.in_flight for s in stats] == pytest.approx([0.75, 1.0, 1.0, 1.0])
    assert [s.in_flight_failing for s in stats] == pytest.approx([0.5, 1.0, 1.0, 1.0])


def test_in_flight_is_a_time_weighted_mean_up_to_the_end() -> None:
    """Eight requests stuck through a bin count 8; a short last bin is weighed by its length."""
    stuck = [call(0.0, 10.0, ok=False) for _ in range(8)]
    stats = per_second([*stuck, call(2.0, 0.25)], duration=2.5)
    assert len(stats) == 3
    assert [s.in_flight for s in stats] == pytest.approx([8.0, 8.0, 8.5])  # 0.25 s of 0.5
    assert [s.in_flight_failing for s in stats] == pytest.approx([8.0, 8.0, 8.0])


def test_bins_of_another_width() -> None:
    """Bins can be wider than a second; requests fall into the bin of their start."""
    stats = per_second([call(0.5, 0.1), call(2.5, 0.1, ok=False)], duration=4.0, width=2.0)
    assert [(s.start, s.requests, s.succeeded) for s in stats] == [(0.0, 1, 1), (2.0, 1, 0)]
    assert [s.in_flight for s in stats] == pytest.approx([0.05, 0.05])


@pytest.mark.parametrize(
    ("duration", "edges"),
    [
        (3.0, [0.0, 1.0, 2.0, 3.0]),
        (10.02, [*range(10), 10.02]),  # an interrupted run: no 0.02 s bin of noise
        (2.6, [0.0, 1.0, 2.0, 2.6]),
        (0.3, [0.0, 0.3]),
    ],
)
def test_the_last_bin_absorbs_the_remainder(duration: float, edges: list[float]) -> None:
    """Bins are a second wide; the last is half to one and a half seconds long."""
    assert bin_edges(duration) == pytest.approx(edges)
    assert bin_of(bin_edges(duration), duration) == len(edges) - 2
    assert bin_of(bin_edges(duration), 0.0) == 0


@pytest.mark.parametrize(("duration", "width"), [(0.0, 1.0), (5.0, 0.0), (-1.0, 1.0)])
def test_bins_need_a_positive_span(duration: float, width: float) -> None:
    """A non-positive duration or width is refused."""
    with pytest.raises(ValueError, match="> 0"):
        per_second([], duration=duration, width=width)


def test_run_bins_one_side() -> None:
    """ChaosRun.per_second bins one side's requests over the run's duration."""
    run = ChaosRun("outage", 7, 2.0, 1)
    run.calls += [call(0.1, 0.1), CallRecord("resilient", 0.1, 0.1, False, None, "Timeout")]
    assert [s.succeeded for s in run.per_second("bare")] == [1, 0]
    assert [s.requests for s in run.per_second("resilient")] == [1, 0]


def test_description_is_derived_from_the_windows() -> None:
    """The scenario's words come from its fault windows: what, how often, from when to when."""
    scenario = Scenario(
        "custom",
        lambda d: (
            FaultWindow(fault=Fault.error(502), start=0.5 * d, end=0.75 * d, rate=0.25),
            FaultWindow(fault=Fault.reset(), start=1.0, end=2.0),
            FaultWindow(fault=Fault.reset(), start=3.0, end=3.5),
        ),
    )
    assert scenario.describe(10.0) == (
        "primary answers 25% of requests with 502, from 5 s to 7.5 s; "
        "drops every request with a TCP reset, during 1-2 s, 3-3.5 s (of a 10 s run)"
    )


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@pytest.mark.parametrize("duration", [20.0, 7.0])
def test_every_scenario_says_when_its_faults_run(name: str, duration: float) -> None:
    """Each scenario's description names every window's start and end, and its rate (or
    the quota it enforces)."""
    scenario = SCENARIOS[name]
    text = scenario.describe(duration)
    windows = scenario.windows(duration)
    assert windows or scenario.quota
    if scenario.quota is not None:
        requests, window = scenario.quota
        assert f"allows {requests} requests per {window:g} s" in text
    for window in windows:
        assert f"{round(window.start, 2):g}" in text
        assert f"{round(window.end, 2):g} s" in text
        assert 0 <= window.start < window.end <= duration
        if window.rate < 1:
            assert f"{window.rate:.0%}" in text
        else:
            assert "every" in text
    assert text.endswith(f"(of a {duration:g} s run)")
    assert ("streams" in text or "every stream" in text) == scenario.stream


class _Calls(list[CallRecord]):
    """A run's call list that says when it holds a few records."""

    def __init__(self, enough: int) -> None:
        super().__init__()
        self.filled = asyncio.Event()
        self._enough = enough

    def append(self, record: CallRecord) -> None:
        """Record a call; set ``filled`` once there are enough."""
        super().append(record)
        if len(self) >= self._enough:
            self.filled.set()


@pytest.mark.fake_server
async def test_a_cancelled_run_keeps_what_it_measured() -> None:
    """Cancelled mid-run, run_chaos fills in the run it handed out, marks it, and re-raises."""
    runs: list[ChaosRun] = []
    calls = _Calls(enough=6)

    def on_start(run: ChaosRun, *_: object) -> None:
        run.calls = calls  # the traffic records into it from here on
        runs.append(run)

    task = asyncio.create_task(
        run_chaos(SCENARIOS["outage"], duration=60.0, concurrency=2, pause=0.01, on_start=on_start)
    )
    async with asyncio.timeout(30):
        await calls.filled.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    run = runs[0]
    assert run.interrupted_at is not None
    assert 0 < run.interrupted_at < 60.0
    assert len(run.calls) >= 6
    assert all(c.ok or c.error for c in run.calls)
    assert [c.started for c in run.calls] == sorted(c.started for c in run.calls)
    assert {hit.arm for hit in run.upstream} == {"bare", "resilient"}
    data = run.to_json()
    assert data["interrupted_at_s"] == run.interrupted_at
    assert data["fault_windows"] == [[pytest.approx(15.0), pytest.approx(39.0)]]


async def test_requests_unanswered_when_traffic_stops_are_recorded_as_interrupted() -> None:
    """Cancelling drive() records each request still waiting as failed, 'Interrupted'."""
    clock = ManualClock(100.0)
    entered = asyncio.Event()

    async def hang(seconds: float) -> None:
        entered.set()
        await asyncio.Event().wait()

    provider = MockProvider.smart(latency=1.0, sleep=hang)
    sink: list[CallRecord] = []
    task = asyncio.create_task(
        drive(
            provider,
            arm="bare",
            duration=60.0,
            concurrency=1,
            started_at=99.0,
            prompt=str,
            sink=sink,
            clock=clock,
        )
    )
    await entered.wait()
    clock.advance(2.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sink == [CallRecord("bare", 1.0, 2.5, False, None, INTERRUPTED)]
    stats = per_second(sink, duration=4.0)
    assert [s.in_flight_failing for s in stats] == pytest.approx([0.0, 1.0, 1.0, 0.5])


async def test_the_rate_limits_run_shows_the_stack_avoiding_429s() -> None:
    """A primary with a real quota: the bare client collects 429s, the stack almost none."""
    run = await run_chaos(SCENARIOS["rate-limits"], duration=3.0, concurrency=4, pause=0.02)
    bare, stack = run.summary("bare"), run.summary("resilient")
    assert bare.rate_limited > 10
    # Its limiter and the quota refill in step; only latency jitter (a request admitted
    # early arriving late, beside later ones) can let the odd 429 through.
    assert stack.rate_limited <= max(2, bare.rate_limited // 10)
    assert stack.success_rate == 1.0
