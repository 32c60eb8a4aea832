"""The error tree. Callers branch on the class, never on message text.

::

    Exception
     └── LlmError                      .provider .retryable .code .status .request_id .model
          ├── ConnectionFailed         could not reach the provider (DNS, TCP, TLS, reset)
          ├── NotAvailable             the provider said it cannot serve now (503, 529, overloaded)
          │    └── CircuitOpenError    breaker rejection; .retry_after .breaker .state .reason
          ├── RateLimited              429; .retry_after (seconds, from Retry-After headers)
          ├── Timeout                  no answer in time (connect, headers, first token, idle)
          ├── ServerError              5xx; .status
          ├── InvalidRequest           400/404/413/422: the caller must change the request
          │    └── ContextLengthExceeded   the prompt does not fit this model: route elsewhere
          ├── AuthenticationFailed     401/403: key missing, wrong or without access
          ├── InvalidResponse          a body we cannot parse or that breaks the schema
          └── StreamInterrupted        a stream that broke or ended without its finish; .partial

Every error takes its message as the one positional argument; everything else is
keyword-only. ``retryable`` defaults per class (transient failures are retryable; caller
errors and breaker rejections are not) and can be overridden per instance.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

RejectReason = Literal["open", "half_open_full", "isolated"]


def _clean_seconds(value: float | None) -> float | None:
    """Drop non-finite and negative hints: a bad header must never yield a bad wait."""
    if value is None or not math.isfinite(value) or value < 0:
        return None
    return float(value)


class LlmError(Exception):
    """Base class of every operational failure raised by vex-llm.

    Args:
        message: What happened and, where it helps, what to do about it.
        provider: Name of the provider that failed, if known.
        retryable: Override the class default (see ``default_retryable``).
        code: The provider's own error code or type (``"context_length_exceeded"``,
            ``"overloaded_error"``, ...), if it sent one.
        status: The HTTP status, if the failure came with one.
        request_id: The provider's request id, if it sent one (useful in support tickets).
        model: The model the request was for, if known.
    """

    default_retryable: ClassVar[bool] = False

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
        self.message = message
        self.provider = provider
        self.retryable: bool = self.default_retryable if retryable is None else retryable
        self.code = code
        self.status = status
        self.request_id = request_id
        self.model = model

    def __repr__(self) -> str:
        parts = [repr(self.message)]
        for key in ("provider", "code", "status"):
            value = getattr(self, key)
            if value is not None:
                parts.append(f"{key}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


class ConnectionFailed(LlmError):
    """The provider could not be reached (DNS, connect, TLS, connection reset)."""

    default_retryable = True


class NotAvailable(LlmError):
    """The provider cannot serve right now (503, 529, an "overloaded" body)."""

    default_retryable = True


class CircuitOpenError(NotAvailable):
    """A circuit breaker rejected the call without touching the provider.

    Args:
        message: What happened.
        retry_after: Seconds until the breaker admits a probe (``None`` when isolated
            by hand: no automatic recovery).
        breaker: Name of the breaker that rejected the call.
        state: The state it was in (``"open"`` or ``"half_open"``).
        reason: ``"open"``, ``"half_open_full"`` (all probe slots taken) or ``"isolated"``.
        **kwargs: The ``LlmError`` keyword arguments.
    """

    default_retryable = False

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        breaker: str = "",
        state: str = "open",
        reason: RejectReason = "open",
        provider: str | None = None,
        retryable: bool | None = None,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__(
            message,
            provider=provider,
            retryable=retryable,
            code=code,
            status=status,
            request_id=request_id,
            model=model,
        )
        self.retry_after = _clean_seconds(retry_after)
        self.breaker = breaker
        self.state = state
        self.reason: RejectReason = reason


class RateLimited(LlmError):
    """The provider answered 429.

    Args:
        message: What happened.
        retry_after: Seconds the provider asked us to wait, if it said (``Retry-After``,
            ``retry-after-ms``); non-finite or negative values are dropped.
        **kwargs: The ``LlmError`` keyword arguments.
    """

    default_retryable = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        provider: str | None = None,
        retryable: bool | None = None,
        code: str | None = None,
        status: int | None = 429,
        request_id: str | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__(
            message,
            provider=provider,
            retryable=retryable,
            code=code,
            status=status,
            request_id=request_id,
            model=model,
        )
        self.retry_after = _clean_seconds(retry_after)


class Timeout(LlmError):
    """No answer in time: connect, response headers, first token, idle stream or total."""

    default_retryable = True


class ServerError(LlmError):
    """The provider failed with a 5xx status (``.status`` says which)."""

    default_retryable = True


class InvalidRequest(LlmError):
    """The provider refused the request as malformed or unsupported (400/404/413/422)."""


class ContextLengthExceeded(InvalidRequest):
    """The prompt does not fit the model's context window: a longer-context model may take it."""


class AuthenticationFailed(LlmError):
    """The key is missing, wrong, or has no access to this model (401/403)."""


class InvalidResponse(LlmError):
    """The provider's answer could not be parsed or breaks the wire format."""

    default_retryable = True


class StreamInterrupted(LlmError):
    """A stream broke after it started, or ended without its finish reason.

    Args:
        message: What happened.
        partial: The text delivered before the break (so a caller can show or drop it).
        **kwargs: The ``LlmError`` keyword arguments.
    """

    default_retryable = True

    def __init__(
        self,
        message: str,
        *,
        partial: str = "",
        provider: str | None = None,
        retryable: bool | None = None,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__(
            message,
            provider=provider,
            retryable=retryable,
            code=code,
            status=status,
            request_id=request_id,
            model=model,
        )
        self.partial = partial
