"""The chaos lab's scenarios: named, seeded fault patterns on the primary upstream."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ..testing import Fault


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultWindow:
    """One fault the primary upstream injects during part of a run.

    Args:
        fault: What goes wrong.
        start: Seconds into the run when it starts.
        end: Seconds into the run when it stops.
        rate: Share of the requests in the window that get it (seeded draws).
    """

    fault: Fault
    start: float
    end: float
    rate: float = 1.0


Windows = Callable[[float], tuple[FaultWindow, ...]]
"""A scenario's faults for a run of the given duration in seconds."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named, seeded fault pattern on the primary upstream (the secondary stays healthy).

    Args:
        name: What to type after ``vex-llm chaos``.
        windows: The faults and when they are in force, for a run's duration.
        stream: Whether the traffic streams its answers.
        quota: ``(requests, window)``: the primary enforces a provider-like rate limit
            (429 past it, rate-limit headers on every answer), and the stack is told the
            same budget (``stack(rate_limits=...)``).
    """

    name: str
    windows: Windows
    stream: bool = False
    quota: tuple[int, float] | None = None

    def describe(self, duration: float) -> str:
        """Say what the scenario does in a run of ``duration`` seconds, from its windows.

        Args:
            duration: Seconds of traffic.

        Returns:
            One line, e.g. ``primary answers every request with 503 from 5 s to 13 s
            (of a 20 s run)``.
        """
        groups: dict[tuple[Fault, float], list[FaultWindow]] = {}
        for window in self.windows(duration):
            groups.setdefault((window.fault, window.rate), []).append(window)
        parts = []
        for (fault, rate), spans in groups.items():
            if len(spans) == 1:
                when = f"from {_seconds(spans[0].start)} to {_seconds(spans[0].end)}"
            else:
                when = "during " + ", ".join(f"{_number(w.start)}-{_seconds(w.end)}" for w in spans)
            parts.append(f"{_what(fault, rate, stream=self.stream)}, {when}")
        if self.quota is not None:
            requests, per = self.quota
            parts.insert(0, f"allows {requests} requests per {_seconds(per)} (429 past it)")
        faults = "; ".join(parts) or "nothing goes wrong"
        return f"primary {faults} (of a {_seconds(duration)} run)"


def _number(value: float) -> str:
    return f"{round(value, 2):g}"


def _seconds(value: float) -> str:
    return f"{_number(value)} s"


def _what(fault: Fault, rate: float, *, stream: bool) -> str:
    """A fault in words, for the requests it takes."""
    noun = "stream" if stream else "request"
    whom = f"every {noun}" if rate >= 1 else f"{rate:.0%} of {noun}s"
    match fault.kind:
        case "status":
            wait = "" if fault.retry_after is None else f" and Retry-After: {fault.retry_after}"
            return f"answers {whom} with {fault.status}{wait}"
        case "hang":
            return f"accepts {whom} and never answers"
        case "slow_first_token":
            return f"holds the first token of {whom} for {_seconds(fault.seconds or 0.0)}"
        case "cut":
            return f"ends {whom} after {fault.after_chunks} chunks without a finish reason"
        case "reset":
            return f"drops {whom} with a TCP reset"
        case _:
            return f"injects {fault.kind} into {whom}"


def _outage(duration: float) -> tuple[FaultWindow, ...]:
    return (FaultWindow(fault=Fault.error(503), start=0.25 * duration, end=0.65 * duration),)


def _silent(duration: float) -> tuple[FaultWindow, ...]:
    return (FaultWindow(fault=Fault.hang(), start=0.25 * duration, end=0.65 * duration),)


def _no_faults(duration: float) -> tuple[FaultWindow, ...]:
    return ()


def _slow_first_token(duration: float) -> tuple[FaultWindow, ...]:
    fault = Fault.slow_first_token(3.0)
    return (FaultWindow(fault=fault, start=0.2 * duration, end=0.7 * duration, rate=0.5),)


def _stream_cuts(duration: float) -> tuple[FaultWindow, ...]:
    fault = Fault.cut(after_chunks=3)
    return (FaultWindow(fault=fault, start=0.15 * duration, end=0.75 * duration, rate=0.4),)


def _flapping(duration: float) -> tuple[FaultWindow, ...]:
    period = max(1.0, duration / 10)
    starts = itertools.takewhile(lambda t: t < duration, itertools.count(period, 2 * period))
    return tuple(
        FaultWindow(fault=Fault.reset(), start=t, end=min(t + period, duration)) for t in starts
    )


SCENARIOS: Final = {
    s.name: s
    for s in (
        Scenario("outage", _outage),
        Scenario("silent", _silent),
        Scenario("rate-limits", _no_faults, quota=(20, 2.0)),
        Scenario("slow-first-token", _slow_first_token, stream=True),
        Scenario("stream-cuts", _stream_cuts, stream=True),
        Scenario("flapping", _flapping),
    )
}
"""The scenarios ``vex-llm chaos`` knows, by name."""

DEFAULT_SCENARIO: Final = "outage"
