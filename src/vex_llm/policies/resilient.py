"""ResilientProvider: the seed's wrapper, any provider behind a circuit breaker."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Final, Self

from .._clock import Clock
from .._errors import CircuitOpenError, StreamInterrupted
from .._provider import LlmProvider, close_stream, open_stream
from .._types import LlmRequest, LlmResponse, StreamChunk
from ..breaker import CircuitBreaker, CircuitConfig, CircuitState, CircuitStats
from ..stores import CircuitStore

_DEFAULT_CONFIG: Final = CircuitConfig()


class ResilientProvider(LlmProvider):
    """Wraps a provider in a circuit breaker: fail fast while the provider is down.

    While the circuit is open, calls raise ``CircuitOpenError`` (a ``NotAvailable``)
    without touching the provider; after ``reset_timeout`` a few probes test recovery.
    A stream holds its permit until its finish reason arrives, and counts as a success
    from that moment (before the last chunk is handed on), however the generator is closed
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

    async def is_available(self) -> bool:
        """False while the circuit is open (no permit is used up by asking)."""
        return self._breaker.state is not CircuitState.OPEN and await self._inner.is_available()

    async def complete(self, request: LlmRequest) -> LlmResponse:
        try:
            return await self._breaker.call(self._inner.complete, request)
        except CircuitOpenError as exc:
            if exc.provider is None:
                exc.provider = self._inner.name
            raise

    async def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
        try:
            permit = await self._breaker.acquire()
        except CircuitOpenError as exc:
            if exc.provider is None:
                exc.provider = self._inner.name
            raise
        parts: list[str] = []
        try:
            chunks = open_stream(self._inner, request)
            try:
                async for chunk in chunks:
                    if chunk.finish_reason is not None:
                        # The verdict goes in before the last chunk leaves: once it is out,
                        # a wrapper, the consumer's break or the garbage collector may close
                        # this generator, and none of that unmakes a complete answer.
                        await permit.success()
                        yield chunk
                        return  # complete: whatever the provider sends after it is not read
                    parts.append(chunk.delta)
                    yield chunk
            finally:
                await close_stream(chunks)
            # Never pass a truncated stream off as complete, whatever the provider did.
            msg = f"stream from {self._inner.name!r} ended without a finish reason"
            raise StreamInterrupted(msg, partial="".join(parts), provider=self._inner.name)
        except GeneratorExit:
            await permit.release()  # abandoned before its finish reason: no evidence
            raise
        except BaseException as exc:
            await permit.record_error(exc)  # a no-op once the success is recorded
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()
