"""ResilientTransport: the same policies under a sync ``httpx2.Client`` (``openai.OpenAI``,
``anthropic.Anthropic``), for applications without asyncio."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Final

import httpx2

from .._clock import Clock, Sleep
from ..breaker import CircuitConfig
from ..policies import HedgeConfig, ResilientProvider, RetryConfig, TimeoutConfig
from ..stores import CircuitStore
from ._async import AsyncResilientTransport
from ._call import Upstream, endpoint_of, parse_call
from ._exchange import body_pieces
from ._loop import LoopThread

_WHAT: Final = "ResilientTransport"
_END: Final = b""
_CLOSE_WAIT: Final = 10.0


class ResilientTransport(httpx2.BaseTransport):
    """``AsyncResilientTransport`` for sync clients:
    ``openai.OpenAI(http_client=httpx2.Client(transport=ResilientTransport(...)))``.

    It takes the same arguments and behaves the same (see ``AsyncResilientTransport``). The
    policies and the inner (async) transport run on one private event-loop thread, so
    circuits, retry budgets and the connection pool are shared safely by every thread that
    uses the client; each request (and each read of a streamed body) is handed to that
    loop and waited for. ``vex_llm.deadline()`` around a sync SDK call bounds it too.
    ``close()`` (the client's) stops the loop; one never closed stops at interpreter exit.

    Args:
        upstreams: Same-wire alternatives tried after the request's own URL, in order.
        circuit: Circuit-breaker rules for every upstream.
        retry: Retry settings for every upstream.
        timeouts: Per-attempt limits.
        hedge: Hedge between the request's URL and the upstreams instead of falling back.
        store: Where circuit state lives (default: a ``MemoryStore`` of this transport's).
        transport: The inner transport, an async one run on the private loop (default:
            ``httpx2.AsyncHTTPTransport()``).
        clock: Monotonic seconds for every policy.
        sleep: How the policies wait (an async sleep, run on the private loop).

    Raises:
        TypeError: If an upstream is not an ``Upstream``.
    """

    def __init__(
        self,
        upstreams: Sequence[Upstream] = (),
        *,
        circuit: CircuitConfig | None = None,
        retry: RetryConfig | None = None,
        timeouts: TimeoutConfig | None = None,
        hedge: HedgeConfig | None = None,
        store: CircuitStore | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep | None = None,
    ) -> None:
        core = AsyncResilientTransport(
            upstreams,
            circuit=circuit,
            retry=retry,
            timeouts=timeouts,
            hedge=hedge,
            store=store,
            transport=transport,
            clock=clock,
            sleep=sleep,
        )
        self._core = core
        self._inner = core.inner
        self._loop = LoopThread(self, "vex-llm ResilientTransport", core.aclose, _CLOSE_WAIT)

    @property
    def circuits(self) -> Mapping[str, ResilientProvider]:
        """The circuit-breaker layer of every upstream used so far, by circuit name."""
        return self._core.circuits

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send one request (see ``AsyncResilientTransport.handle_async_request``).

        Raises:
            httpx2.HTTPError: Only for requests that pass through untouched.
            RuntimeError: After ``close()``, or from the transport's own loop thread.
        """
        found = endpoint_of(request)
        call = None if found is None else parse_call(request, request.read(), found)
        if call is None:
            request.read()  # a sync body (a generator upload) cannot be sent by the async inner
            response = self._loop.run(self._inner.handle_async_request(request), _WHAT)
        else:
            response = self._loop.run(self._core.send(call), _WHAT)
        return httpx2.Response(
            response.status_code,
            headers=response.headers,
            stream=_SyncBody(response, self._loop),
            extensions=response.extensions,
        )

    def close(self) -> None:
        """Stop the loop and close the inner transport. Safe to call twice."""
        self._loop.stop()


class _SyncBody(httpx2.SyncByteStream):
    """An answer's body read through the loop, one piece per hand-over."""

    def __init__(self, response: httpx2.Response, loop: LoopThread) -> None:
        self._response = response
        self._loop = loop
        self._pieces: AsyncIterator[bytes] | None = None

    def __iter__(self) -> Iterator[bytes]:
        pieces = body_pieces(self._response)
        self._pieces = pieces
        while True:
            piece = self._loop.run(_next(pieces), _WHAT)
            if piece is _END:
                return
            yield piece

    def close(self) -> None:
        if self._loop.running and not self._loop.on_loop():
            self._loop.run(self._response.aclose(), _WHAT)


async def _next(pieces: AsyncIterator[bytes]) -> bytes:
    # The end is a value, not StopAsyncIteration: that exception cannot cross a future.
    try:
        while True:
            piece = await anext(pieces)
            if piece:
                return piece
    except StopAsyncIteration:
        return _END
