"""The HTTP boundary: the one place where httpx2 errors and HTTP statuses become ``LlmError``.

Everything above ``providers/`` sees only the error tree. This module also parses
``Retry-After`` / ``retry-after-ms``, and keeps the provider's secrets (key, base-URL
credentials, credential headers) out of every message and exception chain it builds.

The status mapping, and why:

====================  ===========================  ==============================================
HTTP / failure        raised                        why
====================  ===========================  ==============================================
connect, DNS, TLS,    ``ConnectionFailed``          nothing came back; another attempt may reach it
reset before answer
any httpx2 timeout     ``Timeout``                   ``.code`` says which (``connect_timeout``, ...)
no pooled connection  ``PoolExhausted``             local congestion, not the provider's fault:
in time                                             breakers ignore it
400 404 413 422       ``InvalidRequest``            the caller must change the request
400 context length    ``ContextLengthExceeded``     a longer-context model may take it
401 403               ``AuthenticationFailed``      the message names the key's environment variable
408                   ``Timeout``                   the provider gave up waiting for us
429                   ``RateLimited``               ``.retry_after`` from the headers; a spent quota
                                                    (``insufficient_quota``) is not retryable
500 502 504           ``ServerError``               a fault on their side, worth another attempt
503 529 overloaded    ``NotAvailable``              capacity, not a bug: the provider is up and
                                                    says "not now"; callers should back off or
                                                    fall back rather than hammer it
unparseable body,     ``InvalidResponse``           content may have been lost
body over a limit,
invalid UTF-8 in SSE
stream broke/ended    ``StreamInterrupted``         ``.partial`` holds the text delivered so far
without finish
====================  ===========================  ==============================================
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterable
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Final

import httpx2

from .._errors import (
    AuthenticationFailed,
    ConnectionFailed,
    ContextLengthExceeded,
    InvalidRequest,
    InvalidResponse,
    LlmError,
    NotAvailable,
    PoolExhausted,
    RateLimited,
    ServerError,
    StreamInterrupted,
    Timeout,
)

MESSAGE_LIMIT: Final = 500
"""Characters of a provider's own error message kept on our error (bodies can be HTML pages)."""

_CONTEXT_CODES: Final = frozenset({"context_length_exceeded", "string_above_max_length"})
_CONTEXT_TEXT: Final = re.compile(
    r"context.length|context window|maximum context|prompt is too long|input is too long"
    r"|too many tokens|reduce the length",
    re.IGNORECASE,
)
_OVERLOADED_CODES: Final = frozenset({"overloaded_error", "overloaded", "server_overloaded"})
_NOT_RETRYABLE_429: Final = frozenset({"insufficient_quota", "billing_hard_limit_reached"})

# Error types some providers send without a status (in-stream error events), by family.
_TYPE_FAMILIES: Final[dict[str, type[LlmError]]] = {
    "invalid_request_error": InvalidRequest,
    "not_found_error": InvalidRequest,
    "request_too_large": InvalidRequest,
    "authentication_error": AuthenticationFailed,
    "permission_error": AuthenticationFailed,
    "rate_limit_error": RateLimited,
    "rate_limit_exceeded": RateLimited,
    "api_error": ServerError,
    "server_error": ServerError,
    "overloaded_error": NotAvailable,
    "timeout_error": Timeout,
}

_TIMEOUT_CODES: Final[tuple[tuple[type[httpx2.TimeoutException], str], ...]] = (
    (httpx2.ConnectTimeout, "connect_timeout"),
    (httpx2.WriteTimeout, "write_timeout"),
    (httpx2.ReadTimeout, "read_timeout"),
)


def truncate(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Collapse whitespace and cut ``text`` to ``limit`` characters (an ellipsis marks a cut)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _seconds(raw: str) -> float | None:
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def parse_retry_after(headers: httpx2.Headers, *, now: float) -> float | None:
    """Read how long a provider asked us to wait.

    ``retry-after-ms`` (milliseconds, OpenAI and Azure) wins over ``retry-after``, which
    is either seconds (fractions allowed) or an HTTP date.

    Args:
        headers: The response headers.
        now: Wall-clock seconds since the epoch (``time.time()``), to turn a date into
            a wait. A date in the past means "now": 0 seconds.

    Returns:
        Seconds to wait, or ``None`` when no usable header was sent.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        millis = _seconds(raw_ms)
        if millis is not None:
            return millis / 1000.0
    raw = headers.get("retry-after")
    if raw is None:
        return None
    seconds = _seconds(raw)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def error_details(data: object) -> tuple[str | None, str]:
    """Find ``(code, message)`` in an error object of any wire format we know.

    OpenAI and compatibles send ``{"error": {"message", "type", "code"}}`` (code wins over
    type: ``context_length_exceeded`` says more than ``invalid_request_error``); Anthropic
    sends ``{"type": "error", "error": {"type", "message"}}``; vLLM and Ollama sometimes
    send a flat ``{"message", "type"}`` or ``{"error": "text"}``.
    """
    if not isinstance(data, dict):
        return None, ""
    error = data.get("error")
    if isinstance(error, dict):
        code = _text(error.get("code")) or _text(error.get("type"))
        return code, _text(error.get("message")) or ""
    if isinstance(error, str):
        return _text(data.get("code")) or _text(data.get("type")), error
    return _text(data.get("code")) or _text(data.get("type")), _text(data.get("message")) or ""


def body_details(body: bytes) -> tuple[str | None, str]:
    """``error_details`` of a raw body; a body that is not JSON becomes the message."""
    try:
        data = json.loads(body)
    except ValueError:
        return None, body.decode("utf-8", "replace")
    if not isinstance(data, dict):
        return None, body.decode("utf-8", "replace")
    return error_details(data)


def is_context_length(code: str | None, message: str) -> bool:
    """Tell a context-window overflow from other 400s (the one a fallback should route)."""
    return code in _CONTEXT_CODES or _CONTEXT_TEXT.search(message) is not None


class Boundary:
    """Builds errors for one provider: its name, and the secrets to keep out of every message.

    Args:
        provider: The provider's name, set on every error.
        secret: The API key (scrubbed from provider messages; never printed).
        key_env: The environment variable the key is read from, for hints on 401/403.
        secrets: Other credentials to scrub: those inside the base URL and the values
            of credential headers among ``extra_headers``.
    """

    __slots__ = ("_key_env", "_secret", "_secrets", "provider")

    def __init__(
        self,
        provider: str,
        *,
        secret: str | None,
        key_env: str | None,
        secrets: Iterable[str] = (),
    ) -> None:
        self.provider = provider
        self._secret = secret
        self._key_env = key_env
        known = {s for s in (secret, *secrets) if s}
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = tuple(sorted(known, key=len, reverse=True))

    def __repr__(self) -> str:
        return f"Boundary(provider={self.provider!r})"

    def scrub(self, text: str) -> str:
        """``text`` with every secret this provider holds replaced by ``***``."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def clean(self, text: str) -> str:
        """Truncate a provider's message and mask our secrets if the provider echoed them."""
        return truncate(self.scrub(text))

    def leaks(self, exc: BaseException | None) -> bool:
        """Whether ``exc`` or anything chained to it shows a secret (args, notes, text)."""
        seen: set[int] = set()
        while exc is not None and id(exc) not in seen and self._secrets:
            seen.add(id(exc))
            texts = [str(exc), repr(exc), *map(repr, exc.args)]
            texts += [str(note) for note in getattr(exc, "__notes__", ())]
            if any(s in text for text in texts for s in self._secrets):
                return True
            exc = exc.__cause__ or exc.__context__
        return False

    def cause(self, exc: BaseException) -> BaseException | None:
        """``exc`` to chain an error to, or ``None`` when it would show a secret."""
        return None if self.leaks(exc) else exc

    def _key_hint(self) -> str:
        where = f"the {self._key_env} environment variable" if self._key_env else "api_key="
        if self._secret:
            return f"the API key from {where} was refused; check it has access to this model"
        return f"no API key was sent: set {where} (or pass api_key=)"

    def status_error(
        self, status: int, headers: httpx2.Headers, body: bytes, *, model: str
    ) -> LlmError:
        """Turn a non-2xx answer into the matching error (see the module's table)."""
        code, detail = body_details(body)
        detail = self.clean(detail)
        request_id = headers.get("x-request-id") or headers.get("request-id")
        message = f"{self.provider} answered HTTP {status}"
        if detail:
            message = f"{message}: {detail}"
        cls: type[LlmError]
        retryable: bool | None = None
        if status == 429:
            if code in _NOT_RETRYABLE_429:
                message += " (a spent quota does not recover by waiting)"
                retryable = False
            return RateLimited(
                message,
                retry_after=parse_retry_after(headers, now=time.time()),
                provider=self.provider,
                retryable=retryable,
                code=code,
                status=status,
                request_id=request_id,
                model=model,
            )
        if status in (401, 403):
            cls = AuthenticationFailed
            message = f"{message} ({self._key_hint()})"
        elif status == 408:
            cls = Timeout
        elif status in (503, 529) or code in _OVERLOADED_CODES:
            # Capacity, not a bug: keep the provider's Retry-After so a breaker stays open
            # at least that long.
            return NotAvailable(
                message,
                retry_after=parse_retry_after(headers, now=time.time()),
                provider=self.provider,
                code=code,
                status=status,
                request_id=request_id,
                model=model,
            )
        elif status >= 500:
            cls = ServerError
        elif 400 <= status < 500:
            cls = ContextLengthExceeded if is_context_length(code, detail) else InvalidRequest
        else:
            cls = InvalidResponse
            message = f"{self.provider} answered with unexpected HTTP {status}"
        return cls(
            message,
            provider=self.provider,
            retryable=retryable,
            code=code,
            status=status,
            request_id=request_id,
            model=model,
        )

    def event_error(
        self, data: object, *, model: str, partial: str, started: bool = False
    ) -> LlmError:
        """Turn an error event inside a 200 stream into an error.

        Before any text arrived the error is what its type says (an ``overloaded_error``
        is ``NotAvailable``), so a retry or fallback can treat it like the same status.
        After text arrived (or ``started``: tool-call pieces did) it is
        ``StreamInterrupted`` with the partial text: the caller has seen part of an
        answer and must decide what to do with it.
        """
        code, detail = error_details(data)
        message = f"{self.provider} sent an error in the stream: {self.clean(detail) or code}"
        if partial or started:
            return StreamInterrupted(
                message, partial=partial, provider=self.provider, code=code, model=model
            )
        cls = _TYPE_FAMILIES.get(code or "", ServerError)
        if cls is InvalidRequest and is_context_length(code, detail):
            cls = ContextLengthExceeded
        return cls(message, provider=self.provider, code=code, model=model)

    def transport_error(
        self, exc: httpx2.HTTPError, *, model: str, partial: str | None = None
    ) -> LlmError:
        """Turn an httpx2 exception into an error.

        Args:
            exc: What httpx2 raised.
            model: The model the request was for.
            partial: ``None`` before a stream started; the text so far once it did (a
                break then is ``StreamInterrupted``, never ``ConnectionFailed``).
        """
        reason = self.clean(str(exc) or type(exc).__name__)
        if isinstance(exc, httpx2.PoolTimeout):
            message = (
                f"{self.provider}: no free connection in the local pool in time; this process "
                "is running more concurrent calls than its pool allows (HttpLimits."
                "max_connections), the provider is not at fault"
            )
            return PoolExhausted(message, provider=self.provider, code="pool_timeout", model=model)
        if isinstance(exc, httpx2.TimeoutException):
            code = next((c for kind, c in _TIMEOUT_CODES if isinstance(exc, kind)), "timeout")
            message = f"{self.provider} did not answer in time ({code}): {reason}"
            return Timeout(message, provider=self.provider, code=code, model=model)
        if partial is not None:
            message = f"{self.provider} stream broke after it started: {reason}"
            return StreamInterrupted(message, partial=partial, provider=self.provider, model=model)
        if isinstance(exc, httpx2.DecodingError):
            message = f"{self.provider} sent a body we cannot decode: {reason}"
            return InvalidResponse(message, provider=self.provider, model=model)
        if isinstance(exc, httpx2.UnsupportedProtocol | httpx2.LocalProtocolError):
            message = f"{self.provider}: the request could not be sent: {reason}"
            return InvalidRequest(message, provider=self.provider, model=model)
        if isinstance(exc, httpx2.ConnectError):
            message = f"{self.provider} could not be reached: {reason}"
        else:
            message = f"{self.provider} dropped the connection: {reason}"
        return ConnectionFailed(message, provider=self.provider, model=model)

    def deadline_error(self, code: str, seconds: float, *, model: str) -> Timeout:
        """A limit of our own ran out (``total_timeout``, ``ttft_timeout``, ...)."""
        message = f"{self.provider} did not answer in time: {code} of {seconds:g}s ran out"
        return Timeout(message, provider=self.provider, code=code, model=model)

    def invalid(self, what: str, *, model: str, partial: str | None = None) -> LlmError:
        """A body or event that breaks the wire format."""
        message = f"{self.provider} sent {truncate(self.scrub(what), 200)}"
        if partial:
            message += f" after {len(partial)} characters of text"
        return InvalidResponse(message, provider=self.provider, model=model)

    def interrupted(self, partial: str, *, model: str) -> StreamInterrupted:
        """A stream body that ended before its finish reason."""
        message = (
            f"{self.provider} stream ended without a finish reason "
            f"after {len(partial)} characters; the answer is incomplete"
        )
        return StreamInterrupted(message, partial=partial, provider=self.provider, model=model)
