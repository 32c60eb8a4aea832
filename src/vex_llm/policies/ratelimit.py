"""RateLimitedProvider: budgets that act before the provider's 429, not after it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Final

from .._clock import Clock, Sleep, sleep_for
from .._errors import LOCAL_RATE_LIMIT, RateLimited
from .._headers import start_observing, stop_observing
from .._provider import LlmProvider, ProviderWrapper
from .._response import Usage
from .._types import LlmRequest, LlmResponse, StreamChunk
from ..stores import (
    Adjustment,
    BucketKey,
    BucketStore,
    Cell,
    Charge,
    MemoryBuckets,
)
from ..stores.buckets import header_floor
from ._ratelimit_config import RateLimitConfig
from ._ratelimit_headers import read_hints
from ._ratelimit_stream import LimitedStream, unsent
from ._scope import _DEADLINE, time_left
from ._tenant import _TENANT, current_tenant
from ._trace import base_name, emit

_MAX_PLANS: Final = 4096
"""(model, tenant) pairs whose buckets are remembered, at most."""
_REQUESTS: Final = "requests"
_TOKENS: Final = "tokens"


class _Plan:
    """The buckets of one (model, tenant), field by field: built once, used by every call.

    Request buckets come first, then token buckets; within each, the provider's first.
    """

    __slots__ = ("bursts", "fixed", "intervals", "keys", "provider", "tokens")

    def __init__(self, buckets: list[tuple[BucketKey, Cell, bool]]) -> None:
        buckets.sort(key=lambda bucket: bucket[0].name.endswith(_TOKENS))  # stable
        self.keys = tuple(key for key, _, _ in buckets)
        self.intervals = tuple(cell.interval for _, cell, _ in buckets)
        self.bursts = tuple(cell.burst for _, cell, _ in buckets)
        self.provider = tuple(side for _, _, side in buckets)
        """Whether each bucket is the provider's (headers tighten those only)."""
        self.tokens = sum(1 for key in self.keys if key.name.endswith(_TOKENS))
        self.fixed = (1.0,) * (len(self.keys) - self.tokens)
        """The request buckets' costs."""

    def cell(self, index: int, cost: float = 0.0) -> Cell:
        return Cell(self.intervals[index], self.bursts[index], cost)


class _Ticket:
    """One admitted call: its buckets and costs, and the headers its answer came with."""

    __slots__ = ("costs", "headers", "plan")

    def __init__(self, plan: _Plan, costs: tuple[float, ...]) -> None:
        self.plan = plan
        self.costs = costs
        self.headers: Mapping[str, str] | None = None

    def observe(self, headers: Mapping[str, str]) -> None:
        self.headers = headers

    def charges(self) -> list[Charge]:
        plan = self.plan
        return [
            Charge(key, plan.cell(i, cost))
            for i, (key, cost) in enumerate(zip(plan.keys, self.costs, strict=True))
        ]


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
        self._plans: dict[tuple[str | None, str | None], _Plan] = {}
        self._use_headers = config.use_headers
        # No model budgets and no tiers: every call charges the same buckets.
        self._single = None if config.models or config.tiers else self._plan(None, None)

    @property
    def config(self) -> RateLimitConfig:
        """The budgets and rules."""
        return self._config

    @property
    def store(self) -> BucketStore:
        """Where the buckets live."""
        return self._store

    async def complete(self, request: LlmRequest) -> LlmResponse:
        local = self._local
        if local is None:
            ticket = await self._admit(request)
        else:  # in this process: no coroutine for the admission (the hot path)
            ticket = self._ticket(request)
            wait = self._take(local, ticket)
            if wait > 0.0:
                await self._wait(ticket, wait)
        watching = start_observing(ticket.observe) if self._use_headers else None
        try:
            response = await self._inner.complete(request)
        except BaseException as exc:
            await self._settle(ticket, None, unsent=unsent(exc))
            raise
        finally:
            if watching is not None:
                stop_observing(watching)
        if local is None:
            await self._settle(ticket, response.usage)
        elif ticket.plan.tokens or ticket.headers is not None:  # else nothing to settle
            self._settle_local(local, ticket, response.usage)
        return response

    def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
        return LimitedStream(self, request)

    # -- admission ----------------------------------------------------------------------

    def _ticket(self, request: LlmRequest) -> _Ticket:
        plan = self._single
        if plan is None:
            plan = self._plans.get((request.model, _TENANT.get()))
            if plan is None:
                plan = self._plan(request.model, current_tenant())
        if not plan.tokens:
            return _Ticket(plan, plan.fixed)
        config = self._config
        tokens = float(config.estimator(request) + (request.max_tokens or config.completion_tokens))
        return _Ticket(plan, plan.fixed + (tokens,) * plan.tokens)

    def _plan(self, model: str | None, tenant: str | None) -> _Plan:
        """The buckets of a (model, tenant), remembered (the table is bounded)."""
        config = self._config
        buckets: list[tuple[BucketKey, Cell, bool]] = []
        for side, (scope, budget) in (
            (True, config.provider_budget(model)),
            (False, config.tenant_budget(tenant)),
        ):
            if budget is None:
                continue
            cell = budget.request_cell
            if cell is not None:
                buckets.append((BucketKey(self._group, f"{scope}:{_REQUESTS}"), cell, side))
            cell = budget.token_cell(0.0)
            if cell is not None:
                buckets.append((BucketKey(self._group, f"{scope}:{_TOKENS}"), cell, side))
        plan = _Plan(buckets)
        if len(self._plans) >= _MAX_PLANS:
            self._plans.clear()  # many tenants: start over rather than grow without bound
        self._plans[model, tenant] = plan
        return plan

    def _max_wait(self) -> float:
        """The longest this call may wait: ``max_wait`` cut to the deadline's time left."""
        max_wait = self._config.max_wait
        left = time_left()
        if left < max_wait:
            max_wait = left if left > 0.0 else 0.0
        return max_wait

    def _take(self, local: MemoryBuckets, ticket: _Ticket) -> float:
        """Reserve in this process's buckets; the wait, or raise the local rate limit."""
        plan = ticket.plan
        max_wait = self._config.max_wait
        if _DEADLINE.get() is not None:
            max_wait = self._max_wait()
        admitted, wait = local.take(plan.keys, plan.intervals, plan.bursts, ticket.costs, max_wait)
        if not admitted:
            raise self._refused(wait, max_wait)
        return wait

    async def _admit(self, request: LlmRequest) -> _Ticket:
        ticket = self._ticket(request)
        local = self._local
        if local is not None:
            wait = self._take(local, ticket)
        else:
            max_wait = self._max_wait()
            admitted, wait, _ = await self._store.reserve(ticket.charges(), max_wait=max_wait)
            if not admitted:
                raise self._refused(wait, max_wait)
        if wait > 0.0:
            await self._wait(ticket, wait)
        return ticket

    async def _wait(self, ticket: _Ticket, wait: float) -> None:
        """Wait for the reserved turn; a call cancelled in line gives its place back."""
        emit("wait", self._base, wait=wait, detail="rate_limit")
        try:
            await self._sleep(wait)
        except BaseException:
            await self._settle(ticket, None, unsent=True)
            raise

    def _refused(self, wait: float, max_wait: float) -> RateLimited:
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
        local = self._local
        if local is not None:
            self._settle_local(local, ticket, usage, unsent=unsent)
            return
        settlement = self._settlement(ticket, usage, unsent=unsent)
        if settlement is None:
            return
        changes, floors = settlement
        plan = ticket.plan
        adjustments = [
            Adjustment(key, plan.cell(i), changes[i], None if floors is None else floors[i])
            for i, key in enumerate(plan.keys)
        ]
        await self._store.settle(adjustments)

    def _settle_local(
        self, local: MemoryBuckets, ticket: _Ticket, usage: Usage | None, *, unsent: bool = False
    ) -> None:
        settlement = self._settlement(ticket, usage, unsent=unsent)
        if settlement is not None:
            local.give(ticket.plan.keys, ticket.plan.intervals, *settlement)

    def _settlement(
        self, ticket: _Ticket, usage: Usage | None, *, unsent: bool
    ) -> tuple[list[float], list[float | None] | None] | None:
        """Each bucket's change in units and floor in seconds (``None``: nothing to do)."""
        plan = ticket.plan
        if unsent:
            return [-cost for cost in ticket.costs], None
        floors = None if ticket.headers is None else self._floors(ticket)
        delta = 0.0
        if plan.tokens and usage is not None:
            used = usage.total_tokens or usage.prompt_tokens + usage.completion_tokens
            delta = used - ticket.costs[-1]
        if floors is None and not delta:
            return None  # the common case of a requests budget: nothing to settle
        return [0.0] * len(plan.fixed) + [delta] * plan.tokens, floors

    def _floors(self, ticket: _Ticket) -> list[float | None] | None:
        """The floors the answer's rate-limit headers put on the provider's buckets."""
        assert ticket.headers is not None
        said = {hint.kind: hint for hint in read_hints(ticket.headers, now=time.time())}
        if not said:
            return None
        plan = ticket.plan
        floors: list[float | None] = []
        for index, key in enumerate(plan.keys):
            hint = said.get(_TOKENS if key.name.endswith(_TOKENS) else _REQUESTS)
            if hint is None or not plan.provider[index]:
                floors.append(None)
                continue
            floors.append(header_floor(hint.remaining, hint.limit, hint.reset, plan.cell(index)))
        return floors
