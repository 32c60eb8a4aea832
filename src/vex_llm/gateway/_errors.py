"""Errors as the gateway answers them: an HTTP status, a wire-shaped JSON body, headers."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import (
    AllProvidersFailed,
    AuthenticationFailed,
    InvalidRequest,
    LlmError,
    NotAvailable,
    PoolExhausted,
    RateLimited,
    Timeout,
)

_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    502: "upstream_error",
    503: "service_unavailable",
    504: "timeout",
}
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class Failure:
    """What the gateway answers for a failed request.

    Args:
        status: The HTTP status.
        message: The message for the client (never a key or a prompt).
        retry_after: Seconds for a ``Retry-After`` header, if any.
    """

    status: int
    message: str
    retry_after: float | None = None

    def headers(self) -> dict[str, str]:
        """The response headers (``Retry-After`` in whole seconds, at least 1)."""
        if self.retry_after is None:
            return {}
        return {"retry-after": str(max(1, math.ceil(self.retry_after)))}

    def openai(self) -> dict[str, object]:
        """The OpenAI error body."""
        kind = _OPENAI_TYPES.get(self.status, "api_error")
        return {"error": {"message": self.message, "type": kind, "param": None, "code": None}}

    def anthropic(self) -> dict[str, object]:
        """The Anthropic error body."""
        kind = _ANTHROPIC_TYPES.get(self.status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": self.message}}


def failure_of(error: LlmError) -> Failure:
    """Map a call's error to the gateway's answer; with every candidate failed, the last.

    Args:
        error: The error the stack raised.

    Returns:
        The status (429, 503, 504, 502 or the upstream's 400), message and ``Retry-After``.
    """
    last = error
    while isinstance(last, AllProvidersFailed) and last.exceptions:
        inner = last.exceptions[-1]
        if not isinstance(inner, LlmError):
            break
        last = inner
    if isinstance(last, RateLimited):
        return Failure(status=429, message=str(last), retry_after=last.retry_after or 1.0)
    if isinstance(last, NotAvailable):
        return Failure(status=503, message=str(last), retry_after=last.retry_after or 1.0)
    if isinstance(last, PoolExhausted):
        return Failure(status=503, message=str(last), retry_after=1.0)
    if isinstance(last, Timeout):
        return Failure(status=504, message=str(last))
    if isinstance(last, InvalidRequest):
        return Failure(status=400, message=str(last))
    if isinstance(last, AuthenticationFailed):
        # 401 belongs to the gateway's own key: an upstream refusing ours is a bad gateway.
        return Failure(status=502, message="the upstream refused the gateway's provider key")
    return Failure(status=502, message=str(last))
