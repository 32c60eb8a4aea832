"""The ``CircuitStore`` interface: where a breaker keeps its state.

A store either keeps circuits in this process (``local_circuit`` hands out a
``LocalCircuit``, whose operations are machine steps under a short lock: no await, no
allocation on the hot path), or keeps them elsewhere and implements every operation as
one atomic step on its side (the Redis store runs each as one Lua script). A breaker
never holds a lock across the guarded call; each operation below is short and bounded.

Operations and their atomic contract (all take the breaker ``name`` and its config):

- ``acquire``: count the call (admitted or rejected); load or create the state; apply the
  lazy OPEN -> HALF_OPEN step; admit or reject; take a probe lease in half-open.
  Reports the transition only to the caller that made it.
- ``record``: drop the outcome if its generation (or incarnation) is not current; else
  count it, evaluate the rules, release its lease; report any transition to this caller.
  A shared store may return before the outcome is applied (RedisStore sends outcomes
  off the caller's path, in order); it then reports no transition.
- ``release``: give a probe lease back without a verdict (idempotent).
- ``force``: a manual action (isolate, open for a while, close, reset).
- ``snapshot``: the current state and counts (applies the lazy step).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._config import CircuitConfig, Outcome
    from ._local import LocalCircuit
    from ._results import Admission, ManualAction, Snapshot, Ticket, Transition


class CircuitStore(ABC):
    """Where circuit breakers keep their state; shared by every breaker given the store.

    Breakers with the same name over the same store are one circuit.
    """

    def local_circuit(self, name: str) -> LocalCircuit | None:
        """The in-process circuit for ``name`` (created on first use), or ``None`` when
        the state lives elsewhere and the async operations must be used."""
        return None

    @abstractmethod
    async def acquire(self, name: str, config: CircuitConfig, now: float) -> Admission:
        """Admit or reject one call (see the module docstring)."""

    @abstractmethod
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
        """Count one outcome (see the module docstring)."""

    @abstractmethod
    async def release(self, name: str, ticket: Ticket) -> None:
        """Give a probe lease back without a verdict."""

    @abstractmethod
    async def force(
        self,
        name: str,
        config: CircuitConfig,
        action: ManualAction,
        now: float,
        *,
        duration: float | None = None,
    ) -> Transition | None:
        """Apply a manual action."""

    @abstractmethod
    async def snapshot(self, name: str, config: CircuitConfig, now: float) -> Snapshot:
        """Read the state and counts."""

    async def aclose(self) -> None:  # noqa: B027 - nothing to close by default
        """Release connections. Safe to call twice."""
