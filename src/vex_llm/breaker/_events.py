"""What a breaker tells the world: state-change events, their log lines, and stats."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, NoReturn

from .._errors import rejection
from .._observe import notify, observers
from ..circuit import Admission, CircuitState, Snapshot, Transition, TransitionReason

if TYPE_CHECKING:
    from .._errors import RejectReason

logger: Final = logging.getLogger("vex_llm")

_OPEN: Final = CircuitState.OPEN
_HALF_OPEN: Final = CircuitState.HALF_OPEN


@dataclass(frozen=True, slots=True)
class StateChange:
    """A committed state transition, as delivered to ``on_state_change`` listeners.

    Args:
        breaker: The breaker's name.
        from_state: The state before.
        to_state: The state after.
        reason: Why (``"failure_threshold"``, ``"failure_rate"``, ``"slow_call_rate"``,
            ``"retry_after"``, ``"reset_timeout"``, ``"probe_failed"``,
            ``"probes_succeeded"``, ``"manual"``, ``"reset"``).
        generation: The generation the new state started.
        at: Clock time of the transition (seconds).
        open_until: Clock time an open period ends, when ``to_state`` is OPEN (``None``
            when isolated by hand).
        manual: True for transitions made by ``force_open`` / ``force_closed`` / ``reset``.
    """

    breaker: str
    from_state: CircuitState
    to_state: CircuitState
    reason: TransitionReason
    generation: int
    at: float
    open_until: float | None = None
    manual: bool = False


StateListener = Callable[[StateChange], object]


@dataclass(frozen=True, slots=True)
class CircuitStats:
    """A breaker's counters and state at one moment.

    Args:
        name: The breaker's name.
        state: Its state.
        total_requests: Every call, rejected ones included (as the seed counts).
        total_failures: Counted failures.
        circuit_opens: Times the circuit opened.
        rejected: Calls rejected without running.
        ignored: Outcomes that counted neither way (caller errors, cancellation).
        stale_outcomes: Outcomes dropped because the breaker had moved on meanwhile.
        slow_calls: Calls slower than ``slow_call_duration``.
        consecutive_failures: The current failure streak (closed state).
        failure_rate: Ratio mode: failure rate over the window, ``None`` until the window
            holds ``minimum_calls`` (or in consecutive mode).
        slow_call_rate: Ratio mode: slow-call rate over the window, likewise.
        calls_in_window: Ratio mode: calls in the window.
        half_open_in_flight: Probe calls out now.
        retry_after: Seconds until a probe is admitted (open, not isolated), else ``None``.
        generation: The current generation.
        isolated: Held open by hand (``force_open()`` without a duration).
    """

    name: str
    state: CircuitState
    total_requests: int
    total_failures: int
    circuit_opens: int
    rejected: int
    ignored: int = 0
    stale_outcomes: int = 0
    slow_calls: int = 0
    consecutive_failures: int = 0
    failure_rate: float | None = None
    slow_call_rate: float | None = None
    calls_in_window: int = 0
    half_open_in_flight: int = 0
    retry_after: float | None = None
    generation: int = 1
    isolated: bool = False


class Hooks:
    """A breaker's listeners and the error that last tripped it (made on first need)."""

    __slots__ = ("cause", "listeners", "open_message", "open_where")

    def __init__(self, name: str) -> None:
        self.listeners: list[StateListener] = []
        self.cause: BaseException | None = None
        self.open_message = f"circuit {name!r} is open"
        self.open_where: tuple[str, str, RejectReason] = (name, "open", "open")


def emit(name: str, hooks: Hooks | None, transition: Transition, now: float) -> None:
    """Log a transition and deliver it to the listeners (outside any lock).

    Args:
        name: The breaker's name.
        hooks: Its hooks, if any listener was ever added.
        transition: What the machine or the store reported.
        now: Clock time of the transition (seconds).
    """
    event = StateChange(
        breaker=name,
        from_state=transition.from_state,
        to_state=transition.to_state,
        reason=transition.reason,
        generation=transition.generation,
        at=now,
        open_until=transition.open_until,
        manual=transition.manual,
    )
    details = {
        "circuit": name,
        "breaker": name,
        "from_state": event.from_state.value,
        "to_state": event.to_state.value,
        "reason": event.reason,
        "generation": event.generation,
    }
    # The event name first, then the facts a reader needs without a structured handler.
    facts = (name, event.reason, event.from_state.value)
    if event.to_state is _OPEN:
        logger.warning("circuit_opened circuit=%s reason=%s from=%s", *facts, extra=details)
    elif event.to_state is _HALF_OPEN:
        logger.info("circuit_half_open circuit=%s reason=%s from=%s", *facts, extra=details)
    else:
        logger.info("circuit_closed circuit=%s reason=%s from=%s", *facts, extra=details)
    targets = observers()
    if targets:
        notify(targets, "state_changed", event)
    if hooks is None:
        return
    for listener in tuple(hooks.listeners):
        try:
            listener(event)
        except Exception:
            logger.exception("circuit_listener_failed", extra=details)


def rejected(name: str, reason: str) -> None:
    """Tell the observers, if any, that circuit ``name`` refused a call."""
    targets = observers()
    if targets:
        notify(targets, "rejected", name, reason)


def stats_from(
    name: str,
    snapshot: Snapshot,
    rates: tuple[int, float | None, float | None] = (0, None, None),
) -> CircuitStats:
    """A ``CircuitStats`` from a snapshot and the window's ``(calls, rate, slow_rate)``."""
    calls, rate, slow_rate = rates
    return CircuitStats(
        name=name,
        state=snapshot.state,
        total_requests=snapshot.total_requests,
        total_failures=snapshot.total_failures,
        circuit_opens=snapshot.circuit_opens,
        rejected=snapshot.rejected,
        ignored=snapshot.ignored,
        stale_outcomes=snapshot.stale,
        slow_calls=snapshot.slow_calls,
        consecutive_failures=snapshot.consecutive_failures,
        failure_rate=rate,
        slow_call_rate=slow_rate,
        calls_in_window=calls,
        half_open_in_flight=snapshot.half_open_in_flight,
        retry_after=snapshot.retry_after,
        generation=snapshot.generation,
        isolated=snapshot.isolated,
    )


def reject(name: str, hooks: Hooks, admission: Admission, probe_budget: int) -> NoReturn:
    """Raise the ``CircuitOpenError`` for a refused admission (caused by what tripped it).

    Args:
        name: The breaker's name.
        hooks: Its hooks (their message and cause).
        admission: The refusal.
        probe_budget: Probe slots in half-open, for the message.
    """
    reason = admission.reason or "open"
    rejected(name, reason)
    if reason == "isolated":
        text = f"circuit {name!r} is held open by hand; close it with force_closed()"
    elif reason == "half_open_full":
        text = f"circuit {name!r} is half-open and all {probe_budget} probe slots are taken"
    else:
        text = hooks.open_message
    retry_after = admission.retry_after
    if retry_after is not None:
        retry_after = max(0.0, retry_after)
    where = (name, admission.state.value, reason)
    raise rejection(text, where, retry_after) from hooks.cause
