"""FallbackProvider: try providers in order, skipping the ones whose circuit is open."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence

from .._errors import (
    CircuitOpenError,
    ContextLengthExceeded,
    LlmError,
    StreamInterrupted,
    Timeout,
)
from .._guard import Limit, declared_limits, limit_scope
from .._provider import LlmProvider
from .._stream import ChunkStream, Restart, first_chunk
from .._types import LlmRequest, LlmResponse, StreamChunk, StreamReset
from ._chain import Chain, stops_chain
from ._scope import (
    STREAM_BREAK_POLICIES,
    Deadline,
    StreamBreak,
    current_deadline,
    deadline_scope,
    stream_break_policy,
    time_left,
)
from ._trace import emit


class FallbackProvider(Chain):
    """Tries providers in order until one answers.

    A provider whose ``is_available()`` is false (its circuit is open) is skipped without
    being called. The chain moves on after retryable errors, timeouts and circuit
    rejections, and stops at caller errors (``InvalidRequest``, ``AuthenticationFailed``),
    which are raised as they are: another provider would refuse the request too. A
    ``ContextLengthExceeded`` moves on only to providers configured with a larger
    context window; a request a provider cannot take (``InvalidRequest`` with an
    ``unsupported_*`` code, such as an image to a provider without vision, raised before
    anything is sent) moves on to the next provider. When every provider fails, one
    ``AllProvidersFailed`` carries every error. The chain stops early, the same way, once
    the call's deadline is spent. ``LlmResponse.provider`` (and a stream's first chunk)
    says who answered.

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
        super().__init__(providers, owner="FallbackProvider", minimum=1)
        chain = self._providers
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
        self._windows = windows
        self._on_stream_break: StreamBreak = on_stream_break
        self._name = name or f"fallback({', '.join(self._names)})"

    @property
    def name(self) -> str:
        return self._name

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

    def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
        return _FallbackStream(self, request)

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
        if stops_chain(exc):
            exc.add_note(
                f"vex_llm: {self._names[index]} refused the request; not falling back "
                "(another provider would refuse it too)"
            )
            raise exc
        errors.append(exc)
        return need

    @staticmethod
    def _interrupted(broke: LlmError, stream: ChunkStream, name: str) -> StreamInterrupted:
        """The ``StreamInterrupted`` a broken stream is reported as, with its partial text
        and tool calls."""
        if isinstance(broke, StreamInterrupted):
            broke.partial = stream.partial
            broke.partial_tool_calls = stream.partial_tool_calls
            return broke
        msg = f"stream from {name!r} broke after it started: {type(broke).__name__}"
        return StreamInterrupted(
            msg,
            partial=stream.partial,
            partial_tool_calls=stream.partial_tool_calls,
            provider=name,
            code=broke.code,
        )

    def _exhausted(self, errors: list[LlmError]) -> LlmError:
        if not errors:  # every provider was skipped for its context window
            msg = f"{self._name}: no provider can take this request"
            return ContextLengthExceeded(msg)
        return self._group(errors)


class _FallbackStream(ChunkStream):
    """A stream that falls back before its first chunk, and after it as the policy says."""

    __slots__ = (
        "_declared",
        "_errors",
        "_index",
        "_need",
        "_owner",
        "_policy",
        "_request",
        "_scope",
    )

    def __init__(self, owner: FallbackProvider, request: LlmRequest) -> None:
        super().__init__(owner.name)
        self._owner = owner
        self._request = request
        self._policy: StreamBreak = "raise"
        self._errors: list[LlmError] = []
        self._need: int | None = None  # after a context-length error: the window to beat
        self._index = 0
        self._scope: Deadline | None = None
        self._declared: tuple[Limit, ...] = ()

    async def _start(self) -> tuple[StreamChunk, AsyncIterator[StreamChunk]]:
        self._policy = stream_break_policy(self._owner._on_stream_break)
        self._scope = current_deadline()
        self._declared = declared_limits()
        return await self._open_from(0)

    async def _open_from(self, start: int) -> tuple[StreamChunk, AsyncIterator[StreamChunk]]:
        """The first chunk of the first provider from ``start`` on that gives one."""
        owner = self._owner
        for index in range(start, len(owner.providers)):
            name = owner._names[index]
            if not await owner._admit(index, self._need, self._errors):
                continue
            chunks = owner.providers[index].stream(self._request)
            try:
                first = await first_chunk(chunks, name)
            except LlmError as exc:
                emit("failure", name, error=exc)
                self._need = owner._after_failure(index, exc, self._need, self._errors)
                continue
            self._index = index
            return first, chunks
        raise owner._exhausted(self._errors)

    async def _finished(self) -> None:
        # Traced before the last chunk is handed on: the consumer may stop right at it.
        emit("success", self._owner._names[self._index])

    async def _failed(self, error: BaseException, stream: ChunkStream) -> BaseException | Restart:
        if not isinstance(error, LlmError):
            return error
        name = self._owner._names[self._index]
        emit("failure", name, error=error)
        emit("stream_break", name, error=error, detail=self._policy)
        partial = stream.partial
        interrupted = self._owner._interrupted(error, stream, name)
        if interrupted is not error:
            interrupted.__cause__ = error
            interrupted.__suppress_context__ = True
        if self._policy == "raise":
            return interrupted
        self._errors.append(interrupted)
        marker = StreamReset("", provider=name, discarded=partial, reason=type(error).__name__)
        try:
            # A restart opens the next stream in the context its first one was opened in.
            with deadline_scope(self._scope), limit_scope(self._declared):
                first, chunks = await self._open_from(self._index + 1)
        except LlmError as exc:
            return exc
        emit("stream_reset", self._owner._names[self._index], detail=marker.reason)
        return Restart(marker, first, chunks)
