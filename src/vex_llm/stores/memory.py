"""MemoryStore: circuit state in this process, shared by name between breakers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..circuit import CircuitStore, LocalCircuit, Snapshot, Ticket

if TYPE_CHECKING:
    from ..circuit import Admission, CircuitConfig, ManualAction, Outcome, Transition


class MemoryStore(CircuitStore):
    """Keeps circuits in a dict in this process.

    The default for a breaker is a private record of its own; pass one ``MemoryStore``
    to several breakers (or wrappers) to make breakers with the same name one circuit
    inside a process. Safe from several threads and event loops.
    """

    def __init__(self) -> None:
        self._circuits: dict[str, LocalCircuit] = {}

    def __repr__(self) -> str:
        return f"MemoryStore(circuits={sorted(self._circuits)!r})"

    def local_circuit(self, name: str) -> LocalCircuit:
        circuit = self._circuits.get(name)
        if circuit is None:
            # setdefault is atomic: two threads racing here end up with one circuit.
            circuit = self._circuits.setdefault(name, LocalCircuit())
        return circuit

    def names(self) -> list[str]:
        """The names of the circuits this store holds, sorted."""
        return sorted(self._circuits)

    async def acquire(self, name: str, config: CircuitConfig, now: float) -> Admission:
        return self.local_circuit(name).acquire(config, now)

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
        return self.local_circuit(name).record(
            config, ticket, outcome, now, duration=duration, retry_after=retry_after, u=u
        )

    async def release(self, name: str, ticket: Ticket) -> None:
        self.local_circuit(name).release(ticket)

    async def force(
        self,
        name: str,
        config: CircuitConfig,
        action: ManualAction,
        now: float,
        *,
        duration: float | None = None,
    ) -> Transition | None:
        return self.local_circuit(name).force(config, action, now, duration=duration)

    async def snapshot(self, name: str, config: CircuitConfig, now: float) -> Snapshot:
        return self.local_circuit(name).snapshot(now)
