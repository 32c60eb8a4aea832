"""What the SDK gets back: the upstream's answer, or one the transport makes up.

Every answer to an LLM call carries ``x-vex-upstream`` (the base URL that answered or failed
last) and ``x-vex-attempts`` (requests sent upstream). An error answer also carries
``x-should-retry: false``, so the SDK does not retry what the transport already retried,
and a made-up one ``x-vex-reason`` and a JSON error body in the call's wire format. A stream
that breaks after it started raises an httpx2 transport error naming the reason, which the
SDKs raise as their connection (or timeout) error: never a silently truncated success.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Final

import httpx2

from .._errors import (
    AllProvidersFailed,
    CircuitOpenError,
    ConnectionFailed,
    DeadlineExceeded,
    LlmError,
    NotAvailable,
    RateLimited,
    StreamInterrupted,
    Timeout,
)
from .._provider import close_stream
from .._types import StreamChunk
from ..policies import ResilientProvider, time_left
from ._call import LlmCall, Wire

UPSTREAM: Final = "x-vex-upstream"
ATTEMPTS: Final = "x-vex-attempts"
REASON: Final = "x-vex-reason"
_NO_SDK_RETRY: Final = ("x-should-retry", "false")


def reason_of(error: LlmError) -> str:
    """The ``x-vex-reason`` of an error: its code when it has one, else its kind."""
    if isinstance(error, CircuitOpenError):
        return "circuit_open"
    if isinstance(error, DeadlineExceeded):
        return "deadline_exceeded"
    if error.code:
        return error.code
    if isinstance(error, StreamInterrupted):
        return "stream_interrupted"
    if isinstance(error, Timeout):
        return "timeout"
    if isinstance(error, ConnectionFailed):
        return "connection_failed"
    return type(error).__name__


def _errors(error: LlmError) -> list[LlmError]:
    if not isinstance(error, AllProvidersFailed):
        return [error]
    return [e for e in error.exceptions if isinstance(e, LlmError)]


def failure_answer(
    call: LlmCall, error: LlmError, circuits: Mapping[str, ResilientProvider]
) -> httpx2.Response:
    """The answer for a call whose policies gave up with ``error``.

    All circuits open: 503 ``circuit_open`` with ``Retry-After`` (when a probe is next
    allowed). The deadline spent: 504 ``deadline_exceeded``. An upstream's own error answer
    decided it: that answer as it came (a 429 keeps its ``Retry-After``). Otherwise 504 for
    a timeout, 503 or 429 for an error event inside a 200 stream that said overloaded or
    rate-limited, 502 for anything else, named by ``x-vex-reason``.
    """
    errors = _errors(error)
    if all(isinstance(e, CircuitOpenError) for e in errors):
        known = [w for w in (_probe_in(e, circuits) for e in errors) if w is not None]
        return made_up(call, 503, "circuit_open", error, min(known) if known else None)
    deciding = next(
        (e for e in reversed(errors) if not isinstance(e, CircuitOpenError)), errors[-1]
    )
    if isinstance(deciding, DeadlineExceeded) or time_left() <= 0:
        return made_up(call, 504, "deadline_exceeded", error, None)
    answer = call.answers.get(id(deciding))
    if answer is not None:
        response, raw = answer
        headers = _marked(call, response.headers.multi_items(), _NO_SDK_RETRY)
        return httpx2.Response(
            response.status_code,
            headers=headers,
            stream=httpx2.ByteStream(raw),
            extensions=response.extensions,
        )
    if isinstance(deciding, Timeout):
        return made_up(call, 504, reason_of(deciding), error, None)
    if isinstance(deciding, RateLimited | NotAvailable):  # an error event inside a 200 stream
        status = 429 if isinstance(deciding, RateLimited) else 503
        return made_up(call, status, reason_of(deciding), error, deciding.retry_after)
    return made_up(call, 502, reason_of(deciding), error, None)


def _probe_in(error: LlmError, circuits: Mapping[str, ResilientProvider]) -> float | None:
    """Seconds until the circuit that refused ``error`` admits a probe (a fallback that
    skipped an open circuit says only that it was open: its breaker knows when)."""
    wait = error.retry_after if isinstance(error, CircuitOpenError) else None
    layer = circuits.get(error.provider or "")
    if wait is None and layer is not None:
        wait = layer.stats().retry_after
    return wait


def made_up(
    call: LlmCall, status: int, reason: str, error: LlmError, retry_after: float | None
) -> httpx2.Response:
    """An error answer of the transport's own, in the call's wire format."""
    told = "; ".join(str(e) for e in _errors(error)) or str(error)
    message = f"vex_llm: {reason}: {told}".splitlines()[0]
    if call.wire == "anthropic":
        data: dict[str, object] = {"type": "error", "error": {"type": reason, "message": message}}
    else:
        data = {"error": {"message": message, "type": "vex_llm_error", "code": reason}}
    body = json.dumps(data).encode()
    extra = [
        ("content-type", "application/json"),
        ("content-length", str(len(body))),
        (REASON, reason),
        _NO_SDK_RETRY,
    ]
    if retry_after is not None:
        extra.append(("retry-after", str(max(1, math.ceil(retry_after)))))
    # A stream, not content=: a body given as content counts as read already, and the sync
    # transport reads every answer's body as a stream.
    return httpx2.Response(
        status, headers=_marked(call, (), *extra), stream=httpx2.ByteStream(body)
    )


def _marked(
    call: LlmCall, headers: Iterable[tuple[str, str]], *extra: tuple[str, str]
) -> list[tuple[str, str]]:
    added = {name for name, _ in extra} | {UPSTREAM, ATTEMPTS}
    kept = [(k, v) for k, v in headers if k.lower() not in added]
    return [*kept, *extra, (UPSTREAM, call.upstream), (ATTEMPTS, str(call.attempts))]


def answer(call: LlmCall, response: httpx2.Response) -> httpx2.Response:
    """A successful upstream answer, marked with who answered and after how many tries."""
    headers = response.headers
    headers[UPSTREAM] = call.upstream
    headers[ATTEMPTS] = str(call.attempts)
    return response


def broken(error: LlmError) -> httpx2.TransportError:
    """The httpx2 error a stream raises when it breaks after it started: a timeout for a
    stall or a spent deadline, a protocol error otherwise; the message names the reason
    (the error the policies report, and the one under it: a stall under ``StreamInterrupted``)."""
    cause = error.__cause__
    if isinstance(error, StreamInterrupted) and isinstance(cause, LlmError):
        error = cause
    message = f"vex_llm: {reason_of(error)}: {error}"
    if isinstance(error, Timeout):
        return httpx2.ReadTimeout(message)
    return httpx2.RemoteProtocolError(message)


class SdkStream(httpx2.AsyncByteStream):
    """A stream's body for the SDK: the first chunk (already read, to pick the upstream),
    then the rest; closing it closes the policies' stream (releasing its circuit permit).

    A break after the start becomes ``broken(error)``, which the openai SDK raises as its
    ``APIConnectionError`` (``APITimeoutError`` for a stall). The anthropic SDK lets
    transport errors inside a stream escape untyped, so on its wire a break that falls
    between two events ends the body with an SSE ``error`` event instead (type
    ``api_error``, the message naming the reason), which it raises as its
    ``APIStatusError``: ``except anthropic.APIError`` still catches it.
    """

    def __init__(self, first: StreamChunk, chunks: AsyncIterator[StreamChunk], wire: Wire) -> None:
        self._first: StreamChunk | None = first
        self._chunks = chunks
        self._events = wire == "anthropic"

    async def __aiter__(self) -> AsyncIterator[bytes]:
        first = self._first
        between = True  # whether the bytes so far end on an event boundary
        if first is not None:
            self._first = None
            if first.delta:
                between = first.delta.endswith("\n\n")
                yield first.delta.encode("latin-1")
        try:
            if not self._events:
                async for chunk in self._chunks:
                    if chunk.delta:
                        yield chunk.delta.encode("latin-1")
                return
            async for chunk in self._chunks:
                delta = chunk.delta
                if delta:
                    between = delta.endswith("\n\n")
                    yield delta.encode("latin-1")
        except LlmError as exc:
            error = broken(exc)
            if not (self._events and between):
                raise error from exc
            data = {"type": "error", "error": {"type": "api_error", "message": str(error)}}
            yield b"event: error\ndata: " + json.dumps(data).encode() + b"\n\n"

    async def aclose(self) -> None:
        await close_stream(self._chunks)
