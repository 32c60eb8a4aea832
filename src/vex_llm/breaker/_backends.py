"""Where a breaker's operations go: its in-process circuit, or a shared store.

A breaker picks one backend when it is built and never asks again. ``LOCAL`` is one
stateless object shared by every breaker whose circuit lives in this process (so an idle
breaker carries nothing extra); a ``SharedBackend`` sends each operation to the store as
one awaited, atomic step and keeps the breaker's circuit as the last state it saw.
"""

from __future__ import annotations

import logging
import random
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Final

from ..circuit import CircuitState, CircuitStore, Outcome, Ticket
from ._events import stats_from

if TYPE_CHECKING:
    from ..circuit import Admission, ManualAction
    from ._events import CircuitStats
    from .breaker import CircuitBreaker

logger: Final = logging.getLogger("vex_llm")

_OPEN: Final = CircuitState.OPEN


class Backend(ABC):
    """The operations a breaker delegates; each takes the breaker it serves."""

    __slots__ = ()

    @abstractmethod
    def state(self, breaker: CircuitBreaker) -> CircuitState:
        """The state as this process knows it (no I/O)."""

    @abstractmethod
    async def current_state(self, breaker: CircuitBreaker) -> CircuitState:
        """The authoritative state."""

    @abstractmethod
    def stats(self, breaker: CircuitBreaker) -> CircuitStats:
        """The counters as this process knows them (no I/O)."""

    @abstractmethod
    async def fetch_stats(self, breaker: CircuitBreaker) -> CircuitStats:
        """The authoritative counters."""

    @abstractmethod
    async def admit(self, breaker: CircuitBreaker) -> tuple[Admission, float]:
        """Admit one call, or raise its ``CircuitOpenError``.

        Returns:
            The admission and the clock time it was made at.
        """

    @abstractmethod
    async def settle(
        self,
        breaker: CircuitBreaker,
        admission: Admission,
        outcome: Outcome,
        started: float,
        error: BaseException | None,
    ) -> None:
        """Count the outcome of an admitted call."""

    @abstractmethod
    async def apply(
        self, breaker: CircuitBreaker, action: ManualAction, duration: float | None
    ) -> None:
        """Apply a manual action."""

    @abstractmethod
    def force_now(
        self, breaker: CircuitBreaker, action: ManualAction, duration: float | None
    ) -> None:
        """Apply a manual action without awaiting (``TypeError`` if the store needs it)."""

    @abstractmethod
    def refuse_sync(self, breaker: CircuitBreaker, why: str) -> None:
        """Raise ``TypeError`` if only async operations can reach the circuit."""

    @abstractmethod
    def leaked(self, breaker: CircuitBreaker, admission: Admission) -> None:
        """A permit was dropped without a report: give its probe slot back if we can."""


class LocalBackend(Backend):
    """The circuit is the breaker's ``LocalCircuit``: every operation is one locked step."""

    __slots__ = ()

    def state(self, breaker: CircuitBreaker) -> CircuitState:
        circuit = breaker._circuit
        if circuit.state is not _OPEN:
            return circuit.state
        now = breaker._clock()
        transition = circuit.advance(now)
        if transition is not None:
            breaker._emit(transition, now)
        return circuit.state

    async def current_state(self, breaker: CircuitBreaker) -> CircuitState:
        return self.state(breaker)

    def stats(self, breaker: CircuitBreaker) -> CircuitStats:
        circuit = breaker._circuit
        now = breaker._clock()
        snapshot = circuit.snapshot(now)
        rates = circuit.rates(breaker._config, now)
        if snapshot.transition is not None:
            breaker._emit(snapshot.transition, now)
        return stats_from(breaker._name, snapshot, rates)

    async def fetch_stats(self, breaker: CircuitBreaker) -> CircuitStats:
        return self.stats(breaker)

    async def admit(self, breaker: CircuitBreaker) -> tuple[Admission, float]:
        now = breaker._clock()
        admission = breaker._circuit.acquire(breaker._config, now)
        if admission.transition is not None or not admission.admitted:
            breaker._admitted(admission, now)
        return admission, now

    async def settle(
        self,
        breaker: CircuitBreaker,
        admission: Admission,
        outcome: Outcome,
        started: float,
        error: BaseException | None,
    ) -> None:
        self.record(breaker, admission.generation, admission.lease, outcome, started, error)

    def record(
        self,
        breaker: CircuitBreaker,
        generation: int,
        lease: int,
        outcome: Outcome,
        started: float | None,
        error: BaseException | None,
    ) -> None:
        """Count an outcome on the breaker's circuit (no await: the sync and hot paths)."""
        config = breaker._config
        # A success of a closed, count-based call is the one outcome that needs no time.
        timeless = started is None and outcome is Outcome.SUCCESS and not config.needs_clock
        now = 0.0 if timeless else breaker._clock()
        transition = breaker._circuit.record(
            config,
            Ticket(generation, lease),
            outcome,
            now,
            duration=None if started is None else now - started,
            retry_after=retry_after_of(error) if outcome is Outcome.FAILURE else None,
            u=random.random() if config.jitter else 0.0,
        )
        if transition is not None:
            breaker._transitioned(transition, now, error)

    async def apply(
        self, breaker: CircuitBreaker, action: ManualAction, duration: float | None
    ) -> None:
        self.force_now(breaker, action, duration)

    def force_now(
        self, breaker: CircuitBreaker, action: ManualAction, duration: float | None
    ) -> None:
        now = breaker._clock()
        transition = breaker._circuit.force(breaker._config, action, now, duration=duration)
        if action == "reset":
            name = breaker._name
            logger.info(
                "circuit_reset circuit=%s reason=manual",
                name,
                extra={"circuit": name, "breaker": name, "reason": "manual"},
            )
        if transition is not None:
            breaker._transitioned(transition, now, None)

    def refuse_sync(self, breaker: CircuitBreaker, why: str) -> None:
        return  # a local circuit serves sync calls too

    def leaked(self, breaker: CircuitBreaker, admission: Admission) -> None:
        if admission.lease:
            breaker._circuit.release(Ticket(admission.generation, admission.lease))


LOCAL: Final = LocalBackend()


class SharedBackend(Backend):
    """The circuit lives in a store elsewhere; the breaker's circuit is its shadow."""

    __slots__ = ("incarnation", "store")

    def __init__(self, store: CircuitStore) -> None:
        self.store = store
        self.incarnation = ""

    def adopt(
        self,
        breaker: CircuitBreaker,
        state: CircuitState,
        generation: int,
        incarnation: str | None = None,
    ) -> None:
        """Remember what the store said (the breaker's circuit is its shadow).

        Generations compare only within one incarnation of the stored state: an
        admission from another one (the shared record was lost and recreated, or the
        store fell back to local state) is adopted whatever its generation.
        """
        moved = incarnation is not None and incarnation != self.incarnation
        if moved or generation >= breaker._circuit.generation:
            breaker._circuit.adopt(state, generation)
        if incarnation is not None:
            self.incarnation = incarnation

    def state(self, breaker: CircuitBreaker) -> CircuitState:
        return breaker._circuit.state

    async def current_state(self, breaker: CircuitBreaker) -> CircuitState:
        snapshot = await self.store.snapshot(breaker._name, breaker._config, breaker._clock())
        self.adopt(breaker, snapshot.state, snapshot.generation)
        if snapshot.transition is not None:
            breaker._emit(snapshot.transition, breaker._clock())
        return snapshot.state

    def stats(self, breaker: CircuitBreaker) -> CircuitStats:
        circuit = breaker._circuit
        now = breaker._clock()
        snapshot = circuit.snapshot(now, advance=False)
        return stats_from(breaker._name, snapshot, circuit.rates(breaker._config, now))

    async def fetch_stats(self, breaker: CircuitBreaker) -> CircuitStats:
        snapshot = await self.store.snapshot(breaker._name, breaker._config, breaker._clock())
        self.adopt(breaker, snapshot.state, snapshot.generation)
        if snapshot.transition is not None:
            breaker._emit(snapshot.transition, breaker._clock())
        return stats_from(breaker._name, snapshot)

    async def admit(self, breaker: CircuitBreaker) -> tuple[Admission, float]:
        now = breaker._clock()
        admission = await self.store.acquire(breaker._name, breaker._config, now)
        self.adopt(breaker, admission.state, admission.generation, admission.incarnation)
        if admission.transition is not None or not admission.admitted:
            breaker._admitted(admission, now)
        return admission, now

    async def settle(
        self,
        breaker: CircuitBreaker,
        admission: Admission,
        outcome: Outcome,
        started: float,
        error: BaseException | None,
    ) -> None:
        ticket = Ticket(admission.generation, admission.lease, admission.incarnation)
        now = breaker._clock()
        if outcome is Outcome.IGNORED:
            await self.store.release(breaker._name, ticket)
            return
        config = breaker._config
        transition = await self.store.record(
            breaker._name,
            config,
            ticket,
            outcome,
            now,
            duration=now - started,
            retry_after=retry_after_of(error) if outcome is Outcome.FAILURE else None,
            u=random.random() if config.jitter else 0.0,
        )
        if transition is not None:
            self.adopt(breaker, transition.to_state, transition.generation)
            breaker._transitioned(transition, now, error)

    async def apply(
        self, breaker: CircuitBreaker, action: ManualAction, duration: float | None
    ) -> None:
        now = breaker._clock()
        config = breaker._config
        transition = await self.store.force(breaker._name, config, action, now, duration=duration)
        breaker._circuit.force(config, action, now, duration=duration)
        if transition is not None:
            breaker._transitioned(transition, now, None)

    def leaked(self, breaker: CircuitBreaker, admission: Admission) -> None:
        return  # the store's lease runs out on its own (probe_lease_ttl)

    def force_now(
        self, breaker: CircuitBreaker, action: ManualAction, duration: float | None
    ) -> None:
        why = f"keeps its state in a shared store; use 'await breaker.apply({action!r})'"
        self.refuse_sync(breaker, why)

    def refuse_sync(self, breaker: CircuitBreaker, why: str) -> None:
        msg = f"breaker {breaker._name!r} {why}"
        raise TypeError(msg)


def retry_after_of(error: BaseException | None) -> float | None:
    """The provider's Retry-After hint carried by an error (seconds), if it is usable."""
    value = getattr(error, "retry_after", None)
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def outcome_of(breaker: CircuitBreaker, exc: BaseException) -> Outcome:
    """How an exception counts for the breaker (its classifier; never raises)."""
    if not isinstance(exc, Exception):
        return Outcome.IGNORED  # cancellation and interpreter exits are never evidence
    try:
        return breaker._config.classify(exc)
    except Exception:
        logger.exception(
            "circuit_classify_failed", extra={"circuit": breaker._name, "breaker": breaker._name}
        )
        return Outcome.IGNORED
