"""What the circuit core answers: admissions, tickets, transitions and snapshots."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .._errors import RejectReason
from ._config import CircuitState

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
