"""The circuit breaker's state machine: pure, deterministic, no I/O, no clock reads.

Every function takes the record it works on, the config, and the current time ``now``
(and, where the open duration is jittered, a uniform sample ``u``), and returns what
happened. The record is the only thing they change. The in-process breaker runs these
functions under a lock; the Redis store runs the same rules inside its Lua scripts. The
property tests drive them against a small reference model.

The record is split in two: the fields a closed-state call touches (``state``,
``generation``, ``failures``, ``calls``) and a ``cold`` part created on the first failure,
rejection or transition. An idle breaker therefore costs a few slots, not a full record.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Final, Literal

from .._errors import RejectReason
from ._config import CircuitConfig, CircuitState, Outcome

CLOSED: Final = CircuitState.CLOSED
OPEN: Final = CircuitState.OPEN
HALF_OPEN: Final = CircuitState.HALF_OPEN

TransitionReason = Literal[
    "failure_threshold",
    "failure_rate",
    "slow_call_rate",
    "retry_after",
    "reset_timeout",
    "probe_failed",
    "probes_succeeded",
    "manual",
    "reset",
]

ManualAction = Literal["open", "isolate", "close", "reset"]


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change, reported to exactly one caller (who emits the event).

    Args:
        from_state: The state before.
        to_state: The state after.
        generation: The generation the new state started.
        reason: Why it happened.
        open_until: When an open period ends (clock seconds), for ``to_state == OPEN``.
        manual: True for ``force_open`` / ``force_closed`` / ``reset``.
    """

    from_state: CircuitState
    to_state: CircuitState
    generation: int
    reason: TransitionReason
    open_until: float | None = None
    manual: bool = False


@dataclass(frozen=True, slots=True)
class Admission:
    """The answer to "may this call go ahead?".

    Args:
        admitted: Whether the call may run.
        state: The state that decided it (after any lazy OPEN -> HALF_OPEN step).
        generation: The generation the call runs in; its outcome counts only there.
        lease: Probe lease id in half-open, 0 otherwise.
        retry_after: For a rejection, seconds until a probe may be admitted (``None``
            when isolated by hand).
        reason: For a rejection: ``"open"``, ``"half_open_full"`` or ``"isolated"``.
        transition: The lazy OPEN -> HALF_OPEN step, if this admission made it.
        incarnation: Identity of the stored state the generation belongs to (shared
            stores; empty for in-process records).
    """

    admitted: bool
    state: CircuitState
    generation: int
    lease: int = 0
    retry_after: float | None = None
    reason: RejectReason | None = None
    transition: Transition | None = None
    incarnation: str = ""


@dataclass(frozen=True, slots=True)
class Ticket:
    """What a store needs to attribute an outcome to the admission it came from.

    Args:
        generation: The generation the call was admitted in.
        lease: Its probe lease (0 if none).
        incarnation: Identity of the stored state (shared stores: a state record that
            was lost and recreated makes older tickets stale).
    """

    generation: int
    lease: int = 0
    incarnation: str = ""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A circuit's state and counts as the store holds them.

    Args:
        state: The state (after any lazy OPEN -> HALF_OPEN step).
        generation: Its generation.
        total_requests: Calls, rejected ones included.
        total_failures: Counted failures.
        circuit_opens: Times the circuit opened.
        rejected: Calls rejected without reaching the provider.
        ignored: Outcomes that counted neither way.
        stale: Outcomes dropped because the breaker had moved on.
        slow_calls: Calls slower than ``slow_call_duration``.
        consecutive_failures: The current failure streak (closed state).
        retry_after: Seconds until a probe is admitted (open state, not isolated).
        isolated: Held open by hand.
        half_open_in_flight: Probe leases out.
        transition: The lazy OPEN -> HALF_OPEN step, if this read made it.
    """

    state: CircuitState
    generation: int
    total_requests: int = 0
    total_failures: int = 0
    circuit_opens: int = 0
    rejected: int = 0
    ignored: int = 0
    stale: int = 0
    slow_calls: int = 0
    consecutive_failures: int = 0
    retry_after: float | None = None
    isolated: bool = False
    half_open_in_flight: int = 0
    transition: Transition | None = None


class CountWindow:
    """The last ``size`` outcomes, with running totals (subtract on evict)."""

    __slots__ = ("codes", "failed", "position", "size", "slow", "total")

    def __init__(self, size: int) -> None:
        self.size = size
        self.codes: list[int] = []
        self.position = 0
        self.total = 0
        self.failed = 0
        self.slow = 0

    def add(self, failed: bool, slow: bool, now: float) -> None:
        code = int(failed) | (int(slow) << 1)
        if len(self.codes) < self.size:
            self.codes.append(code)
            self.total += 1
        else:
            old = self.codes[self.position]
            self.failed -= old & 1
            self.slow -= old >> 1
            self.codes[self.position] = code
            self.position = (self.position + 1) % self.size
        self.failed += code & 1
        self.slow += code >> 1

    def totals(self, now: float) -> tuple[int, int, int]:
        return self.total, self.failed, self.slow


class TimeWindow:
    """Outcomes of the last ``seconds``, in ``buckets`` rolling buckets.

    An outcome lands in the bucket ``floor(now / bucket_length)``; a bucket counts while
    it is newer than ``now - seconds``, so an outcome recorded at ``t0`` is gone at the
    latest at exactly ``t0 + seconds``.
    """

    __slots__ = ("buckets", "length", "slots")

    def __init__(self, seconds: float, buckets: int) -> None:
        self.buckets = buckets
        self.length = seconds / buckets
        # Each slot: [bucket index, calls, failed, slow].
        self.slots: list[list[int]] = [[-1, 0, 0, 0] for _ in range(buckets)]

    def _index(self, now: float) -> int:
        return math.floor(now / self.length)

    def add(self, failed: bool, slow: bool, now: float) -> None:
        index = self._index(now)
        slot = self.slots[index % self.buckets]
        if slot[0] != index:
            slot[:] = [index, 0, 0, 0]
        slot[1] += 1
        slot[2] += int(failed)
        slot[3] += int(slow)

    def totals(self, now: float) -> tuple[int, int, int]:
        oldest = self._index(now) - self.buckets + 1
        calls = failed = slow = 0
        for index, c, f, s in self.slots:
            if index >= oldest:
                calls += c
                failed += f
                slow += s
        return calls, failed, slow


Window = CountWindow | TimeWindow


class Cold:
    """The parts of a record that only matter once something went wrong."""

    __slots__ = (
        "failures_total",
        "ignored",
        "isolated",
        "leases",
        "next_lease",
        "open_count",
        "open_until",
        "opens",
        "rejected",
        "slow_total",
        "stale",
        "successes",
        "window",
    )

    def __init__(self) -> None:
        self.open_until = 0.0
        self.open_count = 0
        """Opens in this episode (since the last close): the backoff exponent."""
        self.isolated = False
        self.successes = 0
        """Consecutive probe successes in the current half-open period."""
        self.leases: dict[int, float] = {}
        """Live probe leases: lease id -> expiry time."""
        self.next_lease = 0
        self.window: Window | None = None
        self.failures_total = 0
        self.rejected = itertools.count()
        """Rejections; a counter so the breaker's lock-free open-state path can count."""
        self.opens = 0
        self.ignored = 0
        self.stale = 0
        self.slow_total = 0


class CircuitRecord:
    """The state of one circuit, as the machine sees it."""

    __slots__ = ("calls", "cold", "failures", "generation", "state")

    def __init__(self) -> None:
        self.state = CLOSED
        self.generation = 1
        self.failures = 0
        """Consecutive counted failures in the closed state."""
        self.calls: itertools.count[int] | None = None
        """Admitted calls (made on the first call, see ``circuit.count_call``;
        rejections are counted in ``cold.rejected``). ``next()`` on it is atomic in
        CPython, so the closed-state fast path counts without a lock."""
        self.cold: Cold | None = None

    def ensure_cold(self) -> Cold:
        cold = self.cold
        if cold is None:
            cold = self.cold = Cold()
        return cold

    @property
    def total_requests(self) -> int:
        """Admitted calls plus rejected ones."""
        calls = self.calls
        admitted = 0 if calls is None else count_value(calls)
        cold = self.cold
        return admitted + (0 if cold is None else count_value(cold.rejected))


def count_value(counter: itertools.count[int]) -> int:
    """Read an ``itertools.count`` started at 0 without advancing it."""
    # count has no read accessor; its repr is "count(N)" with N the next value.
    return int(repr(counter)[6:-1])


# -- durations ------------------------------------------------------------------------


def open_duration(
    config: CircuitConfig, open_count: int, u: float, retry_after: float | None
) -> float:
    """How long the ``open_count``-th open of an episode lasts (seconds).

    ``reset_timeout * backoff_multiplier ** (open_count - 1)``, capped first, then
    jittered downwards (so jitter survives the cap), then stretched to a Retry-After hint
    (itself capped).

    Args:
        config: The breaker's settings.
        open_count: 1 for the first open since the circuit last closed.
        u: A uniform sample in [0, 1) for the jitter.
        retry_after: The provider's hint, if the tripping failure carried one.

    Returns:
        The open duration in seconds, never above ``config.open_cap``.
    """
    cap = config.open_cap
    exponent = max(0, open_count - 1)
    multiplier = config.backoff_multiplier
    if multiplier == 1.0 or exponent == 0:
        base = config.reset_timeout
    elif exponent * math.log(multiplier) >= math.log(cap / config.reset_timeout):
        base = cap  # computing the power would only overflow; the cap wins anyway
    else:
        base = config.reset_timeout * multiplier**exponent
    duration = min(base, cap) * (1.0 - config.jitter * u)
    if retry_after is not None and config.retry_after != "ignore":
        duration = max(duration, min(retry_after, cap))
    return duration


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
        if failed:
            cold.failures_total += 1
        if slow:
            cold.slow_total += 1
    if state is HALF_OPEN:
        cold = record.ensure_cold()
        if lease:
            cold.leases.pop(lease, None)
        if failed or slow:
            return _trip(record, config, now, "probe_failed", retry_after if failed else None, u)
        cold.successes += 1
        if cold.successes >= config.success_threshold:
            return _close(record, "probes_succeeded", manual=False)
        return None
    # CLOSED
    if (
        failed
        and retry_after is not None
        and config.retry_after == "trip"
        and retry_after >= config.retry_after_trip_min
    ):
        return _trip(record, config, now, "retry_after", retry_after, u)
    if config.mode == "consecutive":
        if failed or slow:
            record.failures += 1
            if record.failures >= config.failure_threshold:
                return _trip(record, config, now, "failure_threshold", retry_after, u)
        else:
            record.failures = 0
        return None
    record.failures = record.failures + 1 if failed else 0
    cold = record.ensure_cold()
    window = cold.window
    if window is None:
        window = cold.window = _new_window(config)
    window.add(failed, slow, now)
    calls, failures, slows = window.totals(now)
    if calls < _minimum_calls(config):
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
        cold.rejected = itertools.count()
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
    seconds = config.reset_timeout if duration is None else duration
    if not (math.isfinite(seconds) and seconds > 0):
        msg = f"force_open duration must be a finite number of seconds > 0, got {seconds!r}"
        raise ValueError(msg)
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


def snapshot(record: CircuitRecord, now: float, transition: Transition | None = None) -> Snapshot:
    """Read a record into a ``Snapshot`` (call under the record's lock).

    Args:
        record: The circuit.
        now: Current clock time.
        transition: A transition to report with it (the lazy step a read made).

    Returns:
        The snapshot.
    """
    cold = record.cold
    if cold is None:
        return Snapshot(
            record.state,
            record.generation,
            total_requests=record.total_requests,
            transition=transition,
        )
    retry_after = None
    if record.state is OPEN and not cold.isolated:
        retry_after = max(0.0, cold.open_until - now)
    return Snapshot(
        record.state,
        record.generation,
        total_requests=record.total_requests,
        total_failures=cold.failures_total,
        circuit_opens=cold.opens,
        rejected=count_value(cold.rejected),
        ignored=cold.ignored,
        stale=cold.stale,
        slow_calls=cold.slow_total,
        consecutive_failures=record.failures,
        retry_after=retry_after,
        isolated=cold.isolated,
        half_open_in_flight=len(cold.leases),
        transition=transition,
    )


def _new_window(config: CircuitConfig) -> Window:
    if config.window == "count":
        return CountWindow(config.window_size)
    return TimeWindow(config.window_seconds, config.window_buckets)


def _minimum_calls(config: CircuitConfig) -> int:
    if config.window == "count":
        return min(config.minimum_calls, config.window_size)
    return config.minimum_calls


def window_rates(
    record: CircuitRecord, config: CircuitConfig, now: float
) -> tuple[int, float | None, float | None]:
    """Calls in the window and its failure and slow-call rates (``None`` until judged).

    Args:
        record: The circuit.
        config: Its settings.
        now: Current clock time.

    Returns:
        ``(calls, failure_rate, slow_call_rate)``; the rates are ``None`` below
        ``minimum_calls`` (not yet computable) and always in consecutive mode.
    """
    cold = record.cold
    window = None if cold is None else cold.window
    if config.mode != "ratio" or window is None:
        return 0, None, None
    calls, failed, slow = window.totals(now)
    if calls < _minimum_calls(config) or calls == 0:
        return calls, None, None
    return calls, failed / calls, slow / calls
