"""FakeLLMServer: a real HTTP server on 127.0.0.1 that speaks both LLM APIs and misbehaves on cue.

Needs the ``lab`` extra (Starlette and uvicorn)::

    async with FakeLLMServer(seed=1) as server:           # in the test's own event loop
        server.inject(Fault.error(503), times=3)           # fail 3 times, then answer
        llm = OpenAIProvider("fake-1", base_url=server.base_url)

    with FakeLLMServer() as server:                        # from sync code: its own thread
        ...

URLs: ``base_url`` (``http://127.0.0.1:PORT/v1``) is what ``OpenAIProvider`` and the
official OpenAI SDK take; ``anthropic_base_url`` (``http://127.0.0.1:PORT``) is what
``AnthropicProvider`` and the Anthropic SDK take. Admin endpoints live under ``/_admin``:

- ``POST /_admin/faults`` with ``{"fault": {"kind": "status", "status": 429,
  "retry_after": 2}, "times": 3, "wire": "openai"}`` or ``{"script": [{...}, null]}``
  adds a rule (returns it with its ``id``); ``GET`` lists rules; ``DELETE`` clears them;
  ``DELETE /_admin/faults/{id}`` removes one.
- ``GET /_admin/journal`` lists the requests received; ``POST /_admin/reset`` clears
  rules and journal.

Answers are deterministic: ``"You said: <last user message>"`` unless a ``responder`` is
given; streams send one word per chunk. Faults are deterministic under ``seed``.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, MutableMapping, Sequence
from dataclasses import asdict
from types import TracebackType
from typing import Any, Final, Self

from ._faults import Fault, Faults, JournalEntry, Rule, rules_from
from ._wire import (
    Call,
    StreamEncoder,
    Wire,
    complete_body,
    context_message,
    count_tokens,
    default_status,
    error_body,
    read_call,
    split_words,
)

try:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route
    from uvicorn.server import ServerState
except ImportError as exc:  # pragma: no cover - depends on the install
    msg = "FakeLLMServer needs Starlette and uvicorn: pip install 'vex-llm[lab]'"
    raise ImportError(msg) from exc

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]

_HOST: Final = "127.0.0.1"
_TRANSPORT_KEY: Final = "vex_llm.transport"
_JSON: Final = [(b"content-type", b"application/json")]
_STREAM_FAULTS: Final = frozenset(
    {"slow_first_token", "stall", "cut", "stream_reset", "stream_error", "malformed", "noisy_sse"}
)
_SSE: Final = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


def _echo(prompt: str) -> str:
    return f"You said: {prompt}" if prompt else "You said nothing."


class _Exchange:
    """One request's connection: writes, waits that end early, and drops."""

    __slots__ = ("_gone", "_interrupted", "_receive", "_send", "_transport", "_watcher", "entry")

    def __init__(self, scope: Scope, receive: Receive, send: Send, entry: JournalEntry) -> None:
        self._receive = receive
        self._send = send
        self._transport: asyncio.Transport | None = scope.get(_TRANSPORT_KEY)
        self._interrupted = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self._gone = asyncio.Event()
        self.entry = entry

    def interrupt(self) -> None:
        """End every wait now (the server is stopping)."""
        self._interrupted.set()

    async def _watch(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._gone.set()
                self._interrupted.set()
                return

    async def pause(self, seconds: float | None) -> bool:
        """Wait ``seconds`` (``None``: for ever). False if the client left or the server stops."""
        if self._interrupted.is_set():
            return False
        if seconds is not None and seconds <= 0:
            return True
        self._watch_client()
        if seconds is None:
            await self._interrupted.wait()
            return False
        try:
            async with asyncio.timeout(seconds):
                await self._interrupted.wait()
        except TimeoutError:
            return True
        return False

    def _watch_client(self) -> None:
        if self._watcher is None:
            self._watcher = asyncio.ensure_future(self._watch())

    async def start(self, status: int, headers: Sequence[tuple[bytes, bytes]]) -> None:
        self.entry.status = status
        await self._send({"type": "http.response.start", "status": status, "headers": headers})

    async def write(self, data: bytes) -> None:
        await self._send({"type": "http.response.body", "body": data, "more_body": True})

    async def end(self, data: bytes = b"") -> None:
        await self._send({"type": "http.response.body", "body": data, "more_body": False})

    async def respond(
        self, status: int, headers: Sequence[tuple[bytes, bytes]], body: bytes
    ) -> None:
        await self.start(status, [*headers, (b"content-length", str(len(body)).encode())])
        await self.end(body)

    async def drop(self, *, reset: bool = True) -> None:
        """Close the connection: a TCP reset (``reset``), or a plain close mid-answer."""
        if self._gone.is_set():
            return
        transport = self._transport
        if transport is not None and not transport.is_closing():
            if reset:
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    # SO_LINGER with a zero timeout makes close() send RST, not FIN.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                transport.abort()
            else:
                transport.close()
        # Let the server see the connection go before the handler returns, so it does not
        # try to answer on it (and log about it).
        self._watch_client()
        try:
            async with asyncio.timeout(1.0):
                await self._gone.wait()
        except TimeoutError:
            pass  # the server closes the connection itself when the handler returns

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()


class _Capture:
    """Outermost ASGI layer: keeps uvicorn's transport in the scope so faults can reset it."""

    def __init__(self, app: Starlette) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            cycle = getattr(send, "__self__", None)
            scope[_TRANSPORT_KEY] = getattr(cycle, "transport", None)
        await self._app(scope, receive, send)


class _Endpoint:
    """The raw ASGI app behind ``/v1/chat/completions`` or ``/v1/messages``."""

    def __init__(self, server: FakeLLMServer, wire: Wire) -> None:
        self._server = server
        self._wire = wire

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await self._server._serve(self._wire, scope, receive, send, b"".join(chunks))


class FakeLLMServer:
    """A fake OpenAI- and Anthropic-compatible server with scripted faults, on loopback.

    Args:
        seed: Seed for fault rates and jitter (``None``: not reproducible).
        clock: Monotonic seconds for the journal and outage windows (inject a
            ``ManualClock`` to move through windows by hand).
        responder: Turns the last user message into the answer text.
        chunk_delay: Seconds between streamed chunks (default 0).
        port: Port to bind on 127.0.0.1 (default 0: a free one).
        shutdown_timeout: Seconds ``stop()`` waits for requests to finish before it
            cancels them (default 1; waits and hangs end at once when stopping anyway).

    Raises:
        ValueError: On a negative ``chunk_delay`` or ``shutdown_timeout``.
    """

    def __init__(
        self,
        *,
        seed: int | None = 0,
        clock: Callable[[], float] = time.monotonic,
        responder: Callable[[str], str] = _echo,
        chunk_delay: float = 0.0,
        port: int = 0,
        shutdown_timeout: float = 1.0,
    ) -> None:
        if not chunk_delay >= 0:
            msg = f"FakeLLMServer chunk_delay must be >= 0 seconds, got {chunk_delay}"
            raise ValueError(msg)
        if not shutdown_timeout >= 0:
            msg = f"FakeLLMServer shutdown_timeout must be >= 0 seconds, got {shutdown_timeout}"
            raise ValueError(msg)
        self._faults = Faults(seed)
        self._clock = clock
        self._responder = responder
        self._chunk_delay = chunk_delay
        self._port = port
        self._shutdown_timeout = shutdown_timeout
        self._serial = itertools.count(1)
        self._started_at = 0.0
        self._url: str | None = None
        self._server: asyncio.Server | None = None
        self._state: ServerState | None = None
        self._exchanges: set[_Exchange] = set()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._thread_stop: asyncio.Event | None = None

    # -- URLs ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server's root, ``http://127.0.0.1:PORT``.

        Raises:
            RuntimeError: Before the server started.
        """
        if self._url is None:
            msg = "FakeLLMServer is not running: use it as a context manager or call start()"
            raise RuntimeError(msg)
        return self._url

    @property
    def base_url(self) -> str:
        """The OpenAI-style ``/v1`` root: pass it as ``OpenAIProvider(base_url=...)``."""
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """The Anthropic-style root: pass it as ``AnthropicProvider(base_url=...)``."""
        return self.url

    @property
    def admin_url(self) -> str:
        """The admin endpoints' root, ``http://127.0.0.1:PORT/_admin``."""
        return self.url + "/_admin"

    @property
    def elapsed(self) -> float:
        """Seconds since the server started, on its clock."""
        return self._clock() - self._started_at

    # -- faults and journal -------------------------------------------------------------

    def inject(
        self,
        fault: Fault,
        *,
        times: int | None = None,
        rate: float = 1.0,
        wire: Wire | None = None,
        stream: bool | None = None,
        model: str | None = None,
        between: tuple[float, float] | None = None,
    ) -> Rule:
        """Apply ``fault`` to matching requests.

        Args:
            fault: What happens.
            times: At most this many requests (``None``: all of them).
            rate: Probability per matching request (seeded).
            wire: Only ``"openai"`` or ``"anthropic"`` requests.
            stream: Only streamed (``True``) or non-streamed (``False``) requests.
            model: Only requests for this model.
            between: Only from ``t0`` to ``t1`` seconds after the start (an outage window).

        Returns:
            The rule (its ``hits`` counts the requests it took).
        """
        value: object = fault  # callers without a type checker pass anything
        if not isinstance(value, Fault):
            msg = f"inject() takes a Fault, got {type(fault).__name__}"
            raise TypeError(msg)
        rule = Rule(
            sequence=(fault,),
            times=times,
            rate=rate,
            wire=wire,
            stream=stream,
            model=model,
            between=between,
        )
        return self._faults.add(rule)

    def script(
        self,
        steps: Iterable[Fault | None],
        *,
        cycle: bool = False,
        rate: float = 1.0,
        wire: Wire | None = None,
        stream: bool | None = None,
        model: str | None = None,
        between: tuple[float, float] | None = None,
    ) -> Rule:
        """Play ``steps`` one per matching request; ``None`` answers normally.

        ``server.script([Fault.error(500)] * 3 + [None])`` fails three times, then answers.

        Args:
            steps: The sequence.
            cycle: Start over when it ends (default: the rule is spent).
            rate, wire, stream, model, between: As for ``inject``.

        Returns:
            The rule.
        """
        sequence = rules_from(steps)
        rule = Rule(
            sequence=sequence,
            times=None if cycle else len(sequence),
            rate=rate,
            wire=wire,
            stream=stream,
            model=model,
            between=between,
        )
        return self._faults.add(rule)

    def remove(self, rule: Rule) -> None:
        """Take one rule out of force."""
        self._faults.remove(rule.id)

    def clear_faults(self) -> None:
        """Take every rule out of force (the journal stays)."""
        self._faults.clear()

    def reset(self) -> None:
        """Clear the rules and the journal, and reseed (requests in flight carry on)."""
        self._faults.reset()

    @property
    def rules(self) -> list[Rule]:
        """The rules in force, in the order they are tried."""
        return self._faults.rules()

    @property
    def journal(self) -> list[JournalEntry]:
        """The requests received so far, oldest first (a copy)."""
        return self._faults.journal()

    # -- serving ------------------------------------------------------------------------

    async def _serve(
        self, wire: Wire, scope: Scope, receive: Receive, send: Send, body: bytes
    ) -> None:
        call = read_call(wire, body)
        elapsed = self.elapsed
        path = str(scope.get("path", ""))
        if isinstance(call, str):
            entry = JournalEntry(at=elapsed, path=path, wire=wire, model=None, stream=False)
            exchange = _Exchange(scope, receive, send, entry)
            self._faults.plan(entry, elapsed)  # journal it; faults need a readable request
            await exchange.respond(400, _JSON, error_body(wire, 400, None, call))
            return
        entry = JournalEntry(at=elapsed, path=path, wire=wire, model=call.model, stream=call.stream)
        exchange = _Exchange(scope, receive, send, entry)
        if self._stopping:
            await exchange.drop()
            return
        self._exchanges.add(exchange)
        try:
            plan = self._faults.plan(entry, elapsed)
            if plan.delay and not await exchange.pause(plan.delay):
                await exchange.drop()
                return
            await self._answer(call, exchange, plan.fault)
        finally:
            self._exchanges.discard(exchange)
            exchange.close()

    async def _answer(self, call: Call, ex: _Exchange, fault: Fault | None) -> None:
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
            await ex.respond(200, _JSON, b'{"id": "chatcmpl-x", "choices": [{"message": {"con')
        elif kind == "garbage_sse":
            await ex.start(200, _SSE if call.stream else [(b"content-type", b"text/html")])
            await ex.write(b"<html><body>502 Bad Gateway</body></html>\nnot: an event\x00\n")
            await ex.end(b"\n")
        elif kind == "cut":
            # A plain answer cut mid-body: the connection closes before Content-Length is met.
            body = complete_body(call, self._responder(call.prompt), next(self._serial))
            await ex.start(200, [*_JSON, (b"content-length", str(len(body)).encode())])
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

    async def _complete(self, call: Call, ex: _Exchange) -> None:
        text = self._responder(call.prompt)
        await ex.respond(200, _JSON, complete_body(call, text, next(self._serial)))

    async def _error(self, call: Call, ex: _Exchange, fault: Fault) -> None:
        status = fault.status or default_status(call.wire, fault.code)
        message = fault.message
        if message is None and fault.code == "context_length_exceeded":
            message = context_message(call.wire)
        code = fault.code
        if call.wire == "anthropic" and code == "context_length_exceeded":
            code = "invalid_request_error"  # Anthropic says it in the message only
        headers = list(_JSON)
        if fault.retry_after is not None:
            value = fault.retry_after
            text = value if isinstance(value, str) else f"{value:g}"
            headers.append((b"retry-after", text.encode()))
        if fault.retry_after_ms is not None:
            headers.append((b"retry-after-ms", f"{fault.retry_after_ms:g}".encode()))
        headers.append((b"x-request-id", f"req_{next(self._serial):08d}".encode()))
        await ex.respond(status, headers, error_body(call.wire, status, code, message))

    async def _stream(self, call: Call, ex: _Exchange, fault: Fault | None) -> None:
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

    # -- admin endpoints ----------------------------------------------------------------

    async def _admin_faults(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse([rule.to_dict() for rule in self.rules])
        if request.method == "DELETE":
            self.clear_faults()
            return JSONResponse({"cleared": True})
        try:
            data = await request.json()
            if not isinstance(data, dict):
                msg = "send a JSON object"
                raise ValueError(msg)
            rule = self._faults.add(Rule.from_dict(data))
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(rule.to_dict(), status_code=201)

    async def _admin_fault(self, request: Request) -> Response:
        found = self._faults.remove(int(request.path_params["rule_id"]))
        return JSONResponse({"removed": found}, status_code=200 if found else 404)

    async def _admin_journal(self, request: Request) -> Response:
        return JSONResponse([asdict(entry) for entry in self.journal])

    async def _admin_reset(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"reset": True})

    def _app(self) -> _Capture:
        routes = [
            Route("/v1/chat/completions", _Endpoint(self, "openai"), methods=["POST"]),
            Route("/v1/messages", _Endpoint(self, "anthropic"), methods=["POST"]),
            Route("/_admin/faults", self._admin_faults, methods=["GET", "POST", "DELETE"]),
            Route("/_admin/faults/{rule_id:int}", self._admin_fault, methods=["DELETE"]),
            Route("/_admin/journal", self._admin_journal, methods=["GET"]),
            Route("/_admin/reset", self._admin_reset, methods=["POST"]),
        ]
        return _Capture(Starlette(routes=routes))

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Bind 127.0.0.1 and serve in the running event loop.

        Raises:
            RuntimeError: If the server is already running.
        """
        if self._server is not None:
            msg = "FakeLLMServer is already running"
            raise RuntimeError(msg)
        loop = asyncio.get_running_loop()
        # IPPROTO_TCP explicitly: asyncio turns Nagle off (TCP_NODELAY) only on sockets
        # that say so, and with Nagle on every streamed chunk waits for a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((_HOST, self._port))
            sock.setblocking(False)
            config = uvicorn.Config(
                self._app(),
                http="h11",
                ws="none",
                lifespan="off",
                log_config=None,
                proxy_headers=False,
                server_header=False,
                date_header=False,
                timeout_keep_alive=30,
            )
            config.load()
            state = ServerState()
            protocol = config.http_protocol_class

            def connection() -> asyncio.Protocol:
                return protocol(config=config, server_state=state, app_state={}, _loop=loop)  # type: ignore[call-arg]  # uvicorn's protocol classes take these

            self._server = await loop.create_server(connection, sock=sock, backlog=256)
        except BaseException:
            sock.close()
            raise
        self._state = state
        self._stopping = False
        self._started_at = self._clock()
        self._url = f"http://{_HOST}:{sock.getsockname()[1]}"

    async def stop(self) -> None:
        """Stop serving: end every wait and hang, close connections; bounded in time.

        Safe to call twice.
        """
        server, state = self._server, self._state
        if server is None or state is None:
            return
        self._stopping = True
        server.close()
        for exchange in list(self._exchanges):
            exchange.interrupt()
        for connection in list(state.connections):
            connection.shutdown()
        if state.tasks:
            await asyncio.wait(list(state.tasks), timeout=self._shutdown_timeout)
        tasks = list(state.tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        for connection in list(state.connections):
            connection.transport.abort()
        await asyncio.sleep(0)
        try:
            async with asyncio.timeout(1.0):
                await server.wait_closed()
        except TimeoutError:
            pass  # a connection the OS is still closing; the port is released either way
        self._server = None
        self._state = None
        self._url = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def __enter__(self) -> Self:
        """Run the server in a thread of its own (for synchronous tests and scripts)."""
        if self._thread is not None:
            msg = "FakeLLMServer is already running"
            raise RuntimeError(msg)
        ready = threading.Event()
        failures: list[BaseException] = []

        async def run() -> None:
            self._thread_loop = asyncio.get_running_loop()
            self._thread_stop = asyncio.Event()
            try:
                await self.start()
            except BaseException as exc:
                failures.append(exc)
                ready.set()
                return
            ready.set()
            try:
                await self._thread_stop.wait()
            finally:
                await self.stop()

        self._thread = threading.Thread(
            target=asyncio.run, args=(run(),), name="FakeLLMServer", daemon=True
        )
        self._thread.start()
        ready.wait(timeout=30.0)
        if failures or self._url is None:
            self._thread.join(timeout=5.0)
            self._thread = None
            if failures:
                raise failures[0]
            msg = "FakeLLMServer did not start in 30 s"
            raise RuntimeError(msg)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        thread, loop, stop = self._thread, self._thread_loop, self._thread_stop
        if thread is None or loop is None or stop is None:
            return
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=self._shutdown_timeout + 5.0)
        self._thread = self._thread_loop = self._thread_stop = None

    def __repr__(self) -> str:
        return f"FakeLLMServer(url={self._url!r})"


__all__ = ["FakeLLMServer", "Fault", "JournalEntry", "Rule"]
