"""The error tree. Callers branch on the class, never on message text.

::

    Exception
     └── LlmError                      .provider .retryable .code .status .request_id .model
          ├── ConnectionFailed         could not reach the provider (DNS, TCP, TLS, reset)
          ├── NotAvailable             the provider said it cannot serve now (503, 529, overloaded)
          │    └── CircuitOpenError    breaker rejection; .retry_after .breaker .state .reason
          ├── RateLimited              429; .retry_after (seconds, from Retry-After headers);
          │                            .code "local_rate_limit" from our own limiter
          ├── Timeout                  no answer in time (connect, headers, first token, idle)
          │    └── DeadlineExceeded    the caller's overall deadline ran out (breakers ignore it);
          │                            .code "deadline_exceeded"
          ├── PoolExhausted            no free connection in our own pool in time: local
          │                            congestion, not the provider's fault (breakers ignore it)
          ├── ServerError              5xx; .status
          ├── InvalidRequest           400/404/413/422: the caller must change the request
          │    └── ContextLengthExceeded   the prompt does not fit this model: route elsewhere
          ├── AuthenticationFailed     401/403: key missing, wrong or without access
          ├── InvalidResponse          a body we cannot parse or that breaks the schema
          ├── StreamInterrupted        a stream that broke or ended without its finish; .partial
          │                            .partial_tool_calls
          └── AllProvidersFailed       every provider of a fallback or hedge failed; also an
                                       ExceptionGroup holding each provider's error

Every error takes its message as the one positional argument; everything else is
keyword-only. ``retryable`` defaults per class (transient failures are retryable; caller
errors and breaker rejections are not) and can be overridden per instance.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final, Literal, Self, TypedDict, Unpack

if TYPE_CHECKING:
    from ._tools import ToolCall

RejectReason = Literal["open", "half_open_full", "isolated"]

DEADLINE_EXCEEDED: Final = "deadline_exceeded"
"""``Timeout.code`` when the caller's overall deadline ran out (not a provider's limit)."""

LOCAL_RATE_LIMIT: Final = "local_rate_limit"
"""``RateLimited.code`` when our own ``RateLimitedProvider`` refused the call (no 429 was
received: the provider was never asked, and breakers ignore it)."""


def _clean_seconds(value: float | None) -> float | None:
    """Drop non-finite and negative hints: a bad header must never yield a bad wait."""
    if value is None or not math.isfinite(value) or value < 0:
        return None
    return float(value)


class ErrorOptions(TypedDict, total=False):
    """The keyword arguments every ``LlmError`` takes (see ``LlmError``)."""

    provider: str | None
    retryable: bool | None
    code: str | None
    status: int | None
    request_id: str | None
    model: str | None


class LlmError(Exception):
    """Base class of every operational failure raised by vex-llm.

    Args:
        message: What happened and, where it helps, what to do about it.
        provider: Name of the provider that failed, if known.
        retryable: Override the class default (transient failures are retryable).
        code: The provider's own error code or type (``"context_length_exceeded"``,
            ``"overloaded_error"``, ...), if it sent one.
        status: The HTTP status, if the failure came with one.
        request_id: The provider's request id, if it sent one (useful in support tickets).
        model: The model the request was for, if known.
    """

    # Class-level defaults: an instance stores only what differs, which keeps raising
    # cheap on hot paths such as a breaker's rejection.
    retryable: bool = False
    provider: str | None = None
    code: str | None = None
    status: int | None = None
    request_id: str | None = None
    model: str | None = None

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        retryable: bool | None = None,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__(message)
        if provider is not None:
            self.provider = provider
        if retryable is not None:
            self.retryable = retryable
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if request_id is not None:
            self.request_id = request_id
        if model is not None:
            self.model = model

    @property
    def message(self) -> str:
        """The message the error was raised with."""
        return str(self.args[0]) if self.args else ""

    def __repr__(self) -> str:
        parts = [repr(self.message)]
        for key in ("provider", "code", "status"):
            value = getattr(self, key)
            if value is not None:
                parts.append(f"{key}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


class ConnectionFailed(LlmError):
    """The provider could not be reached (DNS, connect, TLS, connection reset)."""

    retryable = True


class NotAvailable(LlmError):
    """The provider cannot serve right now (503, 529, an "overloaded" body).

    Args:
        message: What happened.
        retry_after: Seconds the provider asked us to wait (``Retry-After`` on a 503),
            if it said; non-finite or negative values are dropped.
        **kwargs: The ``LlmError`` keyword arguments.
    """

    retryable = True
    retry_after: float | None = None

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        **options: Unpack[ErrorOptions],
    ) -> None:
        super().__init__(message, **options)
        if retry_after is not None:
            self.retry_after = _clean_seconds(retry_after)


class CircuitOpenError(NotAvailable):
    """A circuit breaker rejected the call without touching the provider.

    ``str()`` of the error adds the time until the next probe to the message.

    Args:
        message: What happened.
        retry_after: Seconds until the breaker admits a probe (``None`` when isolated
            by hand: no automatic recovery).
        breaker: Name of the breaker that rejected the call.
        state: The state it was in (``"open"`` or ``"half_open"``).
        reason: ``"open"``, ``"half_open_full"`` (all probe slots taken) or ``"isolated"``.
        **kwargs: The ``LlmError`` keyword arguments.
    """

    # Two slots, no __dict__: a rejection is raised on the hot path of an open circuit,
    # and the breaker shares one (breaker, state, reason) tuple between its rejections.
    __slots__ = ("_where", "retry_after")
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        breaker: str = "",
        state: str = "open",
        reason: RejectReason = "open",
        **options: Unpack[ErrorOptions],
    ) -> None:
        super().__init__(message, **options)
        self.retry_after: float | None = _clean_seconds(retry_after)
        self._where: tuple[str, str, RejectReason] = (breaker, state, reason)

    def __reduce__(self) -> tuple[object, ...]:
        # Slots are not in __dict__: rebuild through __init__ so copies and pickles keep them.
        breaker, state, reason = self._where
        return (
            _rebuild_rejection,
            (self.args[0] if self.args else "", breaker, state, reason, self.retry_after),
            dict(getattr(self, "__dict__", {})),
        )

    @property
    def breaker(self) -> str:
        """Name of the breaker that rejected the call."""
        return self._where[0]

    @property
    def state(self) -> str:
        """The breaker's state: ``"open"`` or ``"half_open"``."""
        return self._where[1]

    @property
    def reason(self) -> RejectReason:
        """``"open"``, ``"half_open_full"`` or ``"isolated"``."""
        return self._where[2]

    def __str__(self) -> str:
        text = super().__str__()
        if self.retry_after is not None:
            return f"{text}; next probe in {self.retry_after:.1f}s"
        return text


class RateLimited(LlmError):
    """The provider answered 429.

    Args:
        message: What happened.
        retry_after: Seconds the provider asked us to wait, if it said (``Retry-After``,
            ``retry-after-ms``); non-finite or negative values are dropped.
        **kwargs: The ``LlmError`` keyword arguments.
    """

    retryable = True
    retry_after: float | None = None

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        **options: Unpack[ErrorOptions],
    ) -> None:
        options.setdefault("status", 429)
        super().__init__(message, **options)
        self.retry_after = _clean_seconds(retry_after)


class Timeout(LlmError):
    """No answer in time: connect, response headers, first token, idle stream or total."""

    retryable = True


class DeadlineExceeded(Timeout):
    """The caller's overall deadline ran out (``deadline()``, ``DeadlineProvider``).

    The caller's budget is spent, which says nothing about the provider: circuit breakers
    ignore it. ``.code`` is ``"deadline_exceeded"``.
    """

    code = DEADLINE_EXCEEDED


class PoolExhausted(LlmError):
    """No connection of the local pool became free in time: this process is congested.

    Not the provider's fault, so circuit breakers ignore it (a healthy provider's circuit
    never opens because the caller runs more concurrent calls than its pool allows). Raise
    the pool's size with ``HttpLimits(max_connections=...)``.
    """

    retryable = True


class ServerError(LlmError):
    """The provider failed with a 5xx status (``.status`` says which)."""

    retryable = True


class InvalidRequest(LlmError):
    """The provider refused the request as malformed or unsupported (400/404/413/422)."""


class ContextLengthExceeded(InvalidRequest):
    """The prompt does not fit the model's context window: a longer-context model may take it."""


class AuthenticationFailed(LlmError):
    """The key is missing, wrong, or has no access to this model (401/403)."""


class InvalidResponse(LlmError):
    """The provider's answer could not be parsed or breaks the wire format."""

    retryable = True


class StreamInterrupted(LlmError):
    """A stream broke after it started, or ended without its finish reason.

    Args:
        message: What happened.
        partial: The text delivered before the break (so a caller can show or drop it).
        partial_tool_calls: The tool calls the stream had begun before the break, in
            order, assembled from their deltas (those that said their id and name). Their
            ``arguments`` are the JSON text received so far: possibly incomplete, never to
            be run as they are.
        **kwargs: The ``LlmError`` keyword arguments.
    """

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        partial: str = "",
        partial_tool_calls: Sequence[ToolCall] = (),
        **options: Unpack[ErrorOptions],
    ) -> None:
        super().__init__(message, **options)
        self.partial = partial
        self.partial_tool_calls: tuple[ToolCall, ...] = tuple(partial_tool_calls)


class AllProvidersFailed(ExceptionGroup[LlmError], LlmError):
    """Every provider of a fallback chain (or hedge) failed or was skipped.

    It is an ``ExceptionGroup`` of one error per provider, in the order they were tried
    (a skipped provider shows as the ``CircuitOpenError`` or ``Timeout`` that kept it
    out), so ``except* RateLimited:`` works, and an ``LlmError``, so ``except LlmError:``
    does too. ``retryable`` is true when any of the errors is.

    Args:
        message: What happened.
        exceptions: The errors, one per provider.
    """

    def __new__(cls, message: str, exceptions: Sequence[LlmError]) -> Self:
        return super().__new__(cls, message, exceptions)

    def __init__(self, message: str, exceptions: Sequence[LlmError]) -> None:
        super().__init__(message, exceptions)
        self.retryable = any(error.retryable for error in exceptions)

    def derive(self, excs: Sequence[LlmError]) -> AllProvidersFailed:  # type: ignore[override]  # ExceptionGroup.derive is generic over any exception type; ours holds LlmErrors only
        """Build a group like this one around ``excs`` (used by ``split``/``subgroup``)."""
        return AllProvidersFailed(self.message, excs)


def rejection(
    message: str,
    where: tuple[str, str, RejectReason],
    retry_after: float | None,
    _new: Callable[..., CircuitOpenError] = CircuitOpenError.__new__,
) -> CircuitOpenError:
    """Build a breaker's rejection on the hot path (skips argument validation).

    A plain function, not a classmethod, and the caller raises the result directly: a
    local variable holding the error in the raising frame would make a reference cycle
    (error -> traceback -> frame -> error) for the garbage collector to find.

    Args:
        message: What happened.
        where: ``(breaker, state, reason)``.
        retry_after: Seconds until a probe (already clean: finite, >= 0, or None).

    Returns:
        The error.
    """
    error = _new(CircuitOpenError, message)
    error._where = where
    error.retry_after = retry_after
    return error


def _rebuild_rejection(
    message: str, breaker: str, state: str, reason: RejectReason, retry_after: float | None
) -> CircuitOpenError:
    return CircuitOpenError(
        message, retry_after=retry_after, breaker=breaker, state=state, reason=reason
    )
