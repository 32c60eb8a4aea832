"""CachedProvider: answers kept by an exact-match key, served without calling a provider.

The outermost layer of a stack (``stack(..., cache=CacheConfig())``): a hit costs no
deadline, no fallback, no rate-limit budget and no circuit permit. Streams are cached as
their finished answer and replayed as a stream. Concurrent identical requests share one
upstream call (single flight, ``_cache_flight``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Final, Literal

from .._clock import Clock
from .._collect import collect
from .._limits import check_count, check_seconds, checked_as
from .._provider import LlmProvider, ProviderWrapper, close_stream
from .._types import LlmRequest, LlmResponse, StreamChunk, ToolCallDelta
from ..stores import CacheStore, MemoryCache
from ._cache_flight import Flights, StreamFlights
from ._cache_key import Unkeyable, request_key
from ._tenant import current_tenant

logger: Final = logging.getLogger("vex_llm")

CacheMode = Literal["use", "bypass", "refresh"]
"""How the calls inside a ``cache_control()`` block use the cache."""

_MODES: Final = ("use", "bypass", "refresh")
_MODE: ContextVar[CacheMode] = ContextVar("vex_llm_cache_mode", default="use")


@contextmanager
def cache_control(mode: CacheMode) -> Iterator[None]:
    """Choose how the calls inside the block use every ``CachedProvider`` they meet.

    ``"use"`` (the default): serve hits, store answers. ``"bypass"``: neither read nor
    store, the call goes upstream as if there were no cache (no single flight either).
    ``"refresh"``: do not read, call upstream and store the new answer over the old one.

    Args:
        mode: ``"use"``, ``"bypass"`` or ``"refresh"``.

    Raises:
        ValueError: On any other value.
    """
    if mode not in _MODES:
        msg = f"cache_control mode must be one of {_MODES}, got {mode!r}"
        raise ValueError(msg)
    token = _MODE.set(mode)
    try:
        yield
    finally:
        _MODE.reset(token)


@dataclass(frozen=True, slots=True, kw_only=True)
class CacheConfig:
    """How a ``CachedProvider`` keeps answers.

    Args:
        ttl: Seconds an answer is served after it was stored (default 3600: answers
            to the same prompt stay useful for a while, models and prompts change slowly).
        idle_ttl: Seconds an answer lives after it was last served (``None``, the
            default: only ``ttl`` applies).
        max_entries: Answers the in-memory store keeps, least recently used dropped first
            (default 10,000). A ``RedisCache`` is bounded by Redis's memory policy.
        store: Where answers live (default ``None``: a ``MemoryCache`` of this cache's
            own; a ``RedisCache`` shares them between processes).
        cache_sampled: Also cache requests with ``temperature > 0`` (default ``False``: a
            caller who asks for sampling wants a fresh draw). A request without a
            temperature is cached.
        cache_truncated: Also cache answers cut by ``max_tokens`` (``finish_reason ==
            "length"``; default ``False``).
        namespace: Mixed into every key (default ``None``: the wrapped provider's name),
            so caches of different stacks never share a store's entries by accident.

    Raises:
        ValueError: On a duration or count out of range.
        TypeError: On a store that is not a ``CacheStore``.
    """

    ttl: float = 3600.0
    idle_ttl: float | None = None
    max_entries: int = 10_000
    store: CacheStore | None = field(default=None, compare=False)
    cache_sampled: bool = False
    cache_truncated: bool = False
    namespace: str | None = None

    def __post_init__(self) -> None:
        checked_as("CacheConfig.ttl", check_seconds, self.ttl)
        if self.idle_ttl is not None:
            checked_as("CacheConfig.idle_ttl", check_seconds, self.idle_ttl)
        checked_as("CacheConfig.max_entries", check_count, self.max_entries)
        store: object = self.store
        if store is not None and not isinstance(store, CacheStore):
            msg = f"CacheConfig.store must be a CacheStore, got {type(store).__name__}"
            raise TypeError(msg)


@dataclass(frozen=True, slots=True)
class CacheStats:
    """What a ``CachedProvider`` did so far.

    Args:
        hits: Calls answered from the store.
        misses: Calls that looked in the store and went upstream (or joined a flight).
        stored: Answers written to the store.
        joined: Misses that shared another call's upstream call (single flight).
        not_stored: Answers not kept: errors, interrupted streams, truncated answers,
            refusals, answers without a finish reason, or refused by the store.
        passed: Calls that did not use the cache (bypass, sampled, unkeyable requests).
        evictions: Entries the store dropped to make room.
        expirations: Entries found past their TTL or idle for too long.
    """

    hits: int = 0
    misses: int = 0
    stored: int = 0
    joined: int = 0
    not_stored: int = 0
    passed: int = 0
    evictions: int = 0
    expirations: int = 0


def replay(answer: LlmResponse) -> list[StreamChunk]:
    """The stream of a stored answer: each thinking block, then one chunk with the text,
    the tool calls, the usage and the finish reason (every chunk names model and
    provider). ``collect`` over it gives back the answer."""
    model, provider = answer.model, answer.provider
    chunks = [
        StreamChunk("", model=model, provider=provider, thinking=part) for part in answer.thinking
    ]
    calls = tuple(
        ToolCallDelta(index, call.id, call.name, call.arguments)
        for index, call in enumerate(answer.tool_calls)
    )
    last = StreamChunk(
        answer.content,
        finish_reason=answer.finish_reason,
        usage=answer.usage,
        model=model,
        provider=provider,
        tool_calls=calls,
        provider_finish_reason=answer.provider_finish_reason,
        refusal=answer.refusal,
    )
    chunks.append(last)
    return chunks


async def _chunks(chunks: list[StreamChunk]) -> AsyncIterator[StreamChunk]:
    for chunk in chunks:
        yield chunk


def _store_failed(operation: str, exc: Exception) -> None:
    logger.warning("cache_store_error", extra={"operation": operation, "error": type(exc).__name__})


class CachedProvider(ProviderWrapper):
    """Serves repeated requests from a cache: exact match on everything that shapes the
    answer, the tenant included (``vex_llm.tenant``).

    A hit is the stored answer (``latency_s`` 0). A miss calls the wrapped provider once
    for all the identical requests in the air; its answer is stored when it is whole: a
    finish reason, no error, not a refusal (``refusal`` or ``"content_filter"``), not cut
    by ``max_tokens`` unless ``cache_truncated``. A stream is stored when it ended with its
    finish reason, and a hit on a stream replays the answer as a stream (text, tool
    calls, usage and finish reason as stored; chunk boundaries differ). ``complete()`` and
    ``stream()`` share entries. Requests with ``temperature > 0`` pass through unless
    ``cache_sampled``; ``cache_control()`` bypasses or refreshes per call. A store that
    raises is a miss (logged as ``cache_store_error``), never a failed call.

    The shared upstream call runs in the first caller's context (its deadline and
    tenant). Closing the provider cancels the calls in the air; it does not close a
    ``store`` you passed in.

    Args:
        provider: The provider (usually a whole stack) whose answers are cached.
        config: The cache's settings (default ``CacheConfig()``).
        clock: Monotonic seconds for TTL and idle time (default ``time.monotonic``).

    Raises:
        TypeError: If ``provider`` is not an ``LlmProvider``.
    """

    def __init__(
        self,
        provider: LlmProvider,
        config: CacheConfig | None = None,
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(provider)
        self._config = config = config if config is not None else CacheConfig()
        given = config.store  # an empty MemoryCache is falsy: compare with None
        self._store = given if given is not None else MemoryCache(max_entries=config.max_entries)
        self._namespace = config.namespace if config.namespace is not None else provider.name
        self._clock = clock
        self._flights = Flights()
        self._streams = StreamFlights()
        self._hits = self._misses = self._stored = self._not_stored = self._passed = 0

    @property
    def config(self) -> CacheConfig:
        """The cache's settings."""
        return self._config

    @property
    def store(self) -> CacheStore:
        """Where the answers live."""
        return self._store

    def stats(self) -> CacheStats:
        """Counts of hits, misses, stores and the rest (see ``CacheStats``)."""
        return CacheStats(
            hits=self._hits,
            misses=self._misses,
            stored=self._stored,
            joined=self._flights.joined + self._streams.joined,
            not_stored=self._not_stored,
            passed=self._passed,
            evictions=self._store.evictions,
            expirations=self._store.expirations,
        )

    def key(self, request: LlmRequest) -> str | None:
        """The key of ``request``'s answer for the current tenant (``None``: the request
        is not cached: sampled, or holding a value with no stable form)."""
        temperature = request.temperature
        if temperature and not self._config.cache_sampled:
            return None
        try:
            return request_key(request, self._namespace, current_tenant())
        except Unkeyable:
            return None

    async def complete(self, request: LlmRequest) -> LlmResponse:
        mode = _MODE.get()
        key = None if mode == "bypass" else self.key(request)
        if key is None:
            self._passed += 1
            return await self._inner.complete(request)
        if mode == "use":
            answer = await self._lookup(key)
            if answer is not None:
                self._hits += 1
                return answer
        self._misses += 1

        async def keep(answer: LlmResponse) -> None:
            await self._keep(key, answer)

        return await self._flights.run(key, lambda: self._inner.complete(request), keep)

    async def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
        mode = _MODE.get()
        key = None if mode == "bypass" else self.key(request)
        if key is None:
            self._passed += 1
            chunks = self._inner.stream(request)
            try:
                async for chunk in chunks:
                    yield chunk
            finally:
                await close_stream(chunks)
            return
        if mode == "use":
            answer = await self._lookup(key)
            if answer is not None:
                self._hits += 1
                for chunk in replay(answer):
                    yield chunk
                return
        self._misses += 1

        async def keep(chunks: list[StreamChunk]) -> None:
            try:
                answer = await collect(_chunks(chunks))
            except Exception:  # an answer that does not assemble is not one to keep
                self._not_stored += 1
                return
            await self._keep(key, answer)

        flight = self._streams.follow(key, lambda: self._inner.stream(request), keep)
        try:
            async for chunk in flight:
                yield chunk
        finally:
            await close_stream(flight)

    async def _lookup(self, key: str) -> LlmResponse | None:
        try:
            return await self._store.get(key, self._clock())
        except Exception as exc:  # a broken store is a miss, never a failed call
            _store_failed("get", exc)
            return None

    def is_whole(self, answer: LlmResponse) -> bool:
        """Whether ``answer`` may be stored: finished, not a refusal, not truncated
        (unless ``cache_truncated``)."""
        finish = answer.finish_reason
        if finish is None or finish == "content_filter" or answer.refusal is not None:
            return False
        return finish != "length" or self._config.cache_truncated

    async def _keep(self, key: str, answer: LlmResponse) -> None:
        if not self.is_whole(answer):
            self._not_stored += 1
            return
        config = self._config
        if answer.latency_s:
            answer = replace(answer, latency_s=0.0)
        try:
            stored = await self._store.put(
                key, answer, self._clock(), ttl=config.ttl, idle_ttl=config.idle_ttl
            )
        except Exception as exc:  # a broken store costs the entry, never the call
            _store_failed("put", exc)
            stored = False
        if stored:
            self._stored += 1
        else:
            self._not_stored += 1

    async def aclose(self) -> None:
        """Cancel the upstream calls in the air, then close the wrapped provider (and the
        store, when the cache made it)."""
        await self._flights.aclose()
        await self._streams.aclose()
        if self._config.store is None:
            await self._store.aclose()
        await self._inner.aclose()
