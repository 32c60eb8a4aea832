"""The ``CircuitStore`` interface: where a breaker keeps its state.

A store either keeps records in this process (``local_record`` hands one out and the
breaker applies the pure machine to it under a short lock: no await, no allocation on
the hot path), or keeps them elsewhere and implements every operation as one atomic step
on its side (the Redis store runs each as one Lua script). A breaker never holds a lock
across the guarded call; each operation below is short and bounded.

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

import itertools
import threading
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from ._config import CircuitConfig, Outcome
    from .machine import (
        Admission,
        CircuitRecord,
        ManualAction,
        Snapshot,
        Ticket,
        Transition,
    )

# A fixed set of locks shared by all in-process records, picked by the record's id.
# A lock is held only for one O(1) machine step (never across an await or user code,
# never two at once), so sharing a lock between unrelated breakers costs nothing
# measurable, while an idle breaker carries no lock object of its own.
_LOCKS: Final = tuple(threading.Lock() for _ in range(64))


def lock_for(record: object) -> threading.Lock:
    """The lock that guards an in-process record."""
    return _LOCKS[(id(record) >> 4) & 63]


def count_call(record: CircuitRecord) -> None:
    """Count one call on an in-process record; its counter is made on first use."""
    calls = record.calls
    if calls is None:
        with lock_for(record):
            calls = record.calls
            if calls is None:
                calls = record.calls = itertools.count()
    next(calls)


class CircuitStore(ABC):
    """Where circuit breakers keep their state; shared by every breaker given the store.

    Breakers with the same name over the same store are one circuit.
    """

    def local_record(self, name: str) -> CircuitRecord | None:
        """The in-process record for ``name`` (created on first use), or ``None`` when
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
