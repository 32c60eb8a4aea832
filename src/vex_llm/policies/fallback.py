"""FallbackProvider: try providers in order, skipping the ones whose circuit is open."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence

from .._errors import (
    AllProvidersFailed,
    AuthenticationFailed,
    CircuitOpenError,
    ContextLengthExceeded,
    InvalidRequest,
    LlmError,
    StreamInterrupted,
    Timeout,
)
from .._provider import LlmProvider, close_stream, open_stream
from .._types import LlmRequest, LlmResponse, StreamChunk, StreamReset
from ._scope import STREAM_BREAK_POLICIES, StreamBreak, stream_break_policy, time_left
from ._trace import base_name, emit


def _stops_fallback(exc: LlmError) -> bool:
    """A caller error: another provider would refuse the same request the same way."""
    return isinstance(exc, InvalidRequest | AuthenticationFailed)


class FallbackProvider(LlmProvider):
    """Tries providers in order until one answers.

    A provider whose ``is_available()`` is false (its circuit is open) is skipped without
    being called. The chain moves on after retryable errors, timeouts and circuit
    rejections, and stops at caller errors (``InvalidRequest``, ``AuthenticationFailed``),
    which are raised as they are: another provider would refuse the request too. A
    ``ContextLengthExceeded`` moves on only to providers configured with a larger
    context window. When every provider fails, one ``AllProvidersFailed`` carries every
    error. The chain stops early, the same way, once the call's deadline is spent.
    ``LlmResponse.provider`` (and a stream's first chunk) says who answered.

    Streams fall back only before their first chunk. After it, the stream-break policy
    decides: ``"raise"`` (default) raises ``StreamInterrupted`` with the partial text;
    ``"restart"`` replays the request on the next provider and, before its first chunk,
    yields a ``StreamReset`` marker so the consumer drops the partial text. A stream is
    never ended early as if it were complete. ``on_stream_break()`` overrides the
    policy for one call.

    Args:
        providers: The chain, primary first (at least one).
        on_stream_break: ``"raise"`` or ``"restart"`` (default ``"raise"``: never repeat
            text a user may already have read, unless the caller says it can cope).
        context_windows: Context sizes in tokens for providers that take long prompts,
            keyed by the provider objects in ``providers``; used only to route a
            ``ContextLengthExceeded``.
        name: The chain's name (default ``"fallback(a, b, ...)"``).

    Raises:
        ValueError: On an empty chain, an unknown policy or a context window < 1.
        TypeError: If an element of ``providers`` is not an ``LlmProvider``.
    """

    def __init__(
        self,
        providers: Sequence[LlmProvider],
        *,
        on_stream_break: StreamBreak = "raise",
        context_windows: Mapping[LlmProvider, int] | None = None,
        name: str | None = None,
    ) -> None:
        chain = tuple(providers)
        if not chain:
            msg = "FallbackProvider.providers must hold at least one provider"
            raise ValueError(msg)
        for provider in chain:
            value: object = provider
            if not isinstance(value, LlmProvider):
                msg = (
                    f"FallbackProvider.providers must hold LlmProviders, got {type(value).__name__}"
                )
                raise TypeError(msg)
        if on_stream_break not in STREAM_BREAK_POLICIES:
            msg = (
                f"FallbackProvider.on_stream_break must be one of {STREAM_BREAK_POLICIES}, "
                f"got {on_stream_break!r}"
            )
            raise ValueError(msg)
        windows = dict(context_windows or {})
        for provider, tokens in windows.items():
            if provider not in chain:
                msg = f"FallbackProvider.context_windows names {provider!r}, not in the chain"
                raise ValueError(msg)
            size: object = tokens
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                msg = f"FallbackProvider.context_windows values must be ints >= 1, got {size!r}"
                raise ValueError(msg)
        self._providers = chain
        self._windows = windows
        self._on_stream_break: StreamBreak = on_stream_break
        self._names = tuple(base_name(p) for p in chain)
        self._name = name or f"fallback({', '.join(self._names)})"

    @property
    def name(self) -> str:
        return self._name

    @property
    def providers(self) -> tuple[LlmProvider, ...]:
        """The chain, primary first."""
        return self._providers

    async def is_available(self) -> bool:
        """True while at least one provider of the chain is available."""
        for provider in self._providers:
            if await provider.is_available():
                return True
        return False

    async def complete(self, request: LlmRequest) -> LlmResponse:
        errors: list[LlmError] = []
        need: int | None = None  # after a context-length error: the window to beat
        for index, provider in enumerate(self._providers):
            name = self._names[index]
            if not await self._admit(index, need, errors):
                continue
            try:
                response = await provider.complete(request)
            except LlmError as exc:
                emit("failure", name, error=exc)
                need = self._after_failure(index, exc, need, errors)
                continue
            emit("success", name)
            return response
        raise self._exhausted(errors)

    async def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
        policy = stream_break_policy(self._on_stream_break)
        errors: list[LlmError] = []
        need: int | None = None
        reset: StreamReset | None = None  # owed to the consumer before the next answer
        for index, provider in enumerate(self._providers):
            name = self._names[index]
            if not await self._admit(index, need, errors):
                continue
            chunks = open_stream(provider, request)
            try:
                try:
                    first = await anext(chunks)
                except StopAsyncIteration:
                    msg = f"stream from {name!r} ended before its first chunk"
                    first_error: LlmError = StreamInterrupted(msg, provider=name)
                    emit("failure", name, error=first_error)
                    need = self._after_failure(index, first_error, need, errors)
                    continue
                except LlmError as exc:
                    emit("failure", name, error=exc)
                    need = self._after_failure(index, exc, need, errors)
                    continue
                if reset is not None:
                    emit("stream_reset", name, detail=reset.reason)
                    yield reset
                    reset = None
                parts = [first.delta]
                finished = self._finished(first, name)
                yield first
                broke: LlmError | None = None
                while not finished:
                    try:
                        chunk = await anext(chunks)
                    except StopAsyncIteration:
                        msg = f"stream from {name!r} ended without a finish reason"
                        broke = StreamInterrupted(msg, provider=name)
                        break
                    except LlmError as exc:
                        broke = exc
                        break
                    parts.append(chunk.delta)
                    finished = self._finished(chunk, name)
                    yield chunk
                if broke is None:
                    return  # anything after the finish reason would be a provider bug
                emit("failure", name, error=broke)
                emit("stream_break", name, error=broke, detail=policy)
                partial = "".join(parts)
                interrupted = self._interrupted(broke, partial, name)
                if policy == "raise":
                    if interrupted is broke:
                        raise interrupted
                    raise interrupted from broke
                errors.append(interrupted)
                reset = StreamReset(
                    "", provider=name, discarded=partial, reason=type(broke).__name__
                )
            finally:
                await close_stream(chunks)
        raise self._exhausted(errors)

    async def _admit(self, index: int, need: int | None, errors: list[LlmError]) -> bool:
        """Whether to call provider ``index`` now; a skip is traced (and kept as an error
        when it stands for the provider in the final group)."""
        name = self._names[index]
        provider = self._providers[index]
        if time_left() <= 0:
            emit("skip", name, detail="deadline")
            errors.append(
                Timeout(f"{name} not tried: the call's deadline was spent", provider=name)
            )
            return False
        if need is not None and self._windows.get(provider, 0) <= need:
            emit("skip", name, detail="context_too_small")
            return False
        if not await provider.is_available():
            emit("skip", name, detail="circuit_open")
            msg = f"{name} skipped without a call: its circuit is open"
            errors.append(CircuitOpenError(msg, provider=name, breaker=name))
            return False
        if errors:
            emit("fallback", name)
        return True

    def _after_failure(
        self, index: int, exc: LlmError, need: int | None, errors: list[LlmError]
    ) -> int | None:
        """Record a failure; raise it at once if the chain must stop here.

        Returns:
            The context window a later provider must beat (``None``: no such rule).
        """
        provider = self._providers[index]
        if isinstance(exc, ContextLengthExceeded):
            window = max(need or 0, self._windows.get(provider, 0))
            later = self._providers[index + 1 :]
            if any(self._windows.get(p, 0) > window for p in later):
                errors.append(exc)
                return window
            exc.add_note(
                f"vex_llm: no provider after {self._names[index]} has a larger context window"
            )
            raise exc
        if _stops_fallback(exc):
            exc.add_note(
                f"vex_llm: {self._names[index]} refused the request; not falling back "
                "(another provider would refuse it too)"
            )
            raise exc
        errors.append(exc)
        return need

    @staticmethod
    def _finished(chunk: StreamChunk, name: str) -> bool:
        """Whether ``chunk`` ends the stream; if so the success is traced now, before it is
        handed on (the consumer may stop right at it and never ask for more)."""
        if chunk.finish_reason is None:
            return False
        emit("success", name)
        return True

    @staticmethod
    def _interrupted(broke: LlmError, partial: str, name: str) -> StreamInterrupted:
        """The ``StreamInterrupted`` a broken stream is reported as, with its partial text."""
        if isinstance(broke, StreamInterrupted):
            broke.partial = partial
            return broke
        msg = f"stream from {name!r} broke after it started: {type(broke).__name__}"
        return StreamInterrupted(msg, partial=partial, provider=name, code=broke.code)

    def _exhausted(self, errors: list[LlmError]) -> LlmError:
        if not errors:  # every provider was skipped for its context window
            msg = f"{self._name}: no provider can take this request"
            return ContextLengthExceeded(msg)
        tried = ", ".join(f"{e.provider or '?'}: {type(e).__name__}" for e in errors)
        msg = f"all providers failed ({tried})"
        group = AllProvidersFailed(msg, errors)
        emit("give_up", self._name, detail="all_failed")
        return group

    async def aclose(self) -> None:
        for provider in self._providers:
            await provider.aclose()
