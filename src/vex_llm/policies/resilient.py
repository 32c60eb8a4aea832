"""ResilientProvider: the seed's wrapper, any provider behind a circuit breaker."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Final, Self

from .._clock import Clock
from .._errors import CircuitOpenError
from .._observe import Attempt, enter_attempt, leave_attempt, observers
from .._provider import LlmProvider
from .._stream import ChunkStream, first_chunk
from .._types import LlmRequest, LlmResponse, StreamChunk
from ..breaker import CircuitBreaker, CircuitConfig, CircuitState, CircuitStats, Permit
from ..stores import CircuitStore
from ._observed import admitted, end_attempt, facts_of, start_attempt

_DEFAULT_CONFIG: Final = CircuitConfig()


class ResilientProvider(LlmProvider):
    """Wraps a provider in a circuit breaker: fail fast while the provider is down.

    While the circuit is open, calls raise ``CircuitOpenError`` (a ``NotAvailable``)
    without touching the provider; after ``reset_timeout`` a few probes test recovery.
    A stream holds its permit until its finish reason arrives, and counts as a success
    from that moment (before the last chunk is handed on), however the stream is closed
    afterwards; one that breaks counts as a failure, one abandoned before its finish
    reason counts neither way.

    Args:
        provider: The provider to guard.
        config: The breaker's rules (default: the seed's 5 / 2 / 30 s).
        clock: Monotonic seconds (tests pass a ``ManualClock``).
        store: Where the circuit's state lives (default: this wrapper alone; a
            ``RedisStore`` shares it across processes).
        circuit_name: The circuit's name (default: the provider's name, so every process
            guarding the same provider over a shared store shares one circuit).
    """

    def __init__(
        self,
        provider: LlmProvider,
        config: CircuitConfig = _DEFAULT_CONFIG,
        *,
        clock: Clock = time.monotonic,
        store: CircuitStore | None = None,
        circuit_name: str | None = None,
    ) -> None:
        provider_value: object = provider
        if not isinstance(provider_value, LlmProvider):
            msg = f"provider must be an LlmProvider, got {type(provider_value).__name__}"
            raise TypeError(msg)
        self._inner = provider
        self._breaker = CircuitBreaker(
            config, name=circuit_name or provider.name, clock=clock, store=store
        )
        self._name = f"resilient({provider.name})"
        self._facts: tuple[str, str, str] | None = None  # for observers, made on first need

    @classmethod
    def wrap(cls, provider: LlmProvider) -> Self:
        """Wrap with the seed's conservative preset (3 failures, 3 probes, 60 s).

        Args:
            provider: The provider to guard.

        Returns:
            The wrapper.
        """
        return cls(provider, CircuitConfig.conservative())

    @property
    def name(self) -> str:
        return self._name

    @property
    def inner(self) -> LlmProvider:
        """The guarded provider."""
        return self._inner

    @property
    def breaker(self) -> CircuitBreaker:
        """The circuit breaker (for listeners, manual control and stats)."""
        return self._breaker

    @property
    def circuit_state(self) -> CircuitState:
        """The circuit's state (makes the lazy OPEN -> HALF_OPEN step when due)."""
        return self._breaker.state

    def stats(self) -> CircuitStats:
        """The circuit's counters: ``total_requests``, ``total_failures``, ``circuit_opens``,
        ``rejected`` and more."""
        return self._breaker.stats()

    def _observed_facts(self) -> tuple[str, str, str]:
        """The guarded provider's (name, default model, host[:port]), for observers."""
        if self._facts is None:
            self._facts = facts_of(self._inner)
        return self._facts

    async def is_available(self) -> bool:
        """False while the circuit is open (no permit is used up by asking)."""
        return self._breaker.state is not CircuitState.OPEN and await self._inner.is_available()

    async def complete(self, request: LlmRequest) -> LlmResponse:
        try:
            targets = observers()
            if not targets:
                return await self._breaker.call(self._inner.complete, request)
            breaker = self._breaker
            # One reported attempt per admitted call. Its end is reported after the
            # breaker recorded the outcome, so the failure rate an observer reads
            # includes this attempt.
            facts = self._facts or self._observed_facts()
            started: list[Attempt] = []  # the attempt, once the circuit admitted it
            try:
                response = await breaker.call(
                    admitted, started, targets, self._inner, facts, breaker, request
                )
            except BaseException as exc:
                if started:  # else the circuit refused it: no attempt was made
                    end_attempt(targets, started[0], breaker, exc, "error")
                raise
            end_attempt(targets, started[0], breaker, None, "success")
            return response
        except CircuitOpenError as exc:
            if exc.provider is None:
                exc.provider = self._inner.name
            raise

    def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
        return _BreakerStream(self, request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class _BreakerStream(ChunkStream):
    """A stream under the breaker: it holds its permit until its finish reason or its end."""

    __slots__ = ("_attempt", "_owner", "_permit", "_request", "_targets")

    def __init__(self, owner: ResilientProvider, request: LlmRequest) -> None:
        super().__init__(owner.inner.name)
        self._owner = owner
        self._request = request
        self._permit: Permit | None = None
        self._targets = observers()
        self._attempt: Attempt | None = None

    def _report(self, error: BaseException | None, outcome: str) -> None:
        """Tell the observers how the attempt ended (once)."""
        attempt, self._attempt = self._attempt, None
        if attempt is not None:
            end_attempt(self._targets, attempt, self._owner.breaker, error, outcome)

    async def _start(self) -> tuple[StreamChunk, AsyncIterator[StreamChunk]]:
        inner = self._owner.inner
        try:
            permit = await self._owner.breaker.acquire()
        except CircuitOpenError as exc:
            if exc.provider is None:
                exc.provider = inner.name
            raise
        self._permit = permit
        if self._targets:
            facts = self._owner._observed_facts()
            self._attempt = start_attempt(self._targets, facts, self._owner.breaker, self._request)
        token = None if self._attempt is None else enter_attempt(self._attempt)
        try:
            chunks = inner.stream(self._request)
            return await first_chunk(chunks, inner.name), chunks
        except BaseException as exc:
            await permit.record_error(exc)
            self._report(exc, "error")
            raise
        finally:
            if token is not None:
                leave_attempt(token)

    async def _finished(self) -> None:
        # The verdict goes in before the last chunk leaves: once it is out, the consumer's
        # break, a wrapper or the garbage collector may close the stream, and none of that
        # unmakes a complete answer.
        assert self._permit is not None
        await self._permit.success()
        self._report(None, "success")

    async def _failed(self, error: BaseException, stream: ChunkStream) -> BaseException:
        assert self._permit is not None
        await self._permit.record_error(error)  # a no-op once the success is recorded
        self._report(error, "error")
        return error

    async def _abandoned(self) -> None:
        assert self._permit is not None
        await self._permit.release()  # abandoned before its finish reason: no evidence
        self._report(None, "abandoned")
