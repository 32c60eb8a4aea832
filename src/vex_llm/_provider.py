"""The provider contract every real provider and every policy wrapper implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Self

from ._types import LlmRequest, LlmResponse, StreamChunk


class LlmProvider(ABC):
    """An LLM provider: something that turns an ``LlmRequest`` into an answer.

    Wrappers (``ResilientProvider``, retries, fallbacks, ...) are providers around
    providers, so they compose. Providers own their connections: close them with
    ``aclose()`` or use the provider as an async context manager.
    """

    @property
    @abstractmethod
    def name(self) -> str:
        """A short, stable name used in errors, logs, stats and ``LlmResponse.provider``."""

    async def is_available(self) -> bool:
        """Tell whether a call is worth trying now (no network I/O by default).

        Returns:
            ``True`` unless the provider knows it cannot serve (a wrapper with an open
            circuit, say).
        """
        return True

    @abstractmethod
    async def complete(self, request: LlmRequest) -> LlmResponse:
        """Run one completion.

        Args:
            request: What to ask.

        Returns:
            The finished answer.

        Raises:
            LlmError: A subclass saying what failed.
        """

    async def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
        """Stream one completion chunk by chunk.

        The default runs ``complete()`` and yields its answer as one chunk; providers that
        can stream override it.

        Args:
            request: What to ask.

        Yields:
            Chunks; the last one carries ``finish_reason``.

        Raises:
            LlmError: A subclass saying what failed (``StreamInterrupted`` after a start).
        """
        response = await self.complete(request)
        yield StreamChunk(
            response.content,
            finish_reason=response.finish_reason or "stop",
            usage=response.usage,
            model=response.model,
            provider=response.provider or self.name,
        )

    async def ask(self, prompt: str) -> str:
        """Ask one question and return the answer text.

        Args:
            prompt: The user's prompt.

        Returns:
            The answer's text.

        Raises:
            LlmError: As ``complete()``.
        """
        response = await self.complete(LlmRequest.from_prompt(prompt))
        return response.content

    async def aclose(self) -> None:  # noqa: B027 - a no-op default is the point
        """Release connections and other resources. Safe to call twice."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


async def close_stream(chunks: AsyncIterator[object]) -> None:
    """Close a stream's iterator if it can be closed (async generators can).

    Whoever opens a stream closes it in ``finally``, so that abandoning it closes it at
    once (its HTTP response and breaker permit included), not at garbage collection.
    """
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()


class ProviderWrapper(LlmProvider):
    """A provider around one other provider that it passes through by default.

    Policies that add behaviour to calls (retries, timeouts, deadlines) keep the inner
    provider's name (so errors, traces and ``LlmResponse.provider`` name the real
    provider), its availability and its resources; they override ``complete`` and
    ``stream``.

    Args:
        provider: The wrapped provider.

    Raises:
        TypeError: If ``provider`` is not an ``LlmProvider``.
    """

    def __init__(self, provider: LlmProvider) -> None:
        value: object = provider
        if not isinstance(value, LlmProvider):
            msg = f"provider must be an LlmProvider, got {type(value).__name__}"
            raise TypeError(msg)
        self._inner = provider

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def inner(self) -> LlmProvider:
        """The wrapped provider."""
        return self._inner

    async def is_available(self) -> bool:
        return await self._inner.is_available()

    async def aclose(self) -> None:
        await self._inner.aclose()
