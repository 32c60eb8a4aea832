"""The fake server's side of one HTTP exchange: writes, waits that end early, and drops.

Resets need the socket, which ASGI hides: the outermost layer (``Capture``) takes it
from uvicorn's ``send`` (a bound method of its request cycle) and keeps it in the scope.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any, Final

from ._plan import JournalEntry
from ._wire import Wire

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

Serve = Callable[[Wire, Scope, Receive, Send, bytes], Awaitable[None]]
"""Answers one request of a wire, given its whole body."""

TRANSPORT_KEY: Final = "vex_llm.transport"


class Endpoint:
    """The raw ASGI app behind ``/v1/chat/completions`` or ``/v1/messages``: reads the
    whole body, then hands the request to the server."""

    def __init__(self, serve: Serve, wire: Wire) -> None:
        self._serve = serve
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
        await self._serve(self._wire, scope, receive, send, b"".join(chunks))


class Exchange:
    """One request's connection: writes, waits that end early, and drops."""

    __slots__ = (
        "_gone",
        "_interrupted",
        "_receive",
        "_send",
        "_transport",
        "_watcher",
        "entry",
        "headers",
    )

    def __init__(self, scope: Scope, receive: Receive, send: Send, entry: JournalEntry) -> None:
        self._receive = receive
        self._send = send
        self._transport: asyncio.Transport | None = scope.get(TRANSPORT_KEY)
        self._interrupted = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self._gone = asyncio.Event()
        self.entry = entry
        self.headers: list[tuple[bytes, bytes]] = []
        """Sent with whatever the answer is (a quota's rate-limit headers)."""

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
        headers = [*headers, *self.headers] if self.headers else headers
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


class Capture:
    """Outermost ASGI layer: keeps uvicorn's transport in the scope so faults can reset it."""

    def __init__(self, app: App) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            cycle = getattr(send, "__self__", None)
            scope[TRANSPORT_KEY] = getattr(cycle, "transport", None)
        await self._app(scope, receive, send)
