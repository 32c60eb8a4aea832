"""One upstream as an ``LlmProvider``: one HTTP exchange over the inner transport.

The transport runs every LLM call through ``stack()`` over one ``Exchange`` per upstream,
so retries, circuit breakers, timeouts and stream guards, fallback and hedging are
vex-llm's own policies, unchanged. The policies pass a placeholder ``LlmRequest`` down; the
HTTP request travels beside it in a context variable (``CURRENT``). What comes back up is
the raw answer: a non-streamed body is kept on the call (the ``LlmResponse`` names it), and
a stream's bytes ride in the chunks' ``delta`` as latin-1 text (one character per byte,
turned back into the same bytes at the top without a decoder).
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import AsyncIterator
from typing import Final

import httpx2

from .._errors import LlmError, StreamInterrupted
from .._provider import LlmProvider
from .._types import LlmRequest, LlmResponse, StreamChunk
from ..providers import Boundary
from ._call import CURRENT, LlmCall, Upstream

# Bytes that say a stream finished (a finish reason, or the wire's own end marker). A body
# that ends without one of them was cut: never a silently truncated success. They come at
# the end of a body, so only its last pieces are searched, once, when it ends.
_FINISHED: Final = re.compile(
    rb'"(?:finish|stop)_reason": ?"|data: \[DONE\]|event: message_stop|response\.completed'
)
# Bytes that say a stream carries its first token: text, a tool call, reasoning, or its end.
# Until one comes, what arrived (headers, a role-only first event) is held back, so a
# provider that answers at once and then stays silent is cut by the first-token limit, and
# the call can still be retried or go elsewhere before the SDK has seen anything.
_TEXT: Final = tuple(
    f'"{name}":{space}"'.encode()
    for name in ("content", "text", "arguments", "partial_json", "delta", "thinking")
    for space in ("", " ")
)
_TOKEN: Final = (b'"tool_calls"', b'"tool_use"')


def has_token(piece: bytes) -> bool:
    """Whether ``piece`` carries a token: a non-empty text field, a tool call, or the end."""
    if any(marker in piece for marker in _TOKEN) or _FINISHED.search(piece):
        return True
    for marker in _TEXT:
        at = piece.find(marker)
        while at >= 0:
            after = at + len(marker)
            if after < len(piece) and piece[after] != 0x22:  # not the empty string ""
                return True
            at = piece.find(marker, after)
    return False


_TAIL: Final = 16
"""Pieces at the end of a stream searched for its end marker (a marker split over many
small reads is still whole in them)."""
ERROR_BODY_LIMIT: Final = 1024 * 1024
"""Bytes of an upstream's error answer kept (to classify it and hand it on)."""


async def _raw_body(response: httpx2.Response, limit: int | None = ERROR_BODY_LIMIT) -> bytes:
    """The undecoded body (as it will be handed on); at most ``limit`` bytes of it."""
    parts: list[bytes] = []
    size = 0
    async for piece in body_pieces(response):
        parts.append(piece)
        size += len(piece)
        if limit is not None and size >= limit:
            break
    return b"".join(parts)


def body_pieces(response: httpx2.Response) -> AsyncIterator[bytes]:
    """The body as the inner transport hands it over: its own stream, without the
    bookkeeping of ``aiter_raw()`` (the client above does that once for the SDK), and
    still readable when the transport built the answer from bytes (``content=``, as
    ``httpx2.MockTransport`` handlers do), which ``aiter_raw()`` counts as read already."""
    stream = response.stream
    if isinstance(stream, httpx2.AsyncByteStream):
        return stream.__aiter__()
    return response.aiter_raw()


def _stream_error(body: bytes) -> dict[str, object] | None:
    """The first error object among a stream's ``data:`` events, if there is one."""
    if b'"error"' not in body:
        return None
    for line in body.decode("utf-8", "replace").splitlines():
        if not line.startswith("data:"):
            continue
        try:
            data = json.loads(line[5:])
        except ValueError:
            continue
        if isinstance(data, dict) and "error" in data:
            return data
    return None


def _decoded(response: httpx2.Response, raw: bytes) -> bytes:
    """The body as the SDK will read it (gzip undone), for classifying an error answer."""
    if "content-encoding" not in response.headers:
        return raw
    copy = httpx2.Response(response.status_code, headers=response.headers, content=raw)
    try:
        return copy.read()
    except httpx2.DecodingError:
        return raw


class Exchange(LlmProvider):
    """One upstream: sends the current call's request there and classifies the answer.

    Args:
        upstream: Where to send it (``None``: the request's own URL).
        name: The provider's name: the upstream's base URL and the model (it names the
            circuit, so a base URL and model pair is one circuit everywhere).
        base_url: The base URL (for ``x-vex-upstream``).
        transport: The inner httpx2 transport.
    """

    def __init__(
        self,
        upstream: Upstream | None,
        name: str,
        base_url: str,
        transport: httpx2.AsyncBaseTransport,
    ) -> None:
        self._upstream = upstream
        self._name = name
        self._base_url = base_url
        self._transport = transport
        self._key = None if upstream is None else upstream.api_key

    @property
    def name(self) -> str:
        return self._name

    def _boundary(self, call: LlmCall) -> Boundary:
        """The error classification, keeping the key this request carries out of messages
        (built on the error path only)."""
        secret = self._key if self._key is not None else call.secret()
        return Boundary(self._name, secret=secret, key_env=None)

    async def complete(self, request: LlmRequest) -> LlmResponse:
        call = CURRENT.get()
        response = await self._send(call)
        stream = response.stream
        try:
            raw = await _raw_body(response, limit=None)  # an answer, bounded by the attempt timeout
        except httpx2.HTTPError as exc:
            raise self._boundary(call).transport_error(exc, model=call.model) from exc
        finally:
            if isinstance(stream, httpx2.AsyncByteStream):
                await stream.aclose()  # the connection goes back to the pool
        if response.status_code >= 400:
            raise self._refused(call, response, raw)
        # The answer keeps its headers and gets its body back from memory, still encoded as
        # it came: the response is ours alone, and a copy would parse every header again.
        response.stream = httpx2.ByteStream(raw)
        call.kept[self._name] = response
        call.upstream = self._base_url  # the answer's (a hedge's loser may have sent later)
        return LlmResponse(self._name, provider=self._name, finish_reason="stop")

    async def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
        call = CURRENT.get()
        response = await self._send(call)
        try:
            if response.status_code >= 400:
                raw = await self._read(call, response)
                raise self._refused(call, response, raw)
            call.kept[self._name] = response
            # A compressed stream cannot be searched for markers: its end is its end.
            compressed = "content-encoding" in response.headers
            held: list[bytes] | None = []
            tail: deque[bytes] = deque(maxlen=_TAIL)  # the end markers are among these
            async for piece in body_pieces(response):
                tail.append(piece)
                if held is None:
                    yield StreamChunk(piece.decode("latin-1"))
                    continue
                held.append(piece)
                if compressed or has_token(piece):
                    first = b"".join(held).decode("latin-1")
                    held = None
                    call.upstream = self._base_url
                    yield StreamChunk(first, provider=self._name)
        except httpx2.HTTPError as exc:
            raise self._boundary(call).transport_error(exc, model=call.model, partial="") from exc
        finally:
            await response.aclose()
        if held and not compressed:
            # An error event before any token (an in-stream overloaded_error) is the
            # error it names: retried, counted and answered like the same status.
            error = _stream_error(b"".join(held))
            if error is not None:
                raise self._boundary(call).event_error(error, model=call.model, partial="")
        if not (compressed or _FINISHED.search(b"".join(tail))):
            msg = f"{self._name} stream ended without its finish marker (stream_cut)"
            raise StreamInterrupted(msg, provider=self._name, code="stream_cut", model=call.model)
        if held:  # it finished without a token: an empty answer, whole
            yield StreamChunk(b"".join(held).decode("latin-1"), provider=self._name)
        yield StreamChunk("", finish_reason="stop")

    async def _send(self, call: LlmCall) -> httpx2.Response:
        call.attempts += 1
        call.upstream = self._base_url
        try:
            return await self._transport.handle_async_request(call.request_for(self._upstream))
        except httpx2.HTTPError as exc:
            raise self._boundary(call).transport_error(exc, model=call.model) from exc

    async def _read(self, call: LlmCall, response: httpx2.Response) -> bytes:
        try:
            return await _raw_body(response)
        except httpx2.HTTPError as exc:
            raise self._boundary(call).transport_error(exc, model=call.model) from exc

    def _refused(self, call: LlmCall, response: httpx2.Response, raw: bytes) -> LlmError:
        """The error for an upstream's error answer; the answer is kept to hand it on."""
        error = self._boundary(call).status_error(
            response.status_code, response.headers, _decoded(response, raw), model=call.model
        )
        call.answers[id(error)] = (response, raw)
        return error
