"""LocalCircuit: an in-process record and the machine applied to it under its lock."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import machine as _machine
from ._record import CircuitRecord, Tally, count_call, lock_for

if TYPE_CHECKING:
    from ._config import CircuitConfig, CircuitState, Outcome
    from ._results import Admission, ManualAction, Snapshot, Ticket, Transition


class LocalCircuit(CircuitRecord):
    """A circuit kept in this process: each operation is one machine step under a lock.

    The lock is one of a small shared set (see ``lock_for``), held for an O(1) step and
    never across an await or user code. Breakers read ``state`` and ``generation`` and
    count closed-state calls without it (see ``CircuitBreaker.call``).
    """

    __slots__ = ()

    def count(self) -> None:
        """Count one admitted call (lock-free once its tally exists)."""
        count_call(self)

    def acquire(self, config: CircuitConfig, now: float) -> Admission:
        """Admit or reject one call (``machine.acquire``), counting an admitted one."""
        with lock_for(self):
            admission = _machine.acquire(self, config, now)
        if admission.admitted:
            count_call(self)
        return admission

    def record(
        self,
        config: CircuitConfig,
        ticket: Ticket,
        outcome: Outcome,
        now: float,
        *,
        duration: float | None = None,
        retry_after: float | None = None,
        u: float = 0.0,
    ) -> Transition | None:
        """Count one outcome (``machine.record_outcome``)."""
        with lock_for(self):
            return _machine.record_outcome(
                self,
                config,
                ticket.generation,
                ticket.lease,
                outcome,
                now,
                duration=duration,
                retry_after=retry_after,
                u=u,
            )

    def release(self, ticket: Ticket) -> None:
        """Give a probe lease back without a verdict."""
        with lock_for(self):
            _machine.release(self, ticket.generation, ticket.lease)

    def force(
        self,
        config: CircuitConfig,
        action: ManualAction,
        now: float,
        *,
        duration: float | None = None,
    ) -> Transition | None:
        """Apply a manual action (``machine.force``)."""
        with lock_for(self):
            return _machine.force(self, config, action, now, duration=duration)

    def advance(self, now: float) -> Transition | None:
        """Make the lazy OPEN -> HALF_OPEN step when due."""
        with lock_for(self):
            return _machine.advance(self, now)

    def snapshot(self, now: float, *, advance: bool = True) -> Snapshot:
        """The state and counts (after the lazy step, unless ``advance`` is false)."""
        with lock_for(self):
            transition = _machine.advance(self, now) if advance else None
            return _machine.snapshot(self, now, transition)

    def rates(self, config: CircuitConfig, now: float) -> tuple[int, float | None, float | None]:
        """Calls in the window and its rates (``machine.window_rates``)."""
        with lock_for(self):
            return _machine.window_rates(self, config, now)

    def adopt(self, state: CircuitState, generation: int) -> None:
        """Take a state another store reported (this record shadows it)."""
        self.state = state
        self.generation = generation

    def restore(
        self, snapshot: Snapshot, *, admitted: int, open_count: int, open_until: float | None
    ) -> None:
        """Start from a state kept elsewhere (a shared store's last answer).

        Args:
            snapshot: The state and counts.
            admitted: Admitted calls (``snapshot.total_requests`` less the rejections).
            open_count: Opens in the current episode (the backoff exponent).
            open_until: When the open period ends, on this process's clock.
        """
        with lock_for(self):
            self.state = snapshot.state
            self.generation = snapshot.generation
            self.failures = snapshot.consecutive_failures
            self.calls = Tally(admitted)
            cold = self.ensure_cold()
            cold.isolated = snapshot.isolated
            cold.open_count = open_count
            cold.open_until = 0.0 if open_until is None else open_until
            cold.failures_total = snapshot.total_failures
            cold.opens = snapshot.circuit_opens
            cold.rejected = Tally(snapshot.rejected)
            cold.ignored = snapshot.ignored
            cold.stale = snapshot.stale
            cold.slow_total = snapshot.slow_calls
