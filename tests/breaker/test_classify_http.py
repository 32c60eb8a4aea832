"""classify_error counts an HTTP client's transport failures: a breaker around raw httpx2 trips."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import types
from collections.abc import AsyncIterator

import httpx2
import pytest

from vex_llm import CircuitBreaker, CircuitConfig, CircuitState, Outcome, classify_error

REQUEST = httpx2.Request("GET", "http://127.0.0.1/")


def status_error(status: int) -> httpx2.HTTPStatusError:
    """What ``raise_for_status()`` raises for ``status``."""
    response = httpx2.Response(status, request=REQUEST)
    return httpx2.HTTPStatusError(f"HTTP {status}", request=REQUEST, response=response)


def name_of(exc: BaseException) -> str:
    """A test id: the class name, and the status of a status error."""
    response = getattr(exc, "response", None)
    return type(exc).__name__ + (f"-{response.status_code}" if response is not None else "")


@pytest.mark.parametrize(
    "exc",
    [
        httpx2.ConnectError("refused"),
        httpx2.ReadError("reset"),
        httpx2.WriteError("broken pipe"),
        httpx2.CloseError("close"),
        httpx2.RemoteProtocolError("Server disconnected"),
        httpx2.ProxyError("proxy down"),
        httpx2.ConnectTimeout("slow"),
        httpx2.ReadTimeout("slow"),
        httpx2.WriteTimeout("slow"),
        status_error(429),
        status_error(500),
        status_error(503),
        status_error(599),
    ],
    ids=name_of,
)
def test_http_client_failures_count(exc: BaseException) -> None:
    """Connect, read, write, protocol and timeout errors, 429 and 5xx status errors count."""
    assert classify_error(exc) is Outcome.FAILURE


@pytest.mark.parametrize(
    "exc",
    [
        httpx2.PoolTimeout("busy"),
        httpx2.LocalProtocolError("bad header"),
        httpx2.UnsupportedProtocol("ftp"),
        httpx2.DecodingError("gzip"),
        httpx2.TooManyRedirects("loop"),
        status_error(404),
        status_error(400),
    ],
    ids=name_of,
)
def test_http_caller_errors_and_local_congestion_are_ignored(exc: BaseException) -> None:
    """A full local pool, a malformed request and 4xx errors (429 aside) are the caller's."""
    assert classify_error(exc) is Outcome.IGNORED


def fork_module() -> types.ModuleType:
    """A stand-in for ``httpx`` (the original): the same exception names, another hierarchy."""
    module = types.ModuleType("httpx")
    http_error = type("HTTPError", (Exception,), {})
    transport = type("TransportError", (http_error,), {})
    timeout = type("TimeoutException", (transport,), {})
    network = type("NetworkError", (transport,), {})
    names: dict[str, type[BaseException]] = {
        "HTTPError": http_error,
        "TransportError": transport,
        "TimeoutException": timeout,
        "PoolTimeout": type("PoolTimeout", (timeout,), {}),
        "NetworkError": network,
        "ConnectError": type("ConnectError", (network,), {}),
        "LocalProtocolError": type("LocalProtocolError", (transport,), {}),
    }
    for name, cls in names.items():
        setattr(module, name, cls)
    return module


def test_the_original_httpx_is_recognised(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same rule holds for exceptions of the original httpx, found by module name."""
    fork = fork_module()
    monkeypatch.setitem(sys.modules, "httpx", fork)
    assert classify_error(fork.ConnectError("refused")) is Outcome.FAILURE
    assert classify_error(fork.PoolTimeout("busy")) is Outcome.IGNORED
    assert classify_error(fork.LocalProtocolError("bad")) is Outcome.IGNORED


def dead_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_breaker_around_raw_httpx_opens_on_a_dead_port() -> None:
    """Connection refused by a dead port counts: the circuit opens at the threshold."""
    breaker = CircuitBreaker(CircuitConfig(failure_threshold=2))
    url = f"http://127.0.0.1:{dead_port()}/"
    async with httpx2.AsyncClient() as client:
        for _ in range(2):
            with pytest.raises(httpx2.ConnectError):
                await breaker.call(client.get, url)
    assert breaker.state is CircuitState.OPEN


@contextlib.asynccontextmanager
async def server(answer: bytes | None) -> AsyncIterator[str]:
    """A loopback server that sends ``answer`` to each request (``None``: never answers)."""
    held: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if answer is None:
            held.append(writer)
            return
        writer.write(answer)
        await writer.drain()
        writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/"
    finally:
        for writer in held:
            writer.close()
        listener.close()
        await listener.wait_closed()


async def test_breaker_around_raw_httpx_opens_on_read_timeouts() -> None:
    """A server that accepts and never answers: read timeouts count."""
    breaker = CircuitBreaker(CircuitConfig(failure_threshold=2))
    async with server(None) as url, httpx2.AsyncClient(timeout=0.05) as client:
        for _ in range(2):
            with pytest.raises(httpx2.ReadTimeout):
                await breaker.call(client.get, url)
    assert breaker.state is CircuitState.OPEN


@pytest.mark.parametrize(("status", "opens"), [(503, True), (500, True), (429, True), (404, False)])
async def test_breaker_around_raise_for_status(status: int, opens: bool) -> None:
    """``raise_for_status()`` on a 5xx or a 429 counts; on another 4xx it does not."""
    answer = f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode()
    breaker = CircuitBreaker(CircuitConfig(failure_threshold=2))

    async def fetch(client: httpx2.AsyncClient, url: str) -> httpx2.Response:
        return (await client.get(url)).raise_for_status()

    async with server(answer) as url, httpx2.AsyncClient() as client:
        for _ in range(2):
            with pytest.raises(httpx2.HTTPStatusError):
                await breaker.call(fetch, client, url)
    assert (breaker.state is CircuitState.OPEN) is opens
