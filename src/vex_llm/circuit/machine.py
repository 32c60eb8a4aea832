"""The circuit breaker's state machine: pure, deterministic, no I/O, no clock reads.

Every function takes the record it works on, the config, and the current time ``now``
(and, where the open duration is jittered, a uniform sample ``u``), and returns what
happened. The record is the only thing they change. The in-process breaker runs these
functions under a lock; the Redis store runs the same rules inside its Lua scripts. The
property tests drive them against a small reference model.
The record itself is in ``_record``, the windows of ratio mode in ``_windows``.
"""

from __future__ import annotations

import math
from typing import Final

from ._config import CircuitConfig, CircuitState, Outcome
from ._durations import open_duration
from ._reads import snapshot, window_rates
from ._record import CircuitRecord, Cold, Tally, count_value
from ._results import Admission, ManualAction, Transition, TransitionReason
from ._windows import CountWindow, TimeWindow, minimum_calls, new_window

CLOSED: Final = CircuitState.CLOSED
OPEN: Final = CircuitState.OPEN
HALF_OPEN: Final = CircuitState.HALF_OPEN

__all__ = [
    "CLOSED",
    "HALF_OPEN",
    "OPEN",
    "CircuitRecord",
    "Cold",
    "CountWindow",
    "Tally",
    "TimeWindow",
    "acquire",
    "advance",
    "count_value",
    "force",
    "open_duration",
    "record_outcome",
    "release",
    "snapshot",
    "window_rates",
]


# -- transitions ----------------------------------------------------------------------


def _clear_counts(record: CircuitRecord, cold: Cold) -> None:
    record.failures = 0
    cold.successes = 0
    cold.leases.clear()
    cold.window = None


# Every transition writes the state before it bumps the generation: the lock-free
# closed-state path reads the generation first and the state second, so a call that sees
# CLOSED can only hold an older generation, whose outcome is then counted as stale.


def _trip(
    record: CircuitRecord,
    config: CircuitConfig,
    now: float,
    reason: TransitionReason,
    retry_after: float | None,
    u: float,
) -> Transition:
    cold = record.ensure_cold()
    previous = record.state
    cold.open_count += 1
    cold.opens += 1
    cold.open_until = now + open_duration(config, cold.open_count, u, retry_after)
    cold.isolated = False
    _clear_counts(record, cold)
    record.state = OPEN
    record.generation += 1
    return Transition(previous, OPEN, record.generation, reason, open_until=cold.open_until)


def _close(record: CircuitRecord, reason: TransitionReason, *, manual: bool) -> Transition:
    cold = record.ensure_cold()
    previous = record.state
    cold.open_count = 0
    cold.isolated = False
    _clear_counts(record, cold)
    record.state = CLOSED
    record.generation += 1
    return Transition(previous, CLOSED, record.generation, reason, manual=manual)


def advance(record: CircuitRecord, now: float) -> Transition | None:
    """Apply the lazy OPEN -> HALF_OPEN step if the open period is over.

    Args:
        record: The circuit.
        now: Current clock time.

    Returns:
        The transition, if this call made it.
    """
    cold = record.cold
    if record.state is not OPEN or cold is None or cold.isolated or now < cold.open_until:
        return None
    _clear_counts(record, cold)
    record.state = HALF_OPEN
    record.generation += 1
    return Transition(OPEN, HALF_OPEN, record.generation, "reset_timeout")


def acquire(record: CircuitRecord, config: CircuitConfig, now: float) -> Admission:
    """Decide whether a call may run now; take a probe lease in half-open.

    Args:
        record: The circuit.
        config: Its settings.
        now: Current clock time.

    Returns:
        The admission (rejections are counted in ``rejected``).
    """
    transition = advance(record, now)
    state = record.state
    if state is CLOSED:
        return Admission(True, CLOSED, record.generation)
    cold = record.ensure_cold()
    if state is OPEN:
        next(cold.rejected)
        if cold.isolated:
            return Admission(False, OPEN, record.generation, reason="isolated")
        return Admission(
            False, OPEN, record.generation, retry_after=cold.open_until - now, reason="open"
        )
    leases = cold.leases
    if leases:
        for lease, expires in list(leases.items()):
            if expires <= now:
                # A probe that never reported frees its slot: the breaker cannot wedge.
                del leases[lease]
    if len(leases) < config.probe_budget:
        cold.next_lease += 1
        leases[cold.next_lease] = now + config.probe_lease_ttl
        return Admission(
            True, HALF_OPEN, record.generation, lease=cold.next_lease, transition=transition
        )
    next(cold.rejected)
    return Admission(
        False,
        HALF_OPEN,
        record.generation,
        retry_after=max(0.0, min(leases.values()) - now),
        reason="half_open_full",
        transition=transition,
    )


def record_outcome(
    record: CircuitRecord,
    config: CircuitConfig,
    generation: int,
    lease: int,
    outcome: Outcome,
    now: float,
    *,
    duration: float | None = None,
    retry_after: float | None = None,
    u: float = 0.0,
) -> Transition | None:
    """Count one finished call and make any transition it causes.

    Outcomes of calls admitted in another generation change no state (the breaker moved
    on while they ran); they are counted as ``stale``. The one exception: a stale failure
    with a Retry-After hint may lengthen the current open period (never shorten it).

    Args:
        record: The circuit.
        config: Its settings.
        generation: The generation the call was admitted in.
        lease: Its probe lease (0 if none).
        outcome: How the call counts.
        now: Current clock time.
        duration: How long the call took, for slow-call counting (seconds).
        retry_after: The provider's Retry-After hint, for a failure that carried one.
        u: A uniform sample in [0, 1) for jittering a new open period.

    Returns:
        The transition, if this outcome caused one.
    """
    slow = (
        config.slow_call_duration is not None
        and duration is not None
        and duration > config.slow_call_duration
    )
    if generation != record.generation:
        _count_stale(record, config, outcome, now, retry_after)
        return None
    state = record.state
    if state is OPEN:
        return None  # no call is admitted in OPEN; nothing of this generation can count
    if outcome is Outcome.IGNORED:
        cold = record.ensure_cold()
        cold.ignored += 1
        if lease:
            cold.leases.pop(lease, None)
        return None
    failed = outcome is Outcome.FAILURE
    if failed or slow:
        cold = record.ensure_cold()
        cold.failures_total += failed
        cold.slow_total += slow
    if state is HALF_OPEN:
        return _judge_probe(record, config, lease, failed, slow, now, retry_after, u)
    return _judge_closed(record, config, failed, slow, now, retry_after, u)


def _judge_closed(
    record: CircuitRecord,
    config: CircuitConfig,
    failed: bool,
    slow: bool,
    now: float,
    retry_after: float | None,
    u: float,
) -> Transition | None:
    """A closed-state verdict: a long Retry-After may trip at once, else the mode's rule."""
    if (
        failed
        and retry_after is not None
        and config.retry_after == "trip"
        and retry_after >= config.retry_after_trip_min
    ):
        return _trip(record, config, now, "retry_after", retry_after, u)
    if config.mode == "consecutive":
        return _judge_streak(record, config, failed or slow, now, retry_after, u)
    return _judge_window(record, config, failed, slow, now, retry_after, u)


def _count_stale(
    record: CircuitRecord,
    config: CircuitConfig,
    outcome: Outcome,
    now: float,
    retry_after: float | None,
) -> None:
    """An outcome from another generation: counted as stale; a Retry-After may still
    lengthen the current open period (never shorten it)."""
    cold = record.ensure_cold()
    cold.stale += 1
    if (
        outcome is Outcome.FAILURE
        and retry_after is not None
        and config.retry_after != "ignore"
        and record.state is OPEN
        and not cold.isolated
    ):
        cold.open_until = max(cold.open_until, now + min(retry_after, config.open_cap))


def _judge_probe(
    record: CircuitRecord,
    config: CircuitConfig,
    lease: int,
    failed: bool,
    slow: bool,
    now: float,
    retry_after: float | None,
    u: float,
) -> Transition | None:
    """A half-open probe's verdict: any failure re-opens, enough successes close."""
    cold = record.ensure_cold()
    if lease:
        cold.leases.pop(lease, None)
    if failed or slow:
        return _trip(record, config, now, "probe_failed", retry_after if failed else None, u)
    cold.successes += 1
    if cold.successes >= config.success_threshold:
        return _close(record, "probes_succeeded", manual=False)
    return None


def _judge_streak(
    record: CircuitRecord,
    config: CircuitConfig,
    bad: bool,
    now: float,
    retry_after: float | None,
    u: float,
) -> Transition | None:
    """Consecutive mode in the closed state: a bad call extends the streak."""
    if not bad:
        record.failures = 0
        return None
    record.failures += 1
    if record.failures >= config.failure_threshold:
        return _trip(record, config, now, "failure_threshold", retry_after, u)
    return None


def _judge_window(
    record: CircuitRecord,
    config: CircuitConfig,
    failed: bool,
    slow: bool,
    now: float,
    retry_after: float | None,
    u: float,
) -> Transition | None:
    """Ratio mode in the closed state: add the call to the window, then judge its rates."""
    record.failures = record.failures + 1 if failed else 0
    cold = record.ensure_cold()
    window = cold.window
    if window is None:
        window = cold.window = new_window(config)
    window.add(failed, slow, now)
    calls, failures, slows = window.totals(now)
    if calls < minimum_calls(config):
        return None
    if failures / calls >= config.failure_rate_threshold:
        return _trip(record, config, now, "failure_rate", retry_after, u)
    if slows / calls >= config.slow_call_rate_threshold:
        return _trip(record, config, now, "slow_call_rate", None, u)
    return None


def release(record: CircuitRecord, generation: int, lease: int) -> None:
    """Give back a probe slot without a verdict (idempotent; stale permits are no-ops).

    Args:
        record: The circuit.
        generation: The generation the call was admitted in.
        lease: Its probe lease (0 if none).
    """
    cold = record.cold
    if lease and cold is not None and generation == record.generation:
        cold.leases.pop(lease, None)


def force(
    record: CircuitRecord,
    config: CircuitConfig,
    action: ManualAction,
    now: float,
    *,
    duration: float | None = None,
) -> Transition | None:
    """Apply a manual action.

    Args:
        record: The circuit.
        config: Its settings.
        action: ``"isolate"`` (open until closed by hand), ``"open"`` (open for
            ``duration`` seconds, default ``reset_timeout``), ``"close"``, or ``"reset"``
            (close and clear every count, even when already closed).
        now: Current clock time.
        duration: Seconds to stay open, for ``"open"``.

    Returns:
        The transition, if the state changed (``"reset"`` always bumps the generation).
    """
    cold = record.ensure_cold()
    previous = record.state
    if action == "close":
        if previous is CLOSED:
            return None
        return _close(record, "manual", manual=True)
    if action == "reset":
        transition = _close(record, "reset", manual=True)
        cold.failures_total = cold.opens = cold.ignored = 0
        cold.rejected = Tally()
        record.calls = None  # total_requests restarts too (it counts admitted + rejected)
        cold.stale = cold.slow_total = 0
        return transition if previous is not CLOSED else None
    if action == "isolate":
        if previous is OPEN and cold.isolated:
            return None
        _clear_counts(record, cold)
        cold.isolated = True
        record.state = OPEN
        record.generation += 1
        return Transition(previous, OPEN, record.generation, "manual", manual=True)
    seconds = open_hold(config, duration)
    cold.open_until = now + seconds
    if previous is OPEN and not cold.isolated:
        return None
    _clear_counts(record, cold)
    cold.isolated = False
    record.state = OPEN
    record.generation += 1
    return Transition(
        previous, OPEN, record.generation, "manual", open_until=cold.open_until, manual=True
    )


def open_hold(config: CircuitConfig, duration: float | None) -> float:
    """Seconds a manual ``force_open`` holds the circuit open: ``duration``, else the
    config's ``reset_timeout``. Any finite positive hold is allowed (an operator may hold a
    circuit open for years), unlike the bounded durations of a config.

    Raises:
        ValueError: On a zero, negative, NaN or infinite ``duration``.
    """
    seconds = config.reset_timeout if duration is None else duration
    if not (math.isfinite(seconds) and seconds > 0):
        msg = f"force_open duration must be a finite number of seconds > 0, got {seconds!r}"
        raise ValueError(msg)
    return seconds
