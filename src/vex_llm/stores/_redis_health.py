"""The store's own circuit breaker around the Redis client, and its health counters.

After ``max_errors`` errors in a row nobody waits for Redis until one probe,
``reconnect_after`` later, finds it back. The pure machine (a ``LocalCircuit``) rather
than a ``CircuitBreaker``: that one logs every transition, which would repeat a warning
at every failed reconnect; the store logs the outage once (``circuit_store_fallback``)
and the return once (``circuit_store_rejoined``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from .._observe import notify, observers
from ..circuit import CircuitConfig, CircuitState, LocalCircuit, Outcome, Ticket

if TYPE_CHECKING:
    from ..circuit import Admission
    from ._redis_settings import Settings

logger: Final = logging.getLogger("vex_llm")

_CLOSED: Final = CircuitState.CLOSED


class Health:
    """Whether Redis is worth waiting for, and what went wrong so far."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._guard = LocalCircuit()
        self._config = CircuitConfig(
            failure_threshold=settings.max_errors,
            success_threshold=1,
            half_open_max_calls=1,
            reset_timeout=settings.reconnect_after,
            probe_lease_ttl=max(1.0, 10 * settings.timeout),
        )
        self.degraded = False
        """Whether circuits run on the fallback (the last Redis operation failed)."""
        self.errors = 0
        """Redis operations that failed or timed out."""
        self.fallbacks = 0
        """Times the store switched to its fallback."""

    def setup_timeout(self) -> float:
        """Seconds to get ready: generous while Redis is healthy, ``timeout`` after an error."""
        guard = self._guard
        if guard.state is _CLOSED and not guard.failures and not self.degraded:
            return self._settings.setup_timeout
        return self._settings.timeout

    def permit(self, *, quiet: bool = False) -> Admission:
        """The guard's leave to wait for Redis; a refusal means the fallback decides.

        Args:
            quiet: For a batch of outcomes, which goes even without leave (nobody waits
                for it), so a refusal changes nothing.
        """
        permit = self._guard.acquire(self._config, self._settings.clock())
        if not permit.admitted and not quiet:
            self.fall_back(None)
        return permit

    def settle(self, permit: Admission, outcome: Outcome) -> None:
        """Tell the guard how an operation it let through went."""
        guard = self._guard
        if not permit.admitted:
            return  # sent without the guard's leave (the outbox): no verdict to give
        # A success in the closed state with no error streak changes nothing: skip the lock.
        if outcome is Outcome.SUCCESS and guard.state is _CLOSED and not guard.failures:
            return
        ticket = Ticket(permit.generation, permit.lease)
        guard.record(self._config, ticket, outcome, self._settings.clock())

    def failed(self, exc: BaseException) -> None:
        """An operation failed: count it and fall back."""
        self.errors += 1
        self.fall_back(exc)
        self._report(failed=True)

    def fall_back(self, exc: BaseException | None) -> None:
        """Calls are decided locally from now on, until Redis answers with the guard closed."""
        if not self.degraded:
            self.degraded = True
            self.fallbacks += 1
            logger.warning(
                "circuit_store_fallback",
                extra={
                    "store": self._settings.prefix,
                    "on_error": self._settings.on_error,
                    "error": repr(exc),
                },
            )
            if exc is None:  # a failure reports itself (``failed``)
                self._report(failed=False)

    def _report(self, *, failed: bool) -> None:
        """Tell the observers, if any, whether the store is degraded and if an op failed."""
        targets = observers()
        if targets:
            notify(targets, "store_health", self._settings.prefix, self.degraded, failed)

    def rejoins(self) -> bool:
        """After an answer: whether it ends a fallback (the guard is closed again)."""
        if self.degraded and self._guard.state is _CLOSED:
            self.degraded = False
            self._report(failed=False)
            return True
        return False
