"""MemoryStore: circuit state in this process, shared by name between breakers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..circuit import CircuitRecord, CircuitStore, Snapshot, Ticket, count_call, lock_for
from ..circuit import machine as _machine

if TYPE_CHECKING:
    from ..circuit import Admission, CircuitConfig, ManualAction, Outcome, Transition


class MemoryStore(CircuitStore):
    """Keeps circuits in a dict in this process.

    The default for a breaker is a private record of its own; pass one ``MemoryStore``
    to several breakers (or wrappers) to make breakers with the same name one circuit
    inside a process. Safe from several threads and event loops.
    """

    def __init__(self) -> None:
        self._records: dict[str, CircuitRecord] = {}

    def __repr__(self) -> str:
        return f"MemoryStore(circuits={sorted(self._records)!r})"

    def local_record(self, name: str) -> CircuitRecord:
        record = self._records.get(name)
        if record is None:
            # setdefault is atomic: two threads racing here end up with one record.
            record = self._records.setdefault(name, CircuitRecord())
        return record

    def names(self) -> list[str]:
        """The names of the circuits this store holds, sorted."""
        return sorted(self._records)

    async def acquire(self, name: str, config: CircuitConfig, now: float) -> Admission:
        record = self.local_record(name)
        with lock_for(record):
            admission = _machine.acquire(record, config, now)
        if admission.admitted:
            count_call(record)
        return admission

    async def record(
        self,
        name: str,
        config: CircuitConfig,
        ticket: Ticket,
        outcome: Outcome,
        now: float,
        *,
        duration: float | None = None,
        retry_after: float | None = None,
        u: float = 0.0,
    ) -> Transition | None:
        record = self.local_record(name)
        with lock_for(record):
            return _machine.record_outcome(
                record,
                config,
                ticket.generation,
                ticket.lease,
                outcome,
                now,
                duration=duration,
                retry_after=retry_after,
                u=u,
            )

    async def release(self, name: str, ticket: Ticket) -> None:
        record = self.local_record(name)
        with lock_for(record):
            _machine.release(record, ticket.generation, ticket.lease)

    async def force(
        self,
        name: str,
        config: CircuitConfig,
        action: ManualAction,
        now: float,
        *,
        duration: float | None = None,
    ) -> Transition | None:
        record = self.local_record(name)
        with lock_for(record):
            return _machine.force(record, config, action, now, duration=duration)

    async def snapshot(self, name: str, config: CircuitConfig, now: float) -> Snapshot:
        record = self.local_record(name)
        with lock_for(record):
            transition = _machine.advance(record, now)
            return _machine.snapshot(record, now, transition)
