"""The gateway's ASGI app: the OpenAI and Anthropic wires in front of any provider."""

from __future__ import annotations

import dataclasses
import functools
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .. import InvalidRequest, LlmError, LlmProvider, LlmRequest, ResilienceStack, StreamChunk
from ..wire import anthropic, openai
from ._errors import Failure, failure_of

Wire = Literal["openai", "anthropic"]

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
"""The default request body limit (4 MiB; a larger body gets 413)."""
DEFAULT_MAX_CONCURRENT = 256
"""The default number of requests in flight per worker (beyond it: 503, ``Retry-After: 1``)."""


class _Refused(Exception):
    """A request the gateway refuses before calling anything."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def _error(failure: Failure, wire: Wire) -> JSONResponse:
    body = failure.openai() if wire == "openai" else failure.anthropic()
    return JSONResponse(body, status_code=failure.status, headers=failure.headers())


def _sse(data: object, event: str | None = None) -> bytes:
    text = json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {text}\n\n".encode()


class _Gateway:
    """The request handlers, over the configured models."""

    def __init__(
        self,
        models: Mapping[str, LlmProvider],
        *,
        keys: Sequence[str],
        max_body_bytes: int,
        max_concurrent: int,
    ) -> None:
        self.models = dict(models)
        self.keys = tuple(key.encode() for key in keys if key)
        self.max_body_bytes = max_body_bytes
        self.max_concurrent = max_concurrent
        self.in_flight = 0

    def _authorised(self, request: Request) -> bool:
        if not self.keys:
            return True
        given = request.headers.get("x-api-key")
        if given is None:
            auth = request.headers.get("authorization", "")
            if auth[:7].lower() == "bearer ":
                given = auth[7:].strip()
        if not given:
            return False
        sent = given.encode()
        found = False
        for key in self.keys:  # every key compared, in constant time each
            found |= hmac.compare_digest(sent, key)
        return found

    async def _body(self, request: Request) -> dict[str, object]:
        declared = request.headers.get("content-length")
        too_big = Failure(
            status=413, message=f"the request body is over {self.max_body_bytes} bytes"
        )
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise _Refused(too_big)
        raw = bytearray()
        async for piece in request.stream():
            raw += piece
            if len(raw) > self.max_body_bytes:
                raise _Refused(too_big)
        try:
            body = json.loads(raw)
        except ValueError:
            raise _Refused(Failure(status=400, message="the body is not JSON")) from None
        if not isinstance(body, dict):
            raise _Refused(Failure(status=400, message="the body is not a JSON object"))
        return body

    def _model(self, body: Mapping[str, object]) -> tuple[str, LlmProvider]:
        name = body.get("model")
        if not isinstance(name, str) or not name:
            raise _Refused(Failure(status=400, message="model: a model name is required"))
        provider = self.models.get(name)
        if provider is None:
            known = ", ".join(sorted(self.models))
            msg = f"model: no model named {name!r} (this gateway serves {known})"
            raise _Refused(Failure(status=404, message=msg))
        return name, provider

    async def chat(self, request: Request) -> Response:
        return await self._serve(request, "openai")

    async def messages(self, request: Request) -> Response:
        return await self._serve(request, "anthropic")

    async def _serve(self, request: Request, wire: Wire) -> Response:
        if not self._authorised(request):
            return _error(Failure(status=401, message="a valid gateway key is required"), wire)
        if self.in_flight >= self.max_concurrent:
            busy = Failure(status=503, message="the gateway is at capacity", retry_after=1.0)
            return _error(busy, wire)
        self.in_flight += 1
        release = True
        try:
            body = await self._body(request)
            name, provider = self._model(body)
            read = LlmRequest.from_openai if wire == "openai" else LlmRequest.from_anthropic
            try:
                llm_request = dataclasses.replace(read(body), model=None)
            except InvalidRequest as exc:
                raise _Refused(Failure(status=400, message=str(exc))) from None
            if body.get("stream") is True:
                response = await self._stream(provider, llm_request, name, wire)
                release = False  # the stream releases its slot when it ends
                return response
            try:
                answer = await provider.complete(llm_request)
            except LlmError as exc:
                return _error(failure_of(exc), wire)
            out = answer.to_openai() if wire == "openai" else answer.to_anthropic()
            return JSONResponse(out, headers=_vex_headers(answer.provider, answer.model or name))
        except _Refused as refused:
            return _error(refused.failure, wire)
        finally:
            if release:
                self.in_flight -= 1

    async def _stream(
        self, provider: LlmProvider, llm_request: LlmRequest, name: str, wire: Wire
    ) -> Response:
        chunks = aiter(provider.stream(llm_request))
        try:
            first = await anext(chunks)
        except StopAsyncIteration:
            first = StreamChunk(delta="")
        except LlmError as exc:
            self.in_flight -= 1
            await _close(chunks)
            return _error(failure_of(exc), wire)
        except BaseException:
            self.in_flight -= 1
            await _close(chunks)
            raise
        encode = _openai_events(name) if wire == "openai" else _anthropic_events(name)
        headers = _vex_headers(first.provider or "", first.model or name)
        headers["cache-control"] = "no-cache"
        return _Stream(
            self._relay(first, chunks, encode, wire),
            on_close=functools.partial(self._release, chunks),
            media_type="text/event-stream",
            headers=headers,
        )

    async def _release(self, chunks: AsyncIterator[StreamChunk]) -> None:
        """A stream's end, however it ended: free its slot, stop the upstream call."""
        self.in_flight -= 1
        await _close(chunks)

    async def _relay(
        self,
        first: StreamChunk,
        chunks: AsyncIterator[StreamChunk],
        encode: Callable[[StreamChunk | None], list[bytes]],
        wire: Wire,
    ) -> AsyncIterator[bytes]:
        try:
            for piece in encode(first):
                yield piece
            try:
                async for chunk in chunks:
                    for piece in encode(chunk):
                        yield piece
            except LlmError as exc:
                # Past the first byte the status is sent: end with an error event, no [DONE].
                failure = failure_of(exc)
                if wire == "openai":
                    yield _sse(failure.openai())
                else:
                    yield _sse(failure.anthropic(), "error")
                return
            for piece in encode(None):
                yield piece
        finally:
            await _close(chunks)

    async def models_list(self, request: Request) -> Response:
        if not self._authorised(request):
            return _error(Failure(status=401, message="a valid gateway key is required"), "openai")
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "vex-llm"}
            for name in self.models
        ]
        return JSONResponse({"object": "list", "data": data})

    async def circuits(self, request: Request) -> Response:
        if not self._authorised(request):
            return _error(Failure(status=401, message="a valid gateway key is required"), "openai")
        rows: list[dict[str, object]] = []
        for model, provider in self.models.items():
            if not isinstance(provider, ResilienceStack):
                continue
            for name, circuit in provider.circuits.items():
                stats = await circuit.breaker.fetch_stats()
                rows.append(
                    {
                        "model": model,
                        "circuit": name,
                        "state": "forced_open" if stats.isolated else stats.state.value,
                        "total_requests": stats.total_requests,
                        "total_failures": stats.total_failures,
                        "circuit_opens": stats.circuit_opens,
                        "rejected": stats.rejected,
                        "retry_after": stats.retry_after,
                    }
                )
        return JSONResponse({"circuits": rows})


class _Stream(StreamingResponse):
    """A streamed answer that runs ``on_close`` when it ends: finished, broken, or the
    client gone before its first byte (when the body iterator never even starts)."""

    def __init__(
        self,
        content: AsyncIterator[bytes],
        *,
        on_close: Callable[[], Awaitable[None]],
        media_type: str,
        headers: Mapping[str, str],
    ) -> None:
        super().__init__(content, media_type=media_type, headers=headers)
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._on_close()


async def _close(chunks: AsyncIterator[StreamChunk]) -> None:
    close = getattr(chunks, "aclose", None)
    if close is not None:
        await close()


def _vex_headers(provider: str, model: str) -> dict[str, str]:
    return {"x-vex-provider": provider, "x-vex-model": model}


def _openai_events(name: str) -> Callable[[StreamChunk | None], list[bytes]]:
    stream_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    state = {"first": True}

    def encode(chunk: StreamChunk | None) -> list[bytes]:
        if chunk is None:
            return [b"data: [DONE]\n\n"]
        first, state["first"] = state["first"], False
        events = openai.events_from_chunk(
            chunk, id=stream_id, model=name, created=created, first=first
        )
        return [_sse(event) for event in events]

    return encode


def _anthropic_events(name: str) -> Callable[[StreamChunk | None], list[bytes]]:
    encoder = anthropic.StreamEncoder(id=f"msg_{uuid.uuid4().hex}", model=name)

    def encode(chunk: StreamChunk | None) -> list[bytes]:
        events = encoder.close() if chunk is None else encoder.encode(chunk)
        return [_sse(event, str(event["type"])) for event in events]

    return encode


async def _healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _readyz(request: Request) -> Response:
    return JSONResponse({"status": "ready"})


def create_app(
    models: Mapping[str, LlmProvider],
    *,
    keys: Sequence[str] = (),
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_concurrent: int = DEFAULT_MAX_CONCURRENT,
) -> Starlette:
    """Build the gateway's ASGI app.

    Args:
        models: The public model names and the provider (typically a ``stack()``) behind each.
        keys: Gateway keys a client must send (``Authorization: Bearer`` or ``x-api-key``);
            none: no auth.
        max_body_bytes: The request body limit (beyond it: 413).
        max_concurrent: Requests in flight at once (beyond it: 503 with ``Retry-After``).

    Returns:
        The Starlette app (serve it with uvicorn).

    Raises:
        ValueError: With no model, or a limit below 1.
    """
    if not models:
        raise ValueError("the gateway needs at least one model")
    if max_body_bytes < 1 or max_concurrent < 1:
        raise ValueError("max_body_bytes and max_concurrent must be at least 1")
    gateway = _Gateway(
        models, keys=keys, max_body_bytes=max_body_bytes, max_concurrent=max_concurrent
    )
    routes = [
        Route("/v1/chat/completions", gateway.chat, methods=["POST"]),
        Route("/v1/messages", gateway.messages, methods=["POST"]),
        Route("/v1/models", gateway.models_list, methods=["GET"]),
        Route("/v1/circuits", gateway.circuits, methods=["GET"]),
        Route("/healthz", _healthz, methods=["GET"]),
        Route("/readyz", _readyz, methods=["GET"]),
    ]
    return Starlette(routes=routes)
