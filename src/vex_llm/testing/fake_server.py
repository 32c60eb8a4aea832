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
given or a script step is an ``Answer`` (text and tool calls: ``Answer.tool_call(...)``);
streams send one word per chunk. Faults are deterministic under ``seed``. Requests that
break a rule the real API enforces get its 400 (see ``_validate``); the journal keeps
each request's exact body (``entry.body``, ``entry.json()``).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Final, Self

try:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Route
    from uvicorn.server import ServerState
except ImportError as exc:  # pragma: no cover - depends on the install
    msg = "FakeLLMServer needs Starlette and uvicorn: pip install 'vex-llm[lab]'"
    raise ImportError(msg) from exc

from ._admin import admin_routes
from ._answers import JSON_HEADERS, Playbook
from ._exchange import Capture, Endpoint, Exchange, Receive, Scope, Send
from ._faults import Fault
from ._plan import Faults, JournalEntry
from ._quota import Limits
from ._rules import Rule, Step, rules_from
from ._script import Answer, ToolUse
from ._thread import InThread
from ._wire import Wire, error_body, read_call

_HOST: Final = "127.0.0.1"


def _echo(prompt: str) -> str:
    return f"You said: {prompt}" if prompt else "You said nothing."


class FakeLLMServer(Limits):
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
        self._playbook = Playbook(responder, chunk_delay)
        self._port = port
        self._shutdown_timeout = shutdown_timeout
        self._started_at = 0.0
        self._url: str | None = None
        self._server: asyncio.Server | None = None
        self._state: ServerState | None = None
        self._exchanges: set[Exchange] = set()
        self._stopping = False
        self._thread = InThread("FakeLLMServer")

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
        fault: Fault | Answer,
        *,
        times: int | None = None,
        rate: float = 1.0,
        wire: Wire | None = None,
        stream: bool | None = None,
        model: str | None = None,
        between: tuple[float, float] | None = None,
    ) -> Rule:
        """Apply ``fault`` (or answer with ``Answer``) to matching requests.

        Args:
            fault: What happens: a ``Fault``, or an ``Answer`` (what the model says;
                faults from other rules still apply to it).
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
        if not isinstance(value, Fault | Answer):
            msg = f"inject() takes a Fault or an Answer, got {type(fault).__name__}"
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
        steps: Iterable[Step],
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
        ``server.script([Answer.tool_call("get_weather", '{"city": "Paris"}'), None])``
        answers a tool call, then text. An ``Answer`` says what the model answers and
        faults of other rules still apply to it, so ``server.inject(Fault.cut(after_chunks=
        answer.inside_arguments()), times=1)`` cuts that answer inside its arguments.

        Args:
            steps: The sequence: ``Fault``, ``Answer`` or ``None`` steps.
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
            entry = JournalEntry(
                at=elapsed, path=path, wire=wire, model=None, stream=False, body=body
            )
            exchange = Exchange(scope, receive, send, entry)
            self._faults.plan(entry, elapsed)  # journal it; faults need a readable request
            await exchange.respond(400, JSON_HEADERS, error_body(wire, 400, None, call))
            return
        entry = JournalEntry(
            at=elapsed, path=path, wire=wire, model=call.model, stream=call.stream, body=body
        )
        exchange = Exchange(scope, receive, send, entry)
        if self._stopping:
            await exchange.drop()
            return
        self._exchanges.add(exchange)
        try:
            plan = self._faults.plan(entry, elapsed)
            if plan.delay and not await exchange.pause(plan.delay):
                await exchange.drop()
                return
            await self._playbook.play(call, exchange, plan.fault, plan.answer)
        finally:
            self._exchanges.discard(exchange)
            exchange.close()

    def _app(self) -> Capture:
        routes = [
            Route("/v1/chat/completions", Endpoint(self._serve, "openai"), methods=["POST"]),
            Route("/v1/messages", Endpoint(self._serve, "anthropic"), methods=["POST"]),
            *admin_routes(self._faults),
        ]
        return Capture(Starlette(routes=routes))

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
        self._thread.start(self.start, self.stop, started=lambda: self._url is not None)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._thread.stop(timeout=self._shutdown_timeout + 5.0)

    def __repr__(self) -> str:
        return f"FakeLLMServer(url={self._url!r})"


__all__ = ["Answer", "FakeLLMServer", "Fault", "JournalEntry", "Rule", "ToolUse"]
