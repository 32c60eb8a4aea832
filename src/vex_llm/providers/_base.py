"""``HttpProvider``, the public base of the HTTP providers: settings, the connection pool,
the call and the stream loop.

A wire format (``openai.py``, ``anthropic.py``, or a provider of your own) supplies three
hooks: ``build_body`` (the request body), ``read_answer`` (a finished answer) and
``stream_reader`` (an ``EventReader`` for one stream's events). Everything that touches
time, httpx2 or errors happens here and in ``_http.py``: the capability check before
anything is sent, and the hooks' errors given this provider's name.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Final, TypedDict

import httpx2

from .._capabilities import Capabilities
from .._clock import Clock, sleep_for
from .._errors import LlmError, StreamInterrupted, Timeout
from .._guard import claim_limits, within
from .._headers import report_headers
from .._limits import check_seconds, checked_as
from .._observe import outgoing_headers
from .._provider import LlmProvider
from .._types import LlmRequest, LlmResponse, StreamChunk
from .._urls import mask_url, url_secrets
from ._body import ACCEPT_ENCODING, HttpLimits, WireViolation, pieces, read_body, read_start
from ._http import Boundary
from ._reading import StreamRead
from ._sse import SseDecoder
from ._urls import endpoint, header_secrets, mask_httpx_logs
from ._wire_hooks import WireHooks

_DEFAULT_LIMITS: Final = HttpLimits()


class HttpOptions(TypedDict, total=False):
    """The settings every HTTP provider passes on to ``HttpProvider`` (see its Args)."""

    timeout: float
    connect_timeout: float
    headers_timeout: float
    first_token_timeout: float
    idle_timeout: float
    limits: HttpLimits | None
    client: httpx2.AsyncClient | None
    clock: Clock | None


class HttpProvider(WireHooks, LlmProvider):
    """The base of an ``LlmProvider`` over HTTP: one pooled ``httpx2.AsyncClient``, four
    time limits, the error mapping and the stream loop; subclasses give the wire format.

    A subclass passes its API root, path, name and headers (the key goes in ``key`` as well,
    so that it is scrubbed from every message) and implements three hooks:
    ``build_body(request, model, stream=...)``, ``read_answer(body)`` and
    ``stream_reader(model)``. Requests are POSTed as JSON; streams are read as Server-Sent
    Events. Credentials in ``base_url`` are masked in the repr, in ``url``, in every error
    and in httpx2's request log. The limits a ``TimeoutProvider`` or ``DeadlineProvider``
    above declares are enforced here, with the provider's own, under one timer.

    Args:
        model: The model used when a request names none.
        base_url: The API root.
        path: Appended to ``base_url`` (``"/chat/completions"``).
        name: The provider's name in errors, stats and responses.
        url_source: Where ``base_url`` came from, for error messages (default
            ``"base_url"``).
        headers: Sent with every request, after ``content-type: application/json``
            (credential headers are scrubbed from messages).
        key: The API key, if the headers carry one (scrubbed from every message).
        key_env: The environment variable the key came from, for the hint on a 401.
        timeout: Seconds for a whole ``complete()`` call (default 60).
        connect_timeout: Seconds to open a connection (default 5).
        headers_timeout: Seconds a stream waits for the response headers (default 30).
        first_token_timeout: Seconds from a stream's start to its first output (default 60).
        idle_timeout: Seconds of silence allowed between a stream's events (default 30).
        limits: Body, stream and pool limits (default ``HttpLimits()``).
        client: An ``httpx2.AsyncClient`` to use (and leave open); default: one of our own.
        capabilities: What the model can take (default ``Capabilities()``: everything);
            a request needing more fails with ``InvalidRequest`` before it is sent.
        clock: The limits' clock (default ``None``: the event loop's time); a
            ``ManualClock`` drives them in tests (its ``sleep`` is what they wait on).

    Raises:
        ValueError: On an empty model or name, a bad URL, or a non-positive duration.
        TypeError: On ``limits`` or ``capabilities`` of the wrong type.
    """

    enforces_declared_limits: Final = True

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        path: str,
        name: str,
        url_source: str = "base_url",
        headers: Mapping[str, str] | None = None,
        key: str | None = None,
        key_env: str | None = None,
        timeout: float = 60.0,
        connect_timeout: float = 5.0,
        headers_timeout: float = 30.0,
        first_token_timeout: float = 60.0,
        idle_timeout: float = 30.0,
        limits: HttpLimits | None = None,
        client: httpx2.AsyncClient | None = None,
        capabilities: Capabilities | None = None,
        clock: Clock | None = None,
    ) -> None:
        owner = type(self).__name__
        model_value: object = model  # callers without a type checker do pass None
        if not isinstance(model_value, str) or not model:
            msg = f"{owner} model must be a non-empty string, got {model!r}"
            raise ValueError(msg)
        if not name:
            msg = f"{owner} name must be a non-empty string"
            raise ValueError(msg)
        given: object = limits
        if given is not None and not isinstance(given, HttpLimits):
            msg = f"{owner} limits must be an HttpLimits, got {type(limits).__name__}"
            raise TypeError(msg)
        offered: object = Capabilities() if capabilities is None else capabilities
        if not isinstance(offered, Capabilities):
            msg = f"{owner} capabilities must be a Capabilities, got {type(capabilities).__name__}"
            raise TypeError(msg)
        self._capabilities = offered
        headers = headers or {}
        self._limits = limits or _DEFAULT_LIMITS
        self._max_line = self._limits.max_sse_line_bytes
        self._max_event = self._limits.max_sse_event_bytes
        self._model = model
        self._name = name
        self._url = endpoint(base_url, path, owner, url_source)
        secrets = (*url_secrets(base_url), *url_secrets(self._url), *header_secrets(headers))
        if secrets:
            mask_httpx_logs()  # httpx2 logs each request's full URL at INFO
        self._shown_url = mask_url(self._url)
        self._headers = {
            "accept-encoding": ACCEPT_ENCODING,
            "content-type": "application/json",
            **headers,
        }
        self._stream_headers = {**self._headers, "accept": "text/event-stream"}
        self._boundary = Boundary(name, secret=key, key_env=key_env, secrets=secrets)

        def seconds(field: str, value: float) -> float:
            return checked_as(f"{owner} {field}", check_seconds, value)

        self._timeout = seconds("timeout", timeout)
        self._connect_timeout = seconds("connect_timeout", connect_timeout)
        self._headers_timeout = seconds("headers_timeout", headers_timeout)
        self._first_token_timeout = seconds("first_token_timeout", first_token_timeout)
        self._idle_timeout = seconds("idle_timeout", idle_timeout)
        self._call_limits, self._stream_limits = self._httpx_timeouts()
        self._owns_client = client is None
        if client is None:
            client = httpx2.AsyncClient(limits=self._limits.pool())
        self._client = client
        # The limits' time: the loop's own (None) or a given clock, e.g. a ManualClock
        # that a test advances past a limit; its sleep is the one the limits wait on.
        self._clock = clock
        self._sleep = asyncio.sleep if clock is None else sleep_for(clock)

    def _httpx_timeouts(self) -> tuple[httpx2.Timeout, httpx2.Timeout]:
        """httpx2's limits for a call and for a stream.

        They back ours up; ours (asyncio deadlines) are the ones that fire. Waiting for a
        pooled connection is local congestion (``PoolExhausted``), never the provider's
        timeout: that wait ends before the first of our own limits can.
        """
        pool = self._limits.pool_timeout
        call = httpx2.Timeout(
            self._timeout, connect=self._connect_timeout, pool=min(pool, 0.9 * self._timeout)
        )
        longest = max(self._headers_timeout, self._first_token_timeout, self._idle_timeout)
        first_limit = min(self._headers_timeout, self._first_token_timeout)
        stream = httpx2.Timeout(
            longest + 1.0, connect=self._connect_timeout, pool=min(pool, 0.9 * first_limit)
        )
        return call, stream

    @property
    def name(self) -> str:
        """The provider's name in errors, logs, stats and ``LlmResponse.provider``."""
        return self._name

    @property
    def model(self) -> str:
        """The model used when a request names none."""
        return self._model

    @property
    def url(self) -> str:
        """The endpoint requests are posted to, credentials masked (``mask_url``)."""
        return self._shown_url

    @property
    def limits(self) -> HttpLimits:
        """The body, stream and pool limits."""
        return self._limits

    @property
    def capabilities(self) -> Capabilities:
        """What this provider can take; a request needing more fails before it is sent."""
        return self._capabilities

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self._name!r}, model={self._model!r}, "
            f"url={self._shown_url!r})"
        )

    async def aclose(self) -> None:
        """Close the connection pool if this provider created it (a passed-in client stays open)."""
        if self._owns_client:
            await self._client.aclose()

    async def complete(self, request: LlmRequest) -> LlmResponse:
        """Run one completion in one HTTP request (no retries: wrap the provider for those).

        Args:
            request: What to ask; ``request.model`` overrides the provider's model.

        Returns:
            The answer, with ``provider`` and ``latency_s`` filled in.

        Raises:
            LlmError: The subclass for what failed (see ``vex_llm.providers._http``);
                ``Timeout`` with code ``total_timeout`` when ``timeout`` ran out.
        """
        model = request.model or self._model
        body = self._body(request, model, stream=False)
        clock = self._clock or asyncio.get_running_loop().time
        started = clock()
        boundary = self._boundary
        outgoing = self._client.build_request(
            "POST",
            self._url,
            content=body,
            headers=outgoing_headers(self._headers),
            timeout=self._call_limits,
        )

        def total() -> LlmError:
            return boundary.deadline_error("total_timeout", self._timeout, model=model)

        try:
            # Our own limit and any claimed from the layers above, under one timer.
            async with within(self._timeout, self._sleep, total, also=claim_limits()):
                response = await self._client.send(outgoing, stream=True)
                report_headers(response.headers)  # rate-limit headers for a limiter above
                try:
                    status = response.status_code
                    if 200 <= status < 300:
                        content = await read_body(response, self._limits.max_body_bytes)
                    else:
                        content = await self._error_body(response)
                finally:
                    await response.aclose()
        except Timeout as timeout:
            raise self._fail(timeout) from timeout.__cause__
        except httpx2.HTTPError as exc:
            raise self._fail(boundary.transport_error(exc, model=model)) from boundary.cause(exc)
        except WireViolation as exc:
            raise self._fail(boundary.invalid(str(exc), model=model)) from None
        if not 200 <= status < 300:
            error = boundary.status_error(status, response.headers, content, model=model)
            raise self._fail(error)
        try:
            data = json.loads(content)
        except ValueError as exc:
            error = boundary.invalid("a body that is not JSON", model=model)
            raise self._fail(error) from boundary.cause(exc)
        return self._read(data, model, clock() - started)

    async def _open(self, body: bytes, model: str, read: StreamRead) -> httpx2.Response:
        """Send a stream request and wait (under ``read``'s timer) for a 2xx event stream's
        headers."""
        request = self._client.build_request(
            "POST",
            self._url,
            content=body,
            headers=outgoing_headers(self._stream_headers),
            timeout=self._stream_limits,
        )
        response = await read.headers(self._client, request)
        report_headers(response.headers)  # rate-limit headers for a limiter above
        status = response.status_code
        is_json = "json" in response.headers.get("content-type", "")
        if 200 <= status < 300 and not is_json:
            return response
        try:
            async with asyncio.timeout(self._idle_timeout):
                content = await self._error_body(response)
        except TimeoutError:
            content = b""  # the status already says what failed; a short body only loses detail
        finally:
            await response.aclose()
        if not 200 <= status < 300:
            error = self._boundary.status_error(status, response.headers, content, model=model)
            raise self._fail(error)
        # A JSON body to a stream request: an error object, or a server that ignored "stream".
        try:
            data = json.loads(content)
        except ValueError:
            data = None
        if isinstance(data, dict) and "error" in data:
            raise self._fail(self._boundary.event_error(data, model=model, partial=""))
        raise self._fail(
            self._boundary.invalid("JSON where an event stream was asked for", model=model)
        )

    async def _error_body(self, response: httpx2.Response) -> bytes:
        """At most ``max_error_body_bytes`` of a body (errors while reading only lose detail)."""
        try:
            return await read_start(response, self._limits.max_error_body_bytes)
        except (httpx2.HTTPError, WireViolation):
            return b""

    async def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
        """Stream one completion over Server-Sent Events.

        Three limits apply, each raising ``Timeout`` with its own ``.code``: waiting for
        the response headers (``headers_timeout``), the first text from the request's
        start (``ttft_timeout``), and the silence between events once text flows
        (``idle_timeout``). The stream is complete when its finish reason (or its
        terminator) arrives; a body that ends or breaks before that raises
        ``StreamInterrupted`` with the partial text. After the terminator the body is
        read on to its end, so its connection goes back to the pool; closing the iterator
        early closes the HTTP response, so it never goes back half-read.

        Args:
            request: What to ask; ``request.model`` overrides the provider's model.

        Yields:
            Chunks of text. The first and the last carry ``model`` and ``provider``; the
            last carries ``finish_reason`` and the usage when the server reported it.

        Raises:
            LlmError: The subclass for what failed.
        """
        model = request.model or self._model
        body = self._body(request, model, stream=True)
        clock = self._clock or asyncio.get_running_loop().time
        reader = self.stream_reader(model)
        read = StreamRead(self, reader, clock, self._sleep, clock())
        try:
            response = await self._open(body, model, read)
        except BaseException:
            read.close()
            raise
        raw = pieces(response)
        feed = SseDecoder(max_line=self._max_line, max_event=self._max_event).feed
        guard = read.guard
        take = reader.feed
        try:
            # The per-chunk path: ``reader.done`` read as an attribute, ``take()`` and all
            # but the first ``chunk()`` inlined (each is a call per event otherwise).
            while not reader.done:
                try:
                    guard.arm()
                    try:
                        data = await raw.__anext__()
                    finally:
                        guard.disarm()
                    events = feed(data)
                except StopAsyncIteration:
                    break
                except BaseException as exc:
                    read.failed(guard.convert(exc))
                    break  # finished: a usage event or terminator that never came is optional
                for event in events:
                    read.fresh = True
                    try:
                        piece = take(event)  # read.take(event), inlined
                    except LlmError as error:
                        self._fail(error)
                        raise
                    if piece:
                        yield (
                            read.chunk(piece)
                            if read.first
                            else StreamChunk(piece)
                            if isinstance(piece, str)
                            else piece
                        )
                    if reader.done:  # set by take(), which mypy's narrowing does not see
                        await read.drain(raw)  # type: ignore[unreachable]
                        break
            yield read.last()
        except StreamInterrupted as error:
            # Every break of this stream ends here: it carries the tool calls begun so far.
            error.partial_tool_calls = reader.calls.partial()
            raise
        finally:
            read.close()
            await raw.aclose()
            await response.aclose()
