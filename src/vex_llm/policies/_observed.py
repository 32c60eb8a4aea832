"""Logical calls and upstream attempts, reported to the observers of ``vex_llm._observe``.

Only taken when something observes: a ``ResilienceStack`` and a ``ResilientProvider``
check ``observers()`` once per call and go the plain way when it is empty. Their
``complete()`` report inline with these helpers (no coroutine of their own around the
call: each frame was a measurable share of the seam's cost per call).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from .._clock import Clock
from .._observe import (
    _CALL,
    Attempt,
    Call,
    Observers,
    enter_attempt,
    failed,
    leave_attempt,
)
from .._provider import LlmProvider
from .._stream import ChunkStream, first_chunk
from .._types import LlmRequest, LlmResponse, StreamChunk

if TYPE_CHECKING:
    from ..breaker import CircuitBreaker

_FLUSH_EVERY: Final = 1.0
"""Seconds at most between a stream's batches of chunk gaps (``Observer.chunks``)."""


def _bottom(provider: LlmProvider) -> LlmProvider:
    current = provider
    for _ in range(32):  # wrappers nest a handful deep; the bound guards against a cycle
        inner = getattr(current, "inner", None)
        if not isinstance(inner, LlmProvider):
            break
        current = inner
    return current


def server_of(provider: LlmProvider) -> str:
    """The host[:port] a provider posts to (``""`` without a URL): never a path or a
    credential, so it can be a label."""
    url = getattr(provider, "url", None)
    if not isinstance(url, str):
        return ""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return ""
    return host if port is None else f"{host}:{port}"


def facts_of(inner: LlmProvider) -> tuple[str, str, str]:
    """The (name, default model, server) of the provider at the bottom of ``inner``."""
    bottom = _bottom(inner)
    return bottom.name, str(getattr(bottom, "model", "") or ""), server_of(bottom)


def start_attempt(
    targets: Observers,
    facts: tuple[str, str, str],
    breaker: CircuitBreaker,
    request: LlmRequest,
) -> Attempt:
    """Report an admitted attempt on the provider ``facts`` describe (noted on the call)."""
    name, default_model, server = facts
    model = request.model or default_model
    call = _CALL.get()
    attempt = Attempt(call, name, model, server, breaker)
    if call is not None:
        call.attempted(name, model, server)
    for hook in targets.attempt_started:
        try:
            hook(attempt)
        except Exception:
            failed(hook)
    return attempt


def end_attempt(
    targets: Observers,
    attempt: Attempt,
    breaker: CircuitBreaker,
    error: BaseException | None,
    outcome: str,
) -> None:
    """Report how an attempt ended (with the circuit's failure rate in ratio mode)."""
    attempt.error = error
    if breaker.config.mode == "ratio":
        attempt.failure_rate = breaker.stats().failure_rate
    for hook in targets.attempt_ended:
        try:
            hook(attempt, outcome)
        except Exception:
            failed(hook)


def admitted(
    started: list[Attempt],
    targets: Observers,
    inner: LlmProvider,
    facts: tuple[str, str, str],
    breaker: CircuitBreaker,
    request: LlmRequest,
) -> Awaitable[LlmResponse]:
    """The admitted attempt, reported; the breaker awaits what it returns. A plain function,
    not a coroutine: when no observer adds headers, nothing has to run around the await."""
    attempt = start_attempt(targets, facts, breaker, request)
    started.append(attempt)
    if targets.outgoing:
        return _sent(attempt, inner, request)
    return inner.complete(request)


async def _sent(attempt: Attempt, inner: LlmProvider, request: LlmRequest) -> LlmResponse:
    """``inner.complete(request)`` with ``attempt`` current while its request goes out."""
    token = enter_attempt(attempt)
    try:
        return await inner.complete(request)
    finally:
        leave_attempt(token)


def call_ended(targets: Observers, call: Call, outcome: str) -> None:
    """Report that ``call`` ended with ``outcome`` (once: later reports are no-ops)."""
    if not call.ended:
        call.ended = True
        for hook in targets.call_ended:
            try:
                hook(call, outcome)
            except Exception:
                failed(hook)


def call_started(targets: Observers, call: Call) -> None:
    """Report that ``call`` began."""
    for hook in targets.call_started:
        try:
            hook(call)
        except Exception:
            failed(hook)


class ObservedStream(ChunkStream):
    """A stack's stream as one reported logical call: the outermost stream, timing chunks.

    The gaps between chunks are kept in a list and handed to the observers that time
    chunks in batches (``Observer.chunks``): at least once a second, and when the stream
    ends. Per chunk that costs a clock read and an append.
    """

    __slots__ = (
        "_call",
        "_clock",
        "_firsts",
        "_flush_at",
        "_gaps",
        "_last_at",
        "_outer",
        "_request",
        "_targets",
        "_timers",
    )

    def __init__(
        self,
        targets: Observers,
        name: str,
        outer: LlmProvider,
        request: LlmRequest,
        clock: Clock,
    ) -> None:
        super().__init__(outer.name)
        self._targets = targets
        self._outer = outer
        self._request = request
        self._clock = clock
        self._call = Call(name, clock, streamed=True, request=request)
        self._call.model = request.model or ""
        self._firsts = targets.first_chunk
        # Only observers that time chunks cost anything per chunk.
        self._timers = targets.chunks
        self._gaps: list[float] | None = None  # made at the first chunk, if timed
        self._last_at = 0.0  # when the last chunk was handed on
        self._flush_at = 0.0  # when the gaps go to the observers at the latest

    async def __anext__(self) -> StreamChunk:
        # The call is current while the chain works (a restart's attempt, a decision, a
        # state change belong to it), and only then: the consumer's code between chunks
        # is not part of it.
        token = _CALL.set(self._call)
        try:
            chunk = await ChunkStream.__anext__(self)
        finally:
            _CALL.reset(token)
        gaps = self._gaps
        if gaps is not None:
            now = self._clock()
            gaps.append(now - self._last_at)
            self._last_at = now
            if now >= self._flush_at:
                self._flush(now)
        elif self._call.last_chunk is None:
            self._first()
        if chunk.finish_reason is not None or chunk.usage is not None:
            self._last(chunk)
        return chunk

    def _first(self) -> None:
        """The first chunk: report its time, and start timing the rest if anyone does."""
        call = self._call
        now = call.last_chunk = self._last_at = self._clock()
        seconds = now - call.started
        for hook in self._firsts:
            try:
                hook(call, seconds)
            except Exception:
                failed(hook)
        if self._timers:
            self._gaps = []
            self._flush_at = now + _FLUSH_EVERY

    def _flush(self, now: float) -> None:
        """Hand the gaps timed so far to the observers that time chunks."""
        gaps = self._gaps
        if not gaps:
            return
        self._gaps = []
        self._flush_at = now + _FLUSH_EVERY
        call = self._call
        call.last_chunk = self._last_at
        for hook in self._timers:
            try:
                hook(call, gaps)
            except Exception:
                failed(hook)

    def _end(self, outcome: str) -> None:
        self._flush(self._last_at)
        call_ended(self._targets, self._call, outcome)

    def _last(self, chunk: StreamChunk) -> None:
        """The chunks that end a stream carry its model, provider, usage and finish."""
        call = self._call
        if chunk.model:
            call.response_model = chunk.model
        if chunk.provider and chunk.provider != call.provider:
            call.answered_by(chunk.provider)
        if chunk.usage is not None:
            call.usage = chunk.usage
        if chunk.finish_reason is not None:
            call.finish_reason = chunk.finish_reason
            if any(target.wants_content for target in self._targets):
                call.output = self.partial
            self._end("success")

    async def _start(self) -> tuple[StreamChunk, AsyncIterator[StreamChunk]]:
        call_started(self._targets, self._call)
        try:
            chunks = self._outer.stream(self._request)
            return await first_chunk(chunks, self._outer.name), chunks
        except BaseException as exc:
            self._call.error = exc
            self._end("error")
            raise

    async def _failed(self, error: BaseException, stream: ChunkStream) -> BaseException:
        self._call.error = error
        self._end("error")
        return error

    async def _abandoned(self) -> None:
        self._end("abandoned")
