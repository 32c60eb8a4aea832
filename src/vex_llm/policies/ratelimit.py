"""RateLimitedProvider: budgets that act before the provider's 429, not after it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Final

from .._clock import Clock, Sleep, sleep_for
from .._errors import LOCAL_RATE_LIMIT, CircuitOpenError, RateLimited
from .._headers import observe_headers
from .._provider import LlmProvider, ProviderWrapper
from .._response import Usage
from .._stream import ChunkStream, first_chunk
from .._types import LlmRequest, LlmResponse, StreamChunk
from ..stores import (
    Adjustment,
    BucketKey,
    BucketStore,
    Charge,
    MemoryBuckets,
    Reservation,
)
from ..stores.buckets import header_floor
from ._ratelimit_config import RateBudget, RateLimitConfig
from ._ratelimit_headers import read_hints
from ._scope import time_left
from ._tenant import current_tenant
from ._trace import base_name, emit

_REQUESTS: Final = "requests"
_TOKENS: Final = "tokens"


class _Ticket:
    """One admitted call: what it charged, to settle it afterwards."""

    __slots__ = ("charges", "headers", "provider_keys", "token_cost")

    def __init__(self, charges: list[Charge], provider_keys: int, token_cost: float) -> None:
        self.charges = charges
        self.provider_keys = provider_keys
        """How many of ``charges`` (the first ones) are the provider-side buckets."""
        self.token_cost = token_cost
        self.headers: Mapping[str, str] | None = None

    def observe(self, headers: Mapping[str, str]) -> None:
        self.headers = headers


class RateLimitedProvider(ProviderWrapper):
    """Keeps a provider's calls inside its budgets: requests per window, tokens per minute.

    Each call reserves one request and its estimated tokens (the prompt's estimate plus
    ``max_tokens``) in the provider's budget (or its model's) and in its tenant's, all at
    once or not at all, and settles with the real usage when the answer arrives: the
    difference is refunded or debited, so throughput reaches the real limit rather than
    the pessimistic one. A call that failed keeps its reservation (the provider may have
    counted it); one cancelled while waiting for its turn gets it back.

    With ``use_headers``, the provider's rate-limit headers (OpenAI ``x-ratelimit-*``,
    Anthropic ``anthropic-ratelimit-*``) tighten the provider-side buckets: when the
    provider says fewer requests or tokens are left than the bucket holds, the bucket
    holds no more, so the limiter slows down before the 429. Headers only ever tighten.

    When the budget is empty a call waits for its turn if the wait fits in
    ``min(max_wait, time left on the call's deadline)``; else it fails at once with
    ``RateLimited`` (``code="local_rate_limit"``, ``retry_after`` the wait it would have
    needed, ``retryable=False``): retries stop and a fallback moves on without delay. A
    circuit breaker never counts a local rate limit (``classify_error``). Put it above the
    breaker and below retries (``stack(rate_limits=...)`` does).

    Args:
        provider: The provider to limit.
        config: Budgets, tiers and waiting rules.
        store: Where the buckets live (default: a ``MemoryBuckets`` of this wrapper's own;
            share one between wrappers of one provider, or a ``RedisBuckets`` between
            processes).
        group: The buckets' group name (default: the provider's base name; wrappers with
            one group over one store share one budget).
        clock: Monotonic seconds (for the default store).
        sleep: How a call waits for its turn (default: the clock's ``sleep``).
    """

    def __init__(
        self,
        provider: LlmProvider,
        config: RateLimitConfig,
        *,
        store: BucketStore | None = None,
        group: str | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep | None = None,
    ) -> None:
        super().__init__(provider)
        given: object = config
        if not isinstance(given, RateLimitConfig):
            msg = f"config must be a RateLimitConfig, got {type(given).__name__}"
            raise TypeError(msg)
        self._config = config
        self._store = store if store is not None else MemoryBuckets(clock=clock)
        self._local = self._store if type(self._store) is MemoryBuckets else None
        self._sleep = sleep if sleep is not None else sleep_for(clock)
        self._base = base_name(provider)
        self._group = group or self._base

    @property
    def config(self) -> RateLimitConfig:
        """The budgets and rules."""
        return self._config

    @property
    def store(self) -> BucketStore:
        """Where the buckets live."""
        return self._store

    async def complete(self, request: LlmRequest) -> LlmResponse:
        ticket = await self._admit(request)
        try:
            if self._config.use_headers:
                with observe_headers(ticket.observe):
                    response = await self._inner.complete(request)
            else:
                response = await self._inner.complete(request)
        except BaseException as exc:
            await self._settle(ticket, None, unsent=_unsent(exc))
            raise
        await self._settle(ticket, response.usage)
        return response

    def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
        return _LimitedStream(self, request)

    # -- admission ----------------------------------------------------------------------

    def _charges(self, request: LlmRequest) -> _Ticket:
        config = self._config
        group = self._group
        tokens = float(config.estimator(request) + (request.max_tokens or config.completion_tokens))
        charges: list[Charge] = []
        scope, budget = config.provider_budget(request.model)
        _add(charges, group, scope, budget, tokens)
        provider_keys = len(charges)
        tenant = current_tenant()
        scope, budget = config.tenant_budget(tenant)
        _add(charges, group, scope, budget, tokens)
        return _Ticket(charges, provider_keys, tokens)

    async def _admit(self, request: LlmRequest) -> _Ticket:
        ticket = self._charges(request)
        left = time_left()
        max_wait = self._config.max_wait
        if left < max_wait:
            max_wait = max(0.0, left)
        local = self._local
        if local is not None:
            answer = local.reserve_now(ticket.charges, max_wait=max_wait)
        else:
            answer = await self._store.reserve(ticket.charges, max_wait=max_wait)
        if not answer.admitted:
            raise self._refused(answer, max_wait)
        if answer.wait > 0:
            emit("wait", self._base, wait=answer.wait, detail="rate_limit")
            try:
                await self._sleep(answer.wait)
            except BaseException:
                # Cancelled in line: give the place back, the call never went.
                refund = [Adjustment(c.key, c.cell, -c.cell.cost) for c in ticket.charges]
                await self._store.settle(refund)
                raise
        return ticket

    def _refused(self, answer: Reservation, max_wait: float) -> RateLimited:
        wait = answer.wait
        msg = (
            f"{self._base}: local rate limit: the budget has room again in {wait:.2f}s, "
            f"more than this call may wait ({max_wait:.2f}s)"
        )
        error = RateLimited(
            msg,
            retry_after=wait,
            provider=self._base,
            code=LOCAL_RATE_LIMIT,
            retryable=False,
            status=None,
        )
        emit("give_up", self._base, error=error, wait=wait, detail="rate_limit")
        return error

    # -- settlement ---------------------------------------------------------------------

    async def _settle(self, ticket: _Ticket, usage: Usage | None, *, unsent: bool = False) -> None:
        """Correct the buckets after a call: the usage, the headers' floors, or (``unsent``:
        the provider was never asked) the whole reservation given back."""
        if unsent:
            adjustments = [Adjustment(c.key, c.cell, -c.cell.cost) for c in ticket.charges]
        else:
            adjustments = self._adjustments(ticket, usage)
        if not adjustments:
            return
        local = self._local
        if local is not None:
            local.settle_now(adjustments)
        else:
            await self._store.settle(adjustments)

    def _adjustments(self, ticket: _Ticket, usage: Usage | None) -> list[Adjustment]:
        floors: dict[str, tuple[float, float | None, float | None]] = {}
        if ticket.headers is not None:
            for hint in read_hints(ticket.headers, now=time.time()):
                floors[hint.kind] = (hint.remaining, hint.limit, hint.reset)
        delta = 0.0
        if usage is not None:
            used = usage.total_tokens or usage.prompt_tokens + usage.completion_tokens
            delta = used - ticket.token_cost
        adjustments: list[Adjustment] = []
        for index, (key, cell) in enumerate(ticket.charges):
            is_tokens = key.name.endswith(_TOKENS)
            floor = None
            if index < ticket.provider_keys:
                said = floors.get(_TOKENS if is_tokens else _REQUESTS)
                if said is not None:
                    floor = header_floor(*said, cell)
            change = delta if is_tokens else 0.0
            if change or floor is not None:
                adjustments.append(Adjustment(key, cell, change, floor))
        return adjustments


def _unsent(exc: BaseException) -> bool:
    """Whether a call failed before reaching the provider (an open circuit, a limiter below)."""
    if isinstance(exc, CircuitOpenError):
        return True
    return isinstance(exc, RateLimited) and exc.code == LOCAL_RATE_LIMIT


def _add(
    charges: list[Charge], group: str, scope: str, budget: RateBudget | None, tokens: float
) -> None:
    """Append a budget's buckets (requests, tokens) to a call's charges."""
    if budget is None:
        return
    requests = budget.request_cell
    if requests is not None:
        charges.append(Charge(BucketKey(group, f"{scope}:{_REQUESTS}"), requests))
    cell = budget.token_cell(tokens)
    if cell is not None:
        charges.append(Charge(BucketKey(group, f"{scope}:{_TOKENS}"), cell))


class _LimitedStream(ChunkStream):
    """A stream admitted by the limiter, settled with the usage on its last chunk."""

    __slots__ = ("_owner", "_request", "_ticket", "_usage")

    def __init__(self, owner: RateLimitedProvider, request: LlmRequest) -> None:
        super().__init__(owner.inner.name)
        self._owner = owner
        self._request = request
        self._ticket: _Ticket | None = None
        self._usage: Usage | None = None

    async def _start(self) -> tuple[StreamChunk, AsyncIterator[StreamChunk]]:
        owner = self._owner
        ticket = self._ticket = await owner._admit(self._request)
        inner = owner.inner
        try:
            with observe_headers(ticket.observe):
                chunks = inner.stream(self._request)
                first = await first_chunk(chunks, inner.name)
        except BaseException as exc:
            await owner._settle(ticket, None, unsent=_unsent(exc))
            raise
        if first.usage is not None:
            self._usage = first.usage
        if first.finish_reason is not None:
            return first, chunks
        return first, self._watch(chunks)

    async def _watch(self, chunks: AsyncIterator[StreamChunk]) -> AsyncIterator[StreamChunk]:
        # One hop per chunk to catch the usage (it comes on the last one).
        try:
            async for chunk in chunks:
                if chunk.usage is not None:
                    self._usage = chunk.usage
                yield chunk
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _finished(self) -> None:
        assert self._ticket is not None
        await self._owner._settle(self._ticket, self._usage)

    async def _failed(self, error: BaseException, stream: ChunkStream) -> BaseException:
        assert self._ticket is not None
        await self._owner._settle(self._ticket, None)
        return error

    async def _abandoned(self) -> None:
        assert self._ticket is not None
        await self._owner._settle(self._ticket, None)
