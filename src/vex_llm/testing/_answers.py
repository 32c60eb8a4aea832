"""How the fake server answers a request, normally or with its fault."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Awaitable, Callable
from typing import Final

from ._encode import StreamEncoder, complete_body
from ._exchange import Exchange
from ._faults import Fault
from ._quota import Quota
from ._script import Answer
from ._wire import Call, context_message, default_status, error_body

JSON_HEADERS: Final = [(b"content-type", b"application/json")]
_STREAM_FAULTS: Final = frozenset(
    {"slow_first_token", "stall", "cut", "stream_reset", "stream_error", "malformed", "noisy_sse"}
)
_TRUNCATED_JSON: Final = b'{"id": "chatcmpl-x", "choices": [{"message": {"con'
_SSE: Final = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


class Playbook:
    """Plays answers: the scripted ``Answer`` or deterministic text from ``responder``,
    faults as the plan says.

    Args:
        responder: Turns the last user message into the answer text.
        chunk_delay: Seconds between streamed chunks.
    """

    def __init__(self, responder: Callable[[str], str], chunk_delay: float) -> None:
        self._responder = responder
        self._chunk_delay = chunk_delay
        self._serial = itertools.count(1)
        self.quota: Quota | None = None
        """The server's request quota (``FakeLLMServer.limit()``), if any."""

    async def play(
        self, call: Call, ex: Exchange, fault: Fault | None, scripted: Answer | None = None
    ) -> None:
        """Answer ``call`` on ``ex`` with ``scripted`` (``None``: the responder's text),
        as ``fault`` (if any) says."""
        answer = self._resolve(call, scripted)
        if self.quota is not None:
            over, ex.headers = self.quota.take(call.wire)
            fault = over or fault
        if fault is None:
            if call.stream:
                await self._stream(call, ex, None, answer)
            else:
                await self._complete(call, ex, answer)
        elif call.stream and fault.kind in _STREAM_FAULTS:
            await self._stream(call, ex, fault, answer)
        else:
            # noisy_sse on a plain call, latency: a normal answer
            play = self._plain_faults.get(fault.kind, self._normal)
            await play(call, ex, fault, answer)

    def _resolve(self, call: Call, scripted: Answer | None) -> Answer:
        """The answer to send: text is ``None`` only beside tool calls."""
        if scripted is None:
            return Answer(text=self._responder(call.prompt))
        if scripted.text is None and not scripted.tool_calls:
            return dataclasses.replace(scripted, text=self._responder(call.prompt))
        return scripted

    @property
    def _plain_faults(self) -> dict[str, _Play]:
        """How each fault plays out on a plain call (and a stream's faults on a stream)."""
        return {
            "status": self._error,
            "stream_error": self._error,
            "reset": _drop,
            "stream_reset": _drop,
            "hang": _hang,
            "malformed": _malformed,
            "garbage_sse": _garbage,
            "cut": self._cut,
            "slow_first_token": self._late,
            "stall": self._late,
        }

    async def _normal(self, call: Call, ex: Exchange, fault: Fault, answer: Answer) -> None:
        await self._complete(call, ex, answer)

    async def _cut(self, call: Call, ex: Exchange, fault: Fault, answer: Answer) -> None:
        """A plain answer cut mid-body: the connection closes before Content-Length is met."""
        body = complete_body(call, answer, next(self._serial))
        await ex.start(200, [*JSON_HEADERS, (b"content-length", str(len(body)).encode())])
        await ex.write(body[: len(body) // 2])
        await ex.drop(reset=False)

    async def _late(self, call: Call, ex: Exchange, fault: Fault, answer: Answer) -> None:
        """slow_first_token and stall on a plain call: a late answer."""
        if await ex.pause(fault.seconds):
            await self._complete(call, ex, answer)
        else:
            await ex.drop()

    async def _complete(self, call: Call, ex: Exchange, answer: Answer) -> None:
        await ex.respond(200, JSON_HEADERS, complete_body(call, answer, next(self._serial)))

    async def _error(self, call: Call, ex: Exchange, fault: Fault, answer: Answer) -> None:
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

    async def _stream(self, call: Call, ex: Exchange, fault: Fault | None, answer: Answer) -> None:
        encoder = StreamEncoder(call, answer, next(self._serial))
        pieces = encoder.pieces()
        kind = fault.kind if fault is not None else None
        noisy = kind == "noisy_sse"
        await ex.start(200, _SSE)
        head = encoder.head()
        await ex.write(StreamEncoder.noise() + head if noisy else head)
        for index in range(len(pieces) + 1):
            if (
                fault is not None
                and index == fault.after_chunks
                and await _strike(fault, ex, encoder)
            ):
                return
            if index == len(pieces):
                break
            if not await self._wait_before(index, fault, ex):
                await ex.drop()
                return
            data = pieces[index]
            if noisy:
                # Odd splits: a client must reassemble lines and UTF-8 across writes.
                middle = len(data) // 2 + 1
                await ex.write(data[:middle])
                await ex.write(data[middle:] + StreamEncoder.noise())
            else:
                await ex.write(data)
        await ex.end(encoder.tail())

    async def _wait_before(self, index: int, fault: Fault | None, ex: Exchange) -> bool:
        """Wait before a stream's ``index``-th piece; false when the wait was cut short."""
        if index == 0 and fault is not None and fault.kind == "slow_first_token":
            return await ex.pause(fault.seconds)
        if index and self._chunk_delay:
            return await ex.pause(self._chunk_delay)
        return True


_Play = Callable[[Call, Exchange, Fault, Answer], Awaitable[None]]


async def _strike(fault: Fault, ex: Exchange, encoder: StreamEncoder) -> bool:
    """A stream's fault at its chunk; true when it ended the stream."""
    match fault.kind:
        case "stall":
            if await ex.pause(fault.seconds):
                return False
            await ex.drop()
        case "cut":
            await ex.end()
        case "stream_reset":
            await ex.drop()
        case "stream_error":
            await ex.end(encoder.error(fault.code, fault.message))
        case "malformed":
            await ex.end(encoder.malformed())
        case _:
            return False
    return True


async def _drop(call: Call, ex: Exchange, fault: Fault, answer: Answer) -> None:
    await ex.drop()


async def _hang(call: Call, ex: Exchange, fault: Fault, answer: Answer) -> None:
    await ex.pause(None)
    await ex.drop()


async def _malformed(call: Call, ex: Exchange, fault: Fault, answer: Answer) -> None:
    await ex.respond(200, JSON_HEADERS, _TRUNCATED_JSON)


async def _garbage(call: Call, ex: Exchange, fault: Fault, answer: Answer) -> None:
    await ex.start(200, _SSE if call.stream else [(b"content-type", b"text/html")])
    await ex.write(b"<html><body>502 Bad Gateway</body></html>\nnot: an event\x00\n")
    await ex.end(b"\n")
