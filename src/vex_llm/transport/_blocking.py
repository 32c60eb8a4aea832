"""``blocking()``: any provider or ``stack()`` from plain threads, without asyncio.

The facade owns one event loop on a private daemon thread; every call is a coroutine handed
to that loop (``asyncio.run_coroutine_threadsafe``), so calls from many threads run side by
side on one loop and share the provider's connection pool and circuits. The caller's
context variables travel with the call (``run_coroutine_threadsafe`` schedules it in a copy
of the calling thread's context), so ``with vex_llm.deadline(5):`` around a blocking call
bounds it as it bounds an async one.

Shutdown: ``close()`` (or leaving the ``with`` block) closes the provider on the loop, stops
the loop and joins its thread. A facade that is never closed is closed by a
``weakref.finalize`` when it is collected or, at the latest, when the interpreter exits
(``finalize`` runs its pending callbacks from ``atexit``), so the provider's connections are
closed and the daemon thread never holds up the exit.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Coroutine, Iterator
from types import TracebackType
from typing import Final, Self, TypeVar

from .._limits import check_seconds, checked_as
from .._provider import LlmProvider, close_stream
from .._types import LlmRequest, LlmResponse, StreamChunk
from ._loop import LoopThread

_T = TypeVar("_T")
_END: Final = object()
_WHAT: Final = "blocking() facade"


async def _close(provider: LlmProvider, streams: set[AsyncIterator[StreamChunk]]) -> None:
    # Streams first, each from its outermost layer: left to shutdown_asyncgens(), the
    # generators nested in one stream would be closed all at once, inner ones while their
    # outer one is still closing them ("aclose(): asynchronous generator is already running").
    for chunks in list(streams):
        streams.discard(chunks)
        with contextlib.suppress(Exception):  # a stream that fails to close is still gone
            await close_stream(chunks)
    await provider.aclose()


class BlockingProvider:
    """A blocking facade over an ``LlmProvider`` (a ``stack()`` included), for code without
    asyncio: Flask or Django views, scripts, worker threads.

    Build it with ``vex_llm.blocking(provider)``. It is not itself an ``LlmProvider`` (its
    methods block instead of returning coroutines). Every method is safe to call from many
    threads at once; the calls run concurrently on one private event-loop thread. Hand the
    provider to the facade and use it only through the facade from then on: its
    connections belong to the facade's loop.

    Args:
        provider: The provider to run; the facade owns it and closes it in ``close()``.
        close_timeout: Seconds ``close()`` waits for the provider to close and for the loop
            thread to end (default 10: closing a connection pool takes milliseconds, and
            the wait must still be bounded).

    Raises:
        TypeError: If ``provider`` is not an ``LlmProvider``.
        ValueError: On a negative or non-finite ``close_timeout``.
    """

    __slots__ = ("__weakref__", "_loop", "_provider", "_streams")

    def __init__(self, provider: LlmProvider, *, close_timeout: float = 10.0) -> None:
        value: object = provider
        if not isinstance(value, LlmProvider):
            msg = f"blocking() takes an LlmProvider, got {type(value).__name__}"
            raise TypeError(msg)
        checked_as("blocking close_timeout", _seconds, close_timeout)
        self._provider = provider
        streams: set[AsyncIterator[StreamChunk]] = set()  # open streams, closed at the end
        self._streams = streams
        # The closing coroutine holds the provider and the streams, never self: an unclosed
        # facade can still be collected (and is closed at interpreter exit otherwise).
        self._loop = LoopThread(
            self,
            f"vex-llm blocking({provider.name})",
            lambda: _close(provider, streams),
            close_timeout,
        )

    @property
    def name(self) -> str:
        """The provider's name."""
        return self._provider.name

    @property
    def provider(self) -> LlmProvider:
        """The provider the facade runs."""
        return self._provider

    @property
    def closed(self) -> bool:
        """Whether ``close()`` ran (or the facade was finalized)."""
        return not self._loop.running

    def complete(self, request: LlmRequest) -> LlmResponse:
        """Run one completion and wait for it.

        Args:
            request: What to ask.

        Returns:
            The finished answer.

        Raises:
            LlmError: As the provider's ``complete()``.
            RuntimeError: After ``close()``, or when called from the facade's own loop
                thread (a callback inside the provider: await the provider there instead).
        """
        return self._call(self._provider.complete(request))

    def ask(self, prompt: str) -> str:
        """Ask one question and return the answer text.

        Args:
            prompt: The user's prompt.

        Returns:
            The answer's text.

        Raises:
            LlmError: As ``complete()``.
            RuntimeError: As ``complete()``.
        """
        return self._call(self._provider.ask(prompt))

    def is_available(self) -> bool:
        """Tell whether a call is worth trying now (see ``LlmProvider.is_available``).

        Raises:
            RuntimeError: As ``complete()``.
        """
        return self._call(self._provider.is_available())

    def stream(self, request: LlmRequest) -> Iterator[StreamChunk]:
        """Stream one completion as a plain iterator.

        Each ``next()`` waits for the next chunk. Leaving the loop early (``break``, an
        exception, or closing the iterator) closes the provider's stream at once, its HTTP
        response and circuit permit included.

        Args:
            request: What to ask.

        Returns:
            An iterator of chunks; the last one carries ``finish_reason``.

        Raises:
            LlmError: While iterating, as the provider's ``stream()``.
            RuntimeError: As ``complete()``.
        """
        self._loop.check(_WHAT)
        return self._chunks(request)

    def close(self) -> None:
        """Close the provider, stop the loop and end its thread. Safe to call twice.

        Calls still running in other threads are cancelled (they raise
        ``concurrent.futures.CancelledError``).
        """
        self._loop.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"BlockingProvider({self._provider!r}, {state})"

    # -- internals --------------------------------------------------------------------------

    def _call(self, coro: Coroutine[object, object, _T]) -> _T:
        return self._loop.run(coro, _WHAT)

    def _chunks(self, request: LlmRequest) -> Iterator[StreamChunk]:
        chunks = self._call(_open(self._provider, request))
        self._streams.add(chunks)
        try:
            while True:
                chunk = self._call(_next(chunks))
                if chunk is _END:
                    return
                assert isinstance(chunk, StreamChunk)
                yield chunk
        finally:
            self._close_stream(chunks)

    def _close_stream(self, chunks: AsyncIterator[StreamChunk]) -> None:
        self._streams.discard(chunks)
        if not self._loop.running:
            return  # the loop is gone, and every stream it ran was closed with it
        if self._loop.on_loop():
            # Collected on the loop itself: nobody may block here; the task closes it.
            _ = self._loop.loop.create_task(close_stream(chunks))
            return
        self._call(close_stream(chunks))


async def _open(provider: LlmProvider, request: LlmRequest) -> AsyncIterator[StreamChunk]:
    # Built on the loop, so a stream object that binds to its loop binds to this one.
    return provider.stream(request)


async def _next(chunks: AsyncIterator[StreamChunk]) -> object:
    # The end is a value, not StopAsyncIteration: that exception cannot cross a future.
    try:
        return await anext(chunks)
    except StopAsyncIteration:
        return _END


def _seconds(value: object) -> float:
    return check_seconds(value, zero=True)


def blocking(provider: LlmProvider, *, close_timeout: float = 10.0) -> BlockingProvider:
    """Run ``provider`` (any ``LlmProvider`` or ``stack()``) from blocking code.

    ``with vex_llm.blocking(vex_llm.stack([...])) as llm: llm.ask("...")``. See
    ``BlockingProvider``.

    Args:
        provider: The provider; the facade owns it and closes it with itself.
        close_timeout: Seconds ``close()`` waits at most (default 10).

    Returns:
        The facade; close it with ``close()`` or use it as a context manager.

    Raises:
        TypeError: If ``provider`` is not an ``LlmProvider``.
        ValueError: On a negative or non-finite ``close_timeout``.
    """
    return BlockingProvider(provider, close_timeout=close_timeout)
