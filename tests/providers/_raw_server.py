"""A tiny hostile HTTP server on 127.0.0.1: it answers each request with bytes a test chooses."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

Answer = Callable[[asyncio.StreamWriter], Awaitable[None]]
"""Writes one response (status line, headers, body) to the client."""


def head(status: int = 200, *, content_type: str = "application/json", **headers: str) -> bytes:
    """A response head that ends the body by closing the connection (no length, no chunks)."""
    lines = [f"HTTP/1.1 {status} X", f"content-type: {content_type}", "connection: close"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def sending(*parts: bytes, piece: int = 64 * 1024) -> Answer:
    """An answer that writes ``parts`` in pieces of ``piece`` bytes, then closes."""

    async def answer(writer: asyncio.StreamWriter) -> None:
        for part in parts:
            for start in range(0, len(part), piece):
                writer.write(part[start : start + piece])
                await writer.drain()

    return answer


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    """The body of one request."""
    head_bytes = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head_bytes.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return await reader.readexactly(length)


@contextlib.asynccontextmanager
async def raw_server(answer: Answer, *, seen: list[bytes] | None = None) -> AsyncIterator[str]:
    """Serve ``answer`` to every request; yields the base URL (``http://127.0.0.1:port``).

    Args:
        answer: Writes each response.
        seen: Each request's body is appended to it, when given.
    """

    open_writers: set[asyncio.StreamWriter] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        open_writers.add(writer)
        try:
            body = await _read_request(reader)
            if seen is not None:
                seen.append(body)
            await answer(writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up: exactly what a bounded reader does
        finally:
            open_writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for writer in list(open_writers):
            writer.close()
        await server.wait_closed()
