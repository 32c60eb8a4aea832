"""The recommended stack in one call: cache -> deadline -> fallback -> per provider:
retry -> rate limit -> circuit breaker -> attempt timeout -> provider."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping, Sequence
from types import MappingProxyType
from typing import Final, TypeVar

from .._clock import Clock, Sleep, sleep_for
from .._observe import _CALL, Call, observers
from .._provider import LlmProvider
from .._types import LlmRequest, LlmResponse, StreamChunk
from ..breaker import CircuitConfig
from ..stores import BucketStore, CircuitStore, MemoryBuckets
from ._backoff import Random
from ._deadline import DeadlineProvider
from ._observed import ObservedStream, call_ended, call_started
from ._ratelimit_config import RateLimitConfig
from ._scope import StreamBreak
from .cache import CacheConfig, CachedProvider
from .fallback import FallbackProvider
from .hedge import HedgeConfig, HedgeProvider
from .ratelimit import RateLimitedProvider
from .resilient import ResilientProvider
from .retry import RetryConfig, RetryProvider
from .timeout import TimeoutConfig, TimeoutProvider

_RETRY: Final = RetryConfig()
_CIRCUIT: Final = CircuitConfig()
_TIMEOUTS: Final = TimeoutConfig()


_Setting = TypeVar("_Setting")


class ResilienceStack(LlmProvider):
    """A provider built by ``stack()``: every resilience layer around a list of providers.

    Each ``complete()`` or ``stream()`` is one logical call for the observers
    (``vex_llm.metrics``, ``vex_llm.tracing``), when any is installed.

    Args:
        outer: The outermost layer.
        circuits: The circuit-breaker layer of each provider, by provider name.
        clock: The clock call durations are read on, for the observers (seconds).
    """

    def __init__(
        self,
        outer: LlmProvider,
        circuits: Mapping[str, ResilientProvider],
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        self._outer = outer
        self._circuits = MappingProxyType(dict(circuits))
        self._clock = clock
        self._name = f"stack({', '.join(self._circuits)})"

    @property
    def name(self) -> str:
        return self._name

    @property
    def outer(self) -> LlmProvider:
        """The outermost layer (a ``CachedProvider`` when built with a cache, else a
        ``DeadlineProvider`` unless built without a deadline)."""
        return self._outer

    @property
    def cache(self) -> CachedProvider | None:
        """The cache layer (its ``stats()``), when the stack was built with one."""
        return self._outer if isinstance(self._outer, CachedProvider) else None

    @property
    def circuits(self) -> Mapping[str, ResilientProvider]:
        """Each provider's circuit-breaker layer, by provider name (state, stats, manual
        control)."""
        return self._circuits

    async def is_available(self) -> bool:
        return await self._outer.is_available()

    async def complete(self, request: LlmRequest) -> LlmResponse:
        targets = observers()
        if not targets:
            return await self._outer.complete(request)
        # One reported logical call, reported here rather than in a coroutine around the
        # outer layer's: that frame alone was a measurable share of the seam's cost.
        call = Call(self._name, self._clock, streamed=False, request=request)
        call.model = request.model or ""
        if targets.call_started:
            call_started(targets, call)
        token = _CALL.set(call)
        try:
            response = await self._outer.complete(request)
        except BaseException as exc:
            call.error = exc
            call_ended(targets, call, "error")
            raise
        finally:
            _CALL.reset(token)
        call.seen(response)
        call_ended(targets, call, "success")
        return response

    def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
        # The outer layer's own stream, not a stream around it: closing what the caller
        # holds closes the whole chain at once. Observed, one more stage absorbs it.
        targets = observers()
        if targets:
            return ObservedStream(targets, self._name, self._outer, request, self._clock)
        return self._outer.stream(request)

    async def aclose(self) -> None:
        await self._outer.aclose()


def stack(
    providers: Sequence[LlmProvider],
    *,
    deadline: float | None = 60.0,
    timeouts: TimeoutConfig = _TIMEOUTS,
    retry: RetryConfig = _RETRY,
    circuit: CircuitConfig = _CIRCUIT,
    hedge: HedgeConfig | None = None,
    on_stream_break: StreamBreak = "raise",
    context_windows: Mapping[LlmProvider, int] | None = None,
    store: CircuitStore | None = None,
    clock: Clock = time.monotonic,
    sleep: Sleep | None = None,
    rng: Random | None = None,
    provider_timeouts: Mapping[LlmProvider, TimeoutConfig] | None = None,
    provider_retry: Mapping[LlmProvider, RetryConfig] | None = None,
    provider_circuits: Mapping[LlmProvider, CircuitConfig] | None = None,
    cache: CacheConfig | None = None,
    rate_limits: Mapping[LlmProvider, RateLimitConfig] | None = None,
    rate_limit_store: BucketStore | None = None,
) -> ResilienceStack:
    """Wrap providers in the recommended resilience stack.

    Outermost first: with ``cache``, a cache of answers; one overall ``deadline`` per
    call; a fallback chain over the providers in order (or, with ``hedge``, hedged
    requests); then, for each provider, retries with a budget, a circuit breaker, and
    per-attempt timeouts (built only here).

    Args:
        providers: Primary first (at least one; names must differ, they name circuits).
        deadline: Seconds for a whole call, retries and fallbacks included (default 60 s;
            ``None``: no overall deadline, the other limits still bound every call).
        timeouts: Per-attempt limits for every provider.
        retry: Retry settings for every provider (each provider has its own budget).
        circuit: Circuit-breaker rules for every provider.
        hedge: Hedge between the providers instead of trying them one after another.
        on_stream_break: What the fallback does when a stream breaks after its first
            chunk (``"raise"`` or ``"restart"``; see ``FallbackProvider``).
        context_windows: Context sizes of providers for long prompts (``FallbackProvider``).
        store: Where circuit state lives (default: this process; a ``RedisStore`` shares it).
        clock: Monotonic seconds for every layer.
        sleep: How every layer waits (default: the clock's ``sleep``, else ``asyncio.sleep``).
        rng: The retries' jitter source.
        provider_timeouts: Some providers' own ``timeouts`` (a config file sets them).
        provider_retry: Some providers' own ``retry`` settings.
        provider_circuits: Some providers' own ``circuit`` rules.
        cache: Serve repeated requests from a cache (``CacheConfig``), as the outermost
            layer: a hit then costs no deadline timer, no fallback, no retry budget and no
            circuit permit; the key does not depend on which provider answered, so an
            answer from a fallback serves later calls too; and the single flight sits
            above everything that calls a provider. Default ``None``: no cache.
        rate_limits: Some providers' budgets (``RateLimitedProvider``), put below the
            retries and above the breaker: each retry is a request and is charged; a local
            rate limit is not retried (the fallback moves on) and never reaches the breaker,
            so an empty budget cannot open a circuit; a call the open circuit refuses gets
            its reservation back.
        rate_limit_store: Where the budgets' buckets live (default: this process; a
            ``RedisBuckets`` shares them across processes).

    Returns:
        The stack, itself an ``LlmProvider``.

    Raises:
        ValueError: On an empty provider list, duplicate provider names or bad settings.
    """
    chain = _checked(providers, context_windows or {})
    sleep = sleep if sleep is not None else sleep_for(clock)
    own = (
        _own(provider_timeouts, chain, "provider_timeouts", timeouts),
        _own(provider_circuits, chain, "provider_circuits", circuit),
        _own(provider_retry, chain, "provider_retry", retry),
    )
    limits = _own(rate_limits, chain, "rate_limits", None)
    circuits, retried = _guarded(chain, *own, store, clock, sleep, rng, (limits, rate_limit_store))
    windows = {retried[p.name]: size for p, size in (context_windows or {}).items()}
    outer = _outer(list(retried.values()), hedge, deadline, on_stream_break, clock, sleep, windows)
    if cache is not None:
        outer = CachedProvider(outer, cache, clock=clock)
    return ResilienceStack(outer, circuits, clock=clock)


def _guarded(
    chain: tuple[LlmProvider, ...],
    timeouts: Mapping[LlmProvider, TimeoutConfig],
    circuits: Mapping[LlmProvider, CircuitConfig],
    retry: Mapping[LlmProvider, RetryConfig],
    store: CircuitStore | None,
    clock: Clock,
    sleep: Sleep,
    rng: Random | None,
    limits: tuple[Mapping[LlmProvider, RateLimitConfig | None], BucketStore | None],
) -> tuple[dict[str, ResilientProvider], dict[str, LlmProvider]]:
    """The per-provider layers, inside out: timeouts, circuit breaker, rate limit, retries.

    Returns:
        Each provider's circuit-breaker layer and its outermost (retry) layer, by name.
    """
    breakers = {
        p.name: ResilientProvider(
            TimeoutProvider(p, timeouts[p], sleep=sleep), circuits[p], clock=clock, store=store
        )
        for p in chain
    }
    budgets, buckets = limits
    if buckets is None and any(budgets.values()):
        buckets = MemoryBuckets(clock=clock)
    retried: dict[str, LlmProvider] = {}
    for p in chain:
        limited: LlmProvider = breakers[p.name]
        config = budgets[p]
        if config is not None:
            limited = RateLimitedProvider(limited, config, store=buckets, clock=clock, sleep=sleep)
        retried[p.name] = RetryProvider(limited, retry[p], clock=clock, sleep=sleep, rng=rng)
    return breakers, retried


def _outer(
    guarded: list[LlmProvider],
    hedge: HedgeConfig | None,
    deadline: float | None,
    on_stream_break: StreamBreak,
    clock: Clock,
    sleep: Sleep,
    windows: Mapping[LlmProvider, int],
) -> LlmProvider:
    """The layers around the per-provider ones: fallback (or hedge), then the deadline."""
    middle: LlmProvider = (
        HedgeProvider(guarded, hedge, clock=clock, sleep=sleep)
        if hedge is not None and len(guarded) > 1
        else FallbackProvider(guarded, on_stream_break=on_stream_break, context_windows=windows)
    )
    if deadline is not None:
        middle = DeadlineProvider(middle, deadline, clock=clock, sleep=sleep)
    return middle


def _checked(
    providers: Sequence[LlmProvider], context_windows: Mapping[LlmProvider, int]
) -> tuple[LlmProvider, ...]:
    """The providers of a stack: at least one, with distinct names (they name circuits),
    and context windows only for providers in the list."""
    chain = tuple(providers)
    if not chain:
        msg = "stack() providers must hold at least one provider"
        raise ValueError(msg)
    names = [p.name for p in chain]
    if len(set(names)) != len(names):
        msg = f"stack() providers must have distinct names (they name circuits), got {names}"
        raise ValueError(msg)
    unknown = [p for p in context_windows if p not in chain]
    if unknown:
        msg = f"stack() context_windows names providers not in the list: {unknown}"
        raise ValueError(msg)
    return chain


def _own(
    settings: Mapping[LlmProvider, _Setting] | None,
    chain: tuple[LlmProvider, ...],
    keyword: str,
    default: _Setting,
) -> dict[LlmProvider, _Setting]:
    """Each provider's own settings of one kind: ``default`` unless ``settings`` names it."""
    given = settings or {}
    unknown = [p for p in given if p not in chain]
    if unknown:
        msg = f"stack() {keyword} names providers not in the list: {unknown}"
        raise ValueError(msg)
    return {p: given.get(p, default) for p in chain}
