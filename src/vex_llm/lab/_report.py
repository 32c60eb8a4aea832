"""The chaos lab's report: every call, circuit change and upstream hit of a run, and the
summaries, per-second bins and JSON drawn from them."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Final

INTERRUPTED: Final = "Interrupted"
"""The ``error`` of a request still unanswered when its run was stopped."""


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One user request as the lab saw it.

    Args:
        arm: Which side made it (``"bare"`` or ``"resilient"``).
        started: Seconds since the run started.
        latency: Seconds until the answer or the error.
        ok: Whether an answer came back.
        provider: Who answered (``LlmResponse.provider``), if anyone.
        error: The error's class name, if it failed.
    """

    arm: str
    started: float
    latency: float
    ok: bool
    provider: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class StateMark:
    """A circuit state change seen during a run.

    Args:
        arm: The side whose breaker changed.
        breaker: The breaker's name.
        at: Seconds since the run started.
        state: The new state's value (``"closed"``, ``"open"``, ``"half_open"``).
    """

    arm: str
    breaker: str
    at: float
    state: str


@dataclass(frozen=True, slots=True)
class UpstreamHit:
    """One request that reached a fake upstream (from its journal).

    Args:
        arm: The side that sent it.
        server: The upstream's name.
        at: Seconds since the run started.
        status: The HTTP status it answered with (0 when the connection was dropped).
    """

    arm: str
    server: str
    at: float
    status: int


@dataclass(frozen=True, slots=True)
class ArmSummary:
    """What one side of a run achieved.

    Args:
        arm: The side.
        requests: User requests made.
        succeeded: Requests answered.
        success_rate: ``succeeded / requests`` (0 with no requests).
        p50: Median latency in seconds (all requests, failed ones too).
        p99: 99th percentile latency in seconds.
        upstream_calls: Requests that reached any upstream.
        upstream_per_request: ``upstream_calls / requests``.
        errors: Failed requests by error class.
        rate_limited: Upstream answers that were 429s (the provider's rate limit).
    """

    arm: str
    requests: int
    succeeded: int
    success_rate: float
    p50: float
    p99: float
    upstream_calls: int
    upstream_per_request: float
    errors: dict[str, int]
    rate_limited: int = 0


@dataclass(frozen=True, slots=True)
class SecondStats:
    """One side during one time bin of a run (one second by default).

    Requests count in the bin they *started* in, so a request that hangs for 5 s and then
    fails marks the second it was sent as failing. ``in_flight`` shows what a start-time
    view cannot: requests still waiting while no new one could start.

    Args:
        start: Seconds since the run started, where the bin begins.
        requests: Requests started in the bin.
        succeeded: Of those, how many were answered.
        p50: Median latency in seconds of those requests (NaN when none started).
        p99: 99th percentile latency in seconds (NaN when none started).
        in_flight: Mean number of requests in flight during the bin (time-weighted, so
            eight requests stuck through the whole bin count 8.0).
        in_flight_failing: The part of ``in_flight`` made of requests that then failed.
    """

    start: float
    requests: int
    succeeded: int
    p50: float
    p99: float
    in_flight: float
    in_flight_failing: float

    @property
    def success_rate(self) -> float:
        """Answered share of the requests started in the bin, in [0, 1] (NaN when none)."""
        return self.succeeded / self.requests if self.requests else math.nan


def bin_edges(duration: float, width: float = 1.0) -> list[float]:
    """Edges of the time bins over ``[0, duration]``: every ``width`` seconds.

    The last bin absorbs the remainder, so it is between half and one and a half widths
    long: a run interrupted at 10.02 s has ten bins, the last 1.02 s long, rather than an
    eleventh of 0.02 s whose per-second rates would be noise.

    Args:
        duration: Seconds to cover (> 0).
        width: Seconds per bin (> 0).

    Returns:
        ``count + 1`` ascending edges from 0 to ``duration``.

    Raises:
        ValueError: On a non-positive duration or width.
    """
    if not (duration > 0 and width > 0 and math.isfinite(duration / width)):
        msg = f"duration and width must be > 0 seconds, got {duration} and {width}"
        raise ValueError(msg)
    count = max(1, math.floor(duration / width + 0.5))
    return [i * width for i in range(count)] + [duration]


def bin_of(edges: Sequence[float], at: float) -> int:
    """The index of the bin holding time ``at`` (clamped to the first and last bin)."""
    return min(len(edges) - 2, max(0, bisect.bisect_right(edges, at) - 1))


def per_second(
    records: Sequence[CallRecord], duration: float, *, width: float = 1.0
) -> list[SecondStats]:
    """Bin one side's requests over ``[0, duration]``: by start time, and in flight.

    Args:
        records: The requests (usually one side's).
        duration: Seconds the bins cover (see ``bin_edges`` for the last bin).
        width: Seconds per bin.

    Returns:
        One ``SecondStats`` per bin, in time order.

    Raises:
        ValueError: On a non-positive duration or width.
    """
    edges = bin_edges(duration, width)
    count = len(edges) - 1
    started: list[list[CallRecord]] = [[] for _ in range(count)]
    busy = [0.0] * count
    failing = [0.0] * count
    for record in records:
        started[bin_of(edges, record.started)].append(record)
        # Time in flight, spread over the bins it overlaps (clipped to the covered span).
        begin, end = record.started, min(record.started + record.latency, duration)
        if end <= begin:
            continue
        for spanned in range(bin_of(edges, begin), bin_of(edges, end) + 1):
            low, high = edges[spanned], edges[spanned + 1]
            share = max(0.0, min(end, high) - max(begin, low)) / (high - low)
            busy[spanned] += share
            if not record.ok:
                failing[spanned] += share
    stats: list[SecondStats] = []
    for index, inside in enumerate(started):
        latencies = sorted(r.latency for r in inside)
        stats.append(
            SecondStats(
                start=edges[index],
                requests=len(inside),
                succeeded=sum(1 for r in inside if r.ok),
                p50=percentile(latencies, 0.50) if inside else math.nan,
                p99=percentile(latencies, 0.99) if inside else math.nan,
                in_flight=busy[index],
                in_flight_failing=failing[index],
            )
        )
    return stats


@dataclass
class ChaosRun:
    """Everything one chaos run measured.

    Args:
        scenario: The scenario's name.
        seed: Its seed.
        duration: Seconds of traffic per arm.
        concurrency: Concurrent requesters per arm.
        calls: Every user request.
        states: Circuit state changes.
        upstream: Requests that reached the fake upstreams.
        breakers: The breakers' names on the resilient side, in provider order.
        description: What the scenario does, in words (``vex-llm chaos --list``).
        fault_windows: When faults were in force, as ``(start, end)`` seconds of the run.
        interrupted_at: Seconds into the run when it was interrupted (``None``: it ran
            to the end). Requests still running then are in ``calls`` as failed, with
            the error ``"Interrupted"``.
    """

    scenario: str
    seed: int
    duration: float
    concurrency: int
    calls: list[CallRecord] = field(default_factory=list)
    states: list[StateMark] = field(default_factory=list)
    upstream: list[UpstreamHit] = field(default_factory=list)
    breakers: list[str] = field(default_factory=list)
    description: str = ""
    fault_windows: list[tuple[float, float]] = field(default_factory=list)
    interrupted_at: float | None = None

    def arms(self) -> list[str]:
        """The sides in the order they first appear (bare first when both ran)."""
        seen: dict[str, None] = {}
        for record in self.calls:
            seen.setdefault(record.arm, None)
        return sorted(seen, key=lambda arm: (arm != "bare", arm))

    def summary(self, arm: str) -> ArmSummary:
        """Summarise one side.

        Args:
            arm: ``"bare"`` or ``"resilient"``.

        Returns:
            The summary.
        """
        records = [r for r in self.calls if r.arm == arm]
        latencies = sorted(r.latency for r in records)
        succeeded = sum(1 for r in records if r.ok)
        errors: dict[str, int] = {}
        for record in records:
            if record.error is not None:
                errors[record.error] = errors.get(record.error, 0) + 1
        upstream = sum(1 for hit in self.upstream if hit.arm == arm)
        count = len(records)
        return ArmSummary(
            arm=arm,
            requests=count,
            succeeded=succeeded,
            success_rate=succeeded / count if count else 0.0,
            p50=percentile(latencies, 0.50),
            p99=percentile(latencies, 0.99),
            upstream_calls=upstream,
            upstream_per_request=upstream / count if count else 0.0,
            errors=dict(sorted(errors.items())),
            rate_limited=sum(1 for h in self.upstream if h.arm == arm and h.status == 429),
        )

    @property
    def measured(self) -> float:
        """Seconds of the run that were measured: ``duration``, or less if interrupted."""
        if self.interrupted_at is None:
            return self.duration
        return max(1e-3, min(self.duration, self.interrupted_at))

    def per_second(self, arm: str, *, width: float = 1.0) -> list[SecondStats]:
        """One side's requests binned over the measured part of the run (``per_second``)."""
        return per_second([r for r in self.calls if r.arm == arm], self.measured, width=width)

    def to_json(self) -> dict[str, object]:
        """The run as JSON-ready data (summaries first, then the raw series)."""
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "duration_s": self.duration,
            "concurrency": self.concurrency,
            "description": self.description,
            "fault_windows": [list(window) for window in self.fault_windows],
            "interrupted_at_s": self.interrupted_at,
            "summary": {arm: asdict(self.summary(arm)) for arm in self.arms()},
            "breakers": list(self.breakers),
            "calls": [asdict(record) for record in self.calls],
            "states": [asdict(mark) for mark in self.states],
            "upstream": [asdict(hit) for hit in self.upstream],
        }


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of sorted values (0.0 for no values)."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(fraction * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])
