"""How the fake server answers a request, normally or with its fault."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Final

from ._exchange import Exchange
from ._faults import Fault
from ._wire import (
    Call,
    StreamEncoder,
    complete_body,
    context_message,
    count_tokens,
    default_status,
    error_body,
    split_words,
)

JSON_HEADERS: Final = [(b"content-type", b"application/json")]
_STREAM_FAULTS: Final = frozenset(
    {"slow_first_token", "stall", "cut", "stream_reset", "stream_error", "malformed", "noisy_sse"}
)
_TRUNCATED_JSON: Final = b'{"id": "chatcmpl-x", "choices": [{"message": {"con'
_SSE: Final = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


class Playbook:
    """Plays answers: deterministic text from ``responder``, faults as the plan says.

    Args:
        responder: Turns the last user message into the answer text.
        chunk_delay: Seconds between streamed chunks.
    """

    def __init__(self, responder: Callable[[str], str], chunk_delay: float) -> None:
        self._responder = responder
        self._chunk_delay = chunk_delay
        self._serial = itertools.count(1)

    async def play(self, call: Call, ex: Exchange, fault: Fault | None) -> None:
        """Answer ``call`` on ``ex``, as ``fault`` (if any) says."""
        if fault is None:
            if call.stream:
                await self._stream(call, ex, None)
            else:
                await self._complete(call, ex)
            return
        kind = fault.kind
        if call.stream and kind in _STREAM_FAULTS:
            await self._stream(call, ex, fault)
        elif kind in ("status", "stream_error"):
            await self._error(call, ex, fault)
        elif kind in ("reset", "stream_reset"):
            await ex.drop()
        elif kind == "hang":
            await ex.pause(None)
            await ex.drop()
        elif kind == "malformed":
            await ex.respond(
                200, JSON_HEADERS, b'{"id": "chatcmpl-x", "choices": [{"message": {"con'
            )
        elif kind == "garbage_sse":
            await ex.start(200, _SSE if call.stream else [(b"content-type", b"text/html")])
            await ex.write(b"<html><body>502 Bad Gateway</body></html>\nnot: an event\x00\n")
            await ex.end(b"\n")
        elif kind == "cut":
            # A plain answer cut mid-body: the connection closes before Content-Length is met.
            body = complete_body(call, self._responder(call.prompt), next(self._serial))
            await ex.start(200, [*JSON_HEADERS, (b"content-length", str(len(body)).encode())])
            await ex.write(body[: len(body) // 2])
            await ex.drop(reset=False)
        elif kind in ("slow_first_token", "stall"):
            # On a plain call these are a late answer.
            if await ex.pause(fault.seconds):
                await self._complete(call, ex)
            else:
                await ex.drop()
        else:  # noisy_sse on a plain call, latency: a normal answer
            await self._complete(call, ex)

    async def _complete(self, call: Call, ex: Exchange) -> None:
        text = self._responder(call.prompt)
        await ex.respond(200, JSON_HEADERS, complete_body(call, text, next(self._serial)))

    async def _error(self, call: Call, ex: Exchange, fault: Fault) -> None:
        status = fault.status or default_status(call.wire, fault.code)
        message = fault.message
        if message is None and fault.code == "context_length_exceeded":
            message = context_message(call.wire)
        code = fault.code
        if call.wire == "anthropic" and code == "context_length_exceeded":
            code = "invalid_request_error"  # Anthropic says it in the message only
        headers = list(JSON_HEADERS)
        if fault.retry_after is not None:
            value = fault.retry_after
            text = value if isinstance(value, str) else f"{value:g}"
            headers.append((b"retry-after", text.encode()))
        if fault.retry_after_ms is not None:
            headers.append((b"retry-after-ms", f"{fault.retry_after_ms:g}".encode()))
        headers.append((b"x-request-id", f"req_{next(self._serial):08d}".encode()))
        await ex.respond(status, headers, error_body(call.wire, status, code, message))

    async def _stream(self, call: Call, ex: Exchange, fault: Fault | None) -> None:
        encoder = StreamEncoder(call, next(self._serial))
        pieces = split_words(self._responder(call.prompt))
        kind = fault.kind if fault is not None else None
        noisy = kind == "noisy_sse"
        strike_at = fault.after_chunks if fault is not None else -1
        await ex.start(200, _SSE)
        head = encoder.head()
        await ex.write(StreamEncoder.noise() + head if noisy else head)
        for index in range(len(pieces) + 1):
            if index == strike_at and fault is not None:
                if kind == "stall":
                    if not await ex.pause(fault.seconds):
                        await ex.drop()
                        return
                elif kind == "cut":
                    await ex.end()
                    return
                elif kind == "stream_reset":
                    await ex.drop()
                    return
                elif kind == "stream_error":
                    await ex.end(encoder.error(fault.code, fault.message))
                    return
                elif kind == "malformed":
                    await ex.end(encoder.malformed())
                    return
            if index == len(pieces):
                break
            late = index == 0 and fault is not None and kind == "slow_first_token"
            if late and fault is not None and not await ex.pause(fault.seconds):
                await ex.drop()
                return
            if index and self._chunk_delay and not await ex.pause(self._chunk_delay):
                await ex.drop()
                return
            data = encoder.piece(pieces[index])
            if noisy:
                # Odd splits: a client must reassemble lines and UTF-8 across writes.
                middle = len(data) // 2 + 1
                await ex.write(data[:middle])
                await ex.write(data[middle:] + StreamEncoder.noise())
            else:
                await ex.write(data)
        await ex.end(encoder.tail(sum(count_tokens(p) for p in pieces)))
