"""Bounded bodies: size limits, the connection pool's size, and decompression in small pieces.

An upstream can be broken or hostile: a 503 with a 24 MB HTML page, a 63 KB gzip body
that inflates to 64 MB, a single 24 MB SSE line. Every body is read through here, read by
read (a socket read is at most 64 KiB), so memory stays bounded by the limits below
whatever arrives, and decompression never inflates more than ``PIECE`` bytes at a time.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Final

import httpx2

from .._limits import check_count, check_seconds, checked_as

PIECE: Final = 64 * 1024
"""Largest piece of decoded body handled at once (bytes)."""

ACCEPT_ENCODING: Final = "gzip, deflate"
"""What we ask for: the encodings we can inflate piece by piece with the standard library."""


def _delay(value: object) -> float:
    return check_seconds(value, zero=True)


class WireViolation(Exception):
    """A body broke a limit or its encoding; the message says what, for ``InvalidResponse``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpLimits:
    """Size limits of an HTTP provider: bodies, stream lines and events, and its pool.

    Past a body limit the call fails with ``InvalidResponse`` (an error body is cut
    instead: its status already says what failed). Sizes are in bytes, after
    decompression. Pass ``limits=HttpLimits(...)`` to a provider.

    Example: a process holding up to 5,000 concurrent streams::

        OpenAIProvider("gpt-4o-mini", limits=HttpLimits(max_connections=5000))

    Args:
        max_body_bytes: Largest answer of ``complete()`` (default 16 MiB: far above any
            real completion, small enough that a runaway body cannot exhaust memory).
        max_error_body_bytes: Bytes of an error body read for its message (default
            64 KiB: the message is at the start; the rest of a proxy's page is dropped).
        max_sse_line_bytes: Longest line of an event stream (default 1 MiB: one event's
            JSON is a few hundred bytes to a few KiB).
        max_sse_event_bytes: Largest ``data`` of one event, its lines joined (default 4 MiB).
        max_connections: Connections the provider's own pool opens at once (default
            1000). A stream holds its connection until it ends, so this is the number of
            concurrent streams a process can run; keep it below the process's file
            descriptor limit (``ulimit -n``). Ignored when a ``client`` is passed in.
        max_keepalive_connections: Idle connections kept for reuse (default 100).
        pool_timeout: Seconds a call waits for a free connection before it fails with
            ``PoolExhausted`` (default 10). The wait is cut to 90% of the call's first
            own limit (``timeout``; for a stream the smaller of ``headers_timeout`` and
            ``first_token_timeout``), so local congestion is never reported as the
            provider's ``Timeout``.
        drain_timeout: Seconds a finished stream waits, after its terminator (``[DONE]``,
            ``message_stop``), for the body to end so that its connection goes back to the
            pool (default 0.25). Servers end the body right after the terminator; against
            one that does not, the last chunk waits at most this long, then the connection
            is closed. 0 closes it at once.

    Raises:
        ValueError: Naming the field, for sizes below 1, a non-positive ``pool_timeout`` or
            a negative ``drain_timeout``.
    """

    max_body_bytes: int = 16 * 1024 * 1024
    max_error_body_bytes: int = 64 * 1024
    max_sse_line_bytes: int = 1024 * 1024
    max_sse_event_bytes: int = 4 * 1024 * 1024
    max_connections: int = 1000
    max_keepalive_connections: int = 100
    pool_timeout: float = 10.0
    drain_timeout: float = 0.25

    def __post_init__(self) -> None:
        for field in (
            "max_body_bytes",
            "max_error_body_bytes",
            "max_sse_line_bytes",
            "max_sse_event_bytes",
            "max_connections",
            "max_keepalive_connections",
        ):
            checked_as(f"HttpLimits.{field}", check_count, getattr(self, field))
        checked_as("HttpLimits.pool_timeout", check_seconds, self.pool_timeout)
        checked_as("HttpLimits.drain_timeout", _delay, self.drain_timeout)

    def pool(self) -> httpx2.Limits:
        """The httpx2 pool limits these settings give."""
        return httpx2.Limits(
            max_connections=self.max_connections,
            max_keepalive_connections=min(self.max_keepalive_connections, self.max_connections),
        )


class _Inflater:
    """gzip or deflate, inflated at most ``PIECE`` bytes at a time."""

    __slots__ = ("_deflate", "_started", "_z")

    def __init__(self, encoding: str) -> None:
        self._deflate = encoding == "deflate"
        wbits = zlib.MAX_WBITS if self._deflate else zlib.MAX_WBITS | 16
        self._z = zlib.decompressobj(wbits)
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            if self._deflate and not self._started:
                # "deflate" is zlib-wrapped by the standard, raw by some servers: try both.
                self._started = True
                try:
                    first = self._z.decompress(data, PIECE)
                except zlib.error:
                    self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                    first = self._z.decompress(data, PIECE)
                if first:
                    yield first
                data = self._z.unconsumed_tail
            while data:
                # max_length bounds each step; what is left waits in unconsumed_tail.
                out = self._z.decompress(data, PIECE)
                data = self._z.unconsumed_tail
                if out:
                    yield out
        except zlib.error as exc:
            raise WireViolation(f"a body that is not valid {self._encoding()}") from exc

    def _encoding(self) -> str:
        return "deflate" if self._deflate else "gzip"


def pieces(response: httpx2.Response) -> AsyncGenerator[bytes]:
    """The response's body, decompressed (at most ``PIECE`` bytes inflated at a time).

    A body without content-encoding comes as the transport read it (httpx2's own iterator,
    no extra step per read): splitting bytes already in memory would bound nothing, and a
    socket read is at most 64 KiB anyway. Close the generator when done with it.

    Returns:
        An async generator of the pieces. Iterating it raises ``WireViolation`` for a
        content-encoding we did not ask for or a corrupt body, and ``httpx2.HTTPError``
        when the connection fails.
    """
    try:
        read = response.content  # already in memory (a mock transport): decoded by httpx2
    except httpx2.ResponseNotRead:
        pass
    else:
        return _in_memory(read)
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return _raw(response)
    if encoding in ("x-gzip", "gzip", "deflate"):
        return _inflated(response, _Inflater("deflate" if encoding == "deflate" else "gzip"))
    msg = f"a body in content-encoding {encoding[:40]!r} (we ask for {ACCEPT_ENCODING})"
    return _refused(msg)


async def _in_memory(read: bytes) -> AsyncGenerator[bytes]:
    for start in range(0, len(read), PIECE):
        yield read[start : start + PIECE]


# httpx2's own iterator is closed here, when we are: left to the garbage collector, it would
# cost the loop a finalizer task per response.


async def _inflated(response: httpx2.Response, inflater: _Inflater) -> AsyncGenerator[bytes]:
    async with aclosing(_raw(response)) as reads:
        async for raw in reads:
            for out in inflater.feed(raw):
                yield out


async def _refused(msg: str) -> AsyncGenerator[bytes]:
    # An async generator that raises when first iterated, as the others fail when reading.
    if msg:
        raise WireViolation(msg)
    yield b""  # pragma: no cover - never reached: msg is never empty


def _raw(response: httpx2.Response) -> AsyncGenerator[bytes]:
    return response.aiter_raw()


async def read_body(response: httpx2.Response, limit: int) -> bytes:
    """The whole decoded body, failing once it passes ``limit`` bytes.

    Raises:
        WireViolation: Past ``limit``, or for a bad encoding.
        httpx2.HTTPError: When the connection fails.
    """
    parts: list[bytes] = []
    size = 0
    async for part in pieces(response):
        size += len(part)
        if size > limit:
            msg = f"a body larger than {limit} bytes (HttpLimits.max_body_bytes)"
            raise WireViolation(msg)
        parts.append(part)
    return b"".join(parts)


async def read_start(response: httpx2.Response, limit: int) -> bytes:
    """At most ``limit`` decoded bytes of the body (the rest is never read)."""
    parts: list[bytes] = []
    size = 0
    async with aclosing(pieces(response)) as body:
        async for part in body:
            parts.append(part)
            size += len(part)
            if size >= limit:
                break
    return b"".join(parts)[:limit]
