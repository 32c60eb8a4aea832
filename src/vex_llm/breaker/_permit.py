"""Permit: the right to make one call, reported by hand (streams, long calls)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from ..circuit import Outcome
from ._backends import outcome_of

if TYPE_CHECKING:
    from types import TracebackType

    from ..circuit import Admission
    from .breaker import CircuitBreaker

logger: Final = logging.getLogger("vex_llm")


class Permit:
    """The right to make one call, from ``CircuitBreaker.acquire()``.

    Report the call's outcome exactly once; later reports are no-ops. Used as an async
    context manager it records an exception leaving the block (cancellation releases it)
    and a clean exit as a success.
    """

    __slots__ = ("_admission", "_breaker", "_done", "_started")

    def __init__(self, breaker: CircuitBreaker, admission: Admission, started: float) -> None:
        self._breaker = breaker
        self._admission = admission
        self._started = started
        self._done = False

    @property
    def generation(self) -> int:
        """The generation the call was admitted in."""
        return self._admission.generation

    @property
    def is_probe(self) -> bool:
        """Whether this call is a half-open probe."""
        return self._admission.lease != 0

    @property
    def done(self) -> bool:
        """Whether an outcome was reported."""
        return self._done

    async def success(self) -> None:
        """Report that the call succeeded."""
        await self._resolve(Outcome.SUCCESS, None)

    async def failure(self, error: BaseException | None = None) -> None:
        """Report a counted failure (``error`` supplies a Retry-After hint and the cause)."""
        await self._resolve(Outcome.FAILURE, error)

    async def record_error(self, error: BaseException) -> None:
        """Report an exception; the breaker's classifier decides how it counts."""
        await self._resolve(outcome_of(self._breaker, error), error)

    async def release(self) -> None:
        """Give the permit back without a verdict (counts neither way)."""
        await self._resolve(Outcome.IGNORED, None)

    async def _resolve(self, outcome: Outcome, error: BaseException | None) -> None:
        if self._done:
            return
        self._done = True
        breaker = self._breaker
        await breaker._backend.settle(breaker, self._admission, outcome, self._started, error)

    def __del__(self) -> None:
        # Belt and braces for a permit that was dropped without a report (a bug in the
        # caller): give a local probe slot back now rather than at lease expiry.
        if self._done:
            return
        breaker = self._breaker
        admission = self._admission
        logger.warning(
            "circuit_permit_leaked", extra={"circuit": breaker.name, "breaker": breaker.name}
        )
        breaker._backend.leaked(breaker, admission)

    async def __aenter__(self) -> Permit:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.success()
        else:
            await self.record_error(exc)
