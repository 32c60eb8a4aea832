"""AsyncResilientTransport: vex-llm's resilience stack as an httpx2 transport."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final

import httpx2

from .._clock import Clock, Sleep
from .._errors import LlmError
from .._provider import close_stream
from .._types import LlmRequest
from ..breaker import CircuitConfig
from ..policies import (
    HedgeConfig,
    ResilienceStack,
    ResilientProvider,
    RetryConfig,
    TimeoutConfig,
    stack,
)
from ..stores import CircuitStore, MemoryStore
from ._answers import SdkStream, answer, failure_answer
from ._call import CURRENT, LlmCall, Upstream, endpoint_of, parse_call
from ._exchange import Exchange

# The policies pass a request down; the HTTP request travels beside it (CURRENT).
_PLACEHOLDER: Final = LlmRequest.from_prompt("(an HTTP request through vex_llm.transport)")


class AsyncResilientTransport(httpx2.AsyncBaseTransport):
    """Applies vex-llm's policies to every LLM call an ``httpx2.AsyncClient`` sends.

    ``openai.AsyncOpenAI(http_client=httpx2.AsyncClient(transport=AsyncResilientTransport()))``
    (``anthropic.AsyncAnthropic`` alike). A call (a POST to ``/chat/completions``,
    ``/responses``, ``/completions``, ``/embeddings`` or Anthropic's ``/v1/messages``) goes
    through ``stack()``: its own URL first, then ``upstreams`` in order (fallback, or
    hedging with ``hedge``), each with retries (budget, backoff, ``Retry-After``), a
    circuit breaker per base URL and model, and timeouts: ``attempt_timeout`` for a whole
    non-streamed answer, ``first_token_timeout`` from sending a streamed request to its
    first body bytes, ``idle_timeout`` between them. ``vex_llm.deadline()`` around the SDK
    call bounds it all. Other requests pass through untouched.

    The SDK sees its own exceptions: an error answer carries ``x-should-retry: false`` (the
    transport already retried; the SDK's own retries would multiply the attempts), a
    rejection by open circuits is a 503 and a spent deadline a 504, with ``x-vex-reason``
    and a JSON error body; every answer carries ``x-vex-upstream`` and ``x-vex-attempts``.
    A stream that breaks after it started raises ``httpx2.ReadTimeout`` (stalled) or
    ``httpx2.RemoteProtocolError`` (cut, or ended without its finish marker), which the
    SDK raises as its connection (timeout) error.

    Args:
        upstreams: Same-wire alternatives tried after the request's own URL, in order.
        circuit: Circuit-breaker rules for every upstream (circuits are named
            ``"<base_url> <model>"``).
        retry: Retry settings for every upstream.
        timeouts: Per-attempt limits.
        hedge: Hedge between the request's URL and the upstreams instead of falling back.
        store: Where circuit state lives (default: a ``MemoryStore`` of this transport's;
            pass a ``RedisStore`` to share circuits between processes).
        transport: The inner transport (default: ``httpx2.AsyncHTTPTransport()``).
        clock: Monotonic seconds for every policy (tests pass a ``ManualClock``).
        sleep: How the policies wait (default: the clock's ``sleep``, else ``asyncio.sleep``).

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
        for upstream in upstreams:
            value: object = upstream
            if not isinstance(value, Upstream):
                msg = f"upstreams must be Upstream entries, got {type(value).__name__}"
                raise TypeError(msg)
        self._upstreams = tuple(upstreams)
        self._circuit = circuit or CircuitConfig()
        self._retry = retry or RetryConfig()
        self._timeouts = timeouts or TimeoutConfig()
        self._hedge = hedge
        self._store = store if store is not None else MemoryStore()
        self._inner = transport if transport is not None else httpx2.AsyncHTTPTransport()
        self._clock = clock
        self._sleep = sleep
        self._stacks: dict[tuple[str, str], ResilienceStack] = {}
        self._circuits: dict[str, ResilientProvider] = {}

    @property
    def inner(self) -> httpx2.AsyncBaseTransport:
        """The transport the requests go out through."""
        return self._inner

    @property
    def circuits(self) -> Mapping[str, ResilientProvider]:
        """The circuit-breaker layer of every upstream used so far, by circuit name
        (``"<base_url> <model>"``): state, stats and manual control."""
        return MappingProxyType(self._circuits)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send one request: an LLM call through the policies, anything else as it is.

        Args:
            request: The request the client built.

        Returns:
            The answer (see the class docstring for the answers the transport makes up).

        Raises:
            httpx2.HTTPError: Only for requests that pass through untouched.
        """
        # Only an LLM call's body is read here: an upload to another endpoint streams through.
        found = endpoint_of(request)
        call = None if found is None else parse_call(request, await request.aread(), found)
        if call is None:
            return await self._inner.handle_async_request(request)
        return await self.send(call)

    async def send(self, call: LlmCall) -> httpx2.Response:
        """Run one recognised LLM call through the policies."""
        policies = self._stack_for(call)
        token = CURRENT.set(call)
        try:
            if not call.streamed:
                try:
                    done = await policies.complete(_PLACEHOLDER)
                except LlmError as exc:
                    return failure_answer(call, exc, self._circuits)
                return answer(call, call.kept[done.content])
            chunks = policies.stream(_PLACEHOLDER)
            try:
                first = await anext(chunks)
            except BaseException as exc:
                # Closed here whatever happened (cancellation included): its circuit permit
                # goes back at once, not when the garbage collector finds it.
                await close_stream(chunks)
                if not isinstance(exc, LlmError):
                    raise
                return failure_answer(call, exc, self._circuits)
            assert first.provider is not None  # the first chunk names its upstream
            started = call.kept[first.provider]
            return answer(call, _streamed(started, SdkStream(first, chunks, call.wire)))
        finally:
            CURRENT.reset(token)

    def _stack_for(self, call: LlmCall) -> ResilienceStack:
        key = (call.base_url, call.model)
        found = self._stacks.get(key)
        if found is None:
            found = self._build(call)
            self._stacks[key] = found
        return found

    def _build(self, call: LlmCall) -> ResilienceStack:
        """The policies for calls to one base URL and model: an ``Exchange`` for the URL
        itself and each upstream (same base URL and model once), inside ``stack()``."""
        targets: dict[str, Exchange] = {}
        for upstream in (None, *self._upstreams):
            base = call.base_url if upstream is None else upstream.base_url
            model = call.model if upstream is None or upstream.model is None else upstream.model
            name = f"{base} {model}"
            if name not in targets:
                targets[name] = Exchange(upstream, name, base, self._inner)
        built = stack(
            list(targets.values()),
            deadline=None,
            timeouts=self._timeouts,
            retry=self._retry,
            circuit=self._circuit,
            hedge=self._hedge,
            store=self._store,
            clock=self._clock,
            sleep=self._sleep,
        )
        for name, layer in built.circuits.items():
            self._circuits.setdefault(name, layer)
        return built

    async def aclose(self) -> None:
        """Close the inner transport (its connection pool)."""
        await self._inner.aclose()


def _streamed(response: httpx2.Response, body: SdkStream) -> httpx2.Response:
    return httpx2.Response(
        response.status_code,
        headers=response.headers,
        stream=body,
        extensions=response.extensions,
    )
