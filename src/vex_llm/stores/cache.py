"""Where a ``CachedProvider`` keeps its answers: ``CacheStore``, and ``MemoryCache``.

A store maps a request's key (a hex digest made by the cache policy) to a finished
``LlmResponse``. It applies two lifetimes it is given with each entry -- a time to live
from when the entry was stored and a time to idle from when it was last read -- on the
clock readings it is given, so tests move time by hand. ``RedisCache``
(``stores/cache_redis.py``) shares the entries between processes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import OrderedDict
from typing import Final, Self

from .._limits import check_count, checked_as
from .._types import LlmResponse

__all__ = ["CacheStore", "MemoryCache"]

DEFAULT_MAX_ENTRIES: Final = 10_000


class CacheStore(ABC):
    """The store of a ``CachedProvider``: answers by key, with a TTL and a time to idle.

    ``now`` is the cache's clock reading (monotonic seconds); a store shared between
    processes may use its own clock instead (``RedisCache`` uses the server's).
    """

    @abstractmethod
    async def get(self, key: str, now: float) -> LlmResponse | None:
        """The answer stored under ``key``, if it is there and alive (reading it counts as
        a use for the time to idle).

        Args:
            key: The request's key.
            now: The cache's clock reading, seconds.

        Returns:
            The answer, or ``None`` (absent, expired, idle too long, or unreadable).
        """

    @abstractmethod
    async def put(
        self, key: str, answer: LlmResponse, now: float, *, ttl: float, idle_ttl: float | None
    ) -> bool:
        """Store ``answer`` under ``key``, replacing what was there.

        Args:
            key: The request's key.
            answer: The finished answer.
            now: The cache's clock reading, seconds.
            ttl: Seconds the entry lives after ``now``.
            idle_ttl: Seconds the entry lives after its last read (``None``: no limit).

        Returns:
            Whether the answer was stored (a store may refuse one, e.g. too large).
        """

    async def delete(self, key: str) -> None:  # noqa: B027 - optional for read-only stores
        """Forget the entry under ``key`` (no error when there is none)."""

    @property
    def evictions(self) -> int:
        """Entries dropped to make room (least recently used first)."""
        return 0

    @property
    def expirations(self) -> int:
        """Entries found dead on a read: past their TTL or idle for too long."""
        return 0

    async def aclose(self) -> None:  # noqa: B027 - a no-op default is the point
        """Release connections. Safe to call twice."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class _Entry:
    __slots__ = ("answer", "expires_at", "idle_ttl", "used_at")

    def __init__(
        self, answer: LlmResponse, expires_at: float, idle_ttl: float | None, used_at: float
    ) -> None:
        self.answer = answer
        self.expires_at = expires_at
        self.idle_ttl = idle_ttl
        self.used_at = used_at


class MemoryCache(CacheStore):
    """Answers in a dict in this process, least recently used dropped first.

    Args:
        max_entries: Entries kept at most (default 10,000); storing one more drops the
            least recently used (counted in ``evictions``).

    Raises:
        ValueError: On a count that is not an int in [1, 1e9].
    """

    def __init__(self, *, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._max = checked_as("MemoryCache.max_entries", check_count, max_entries)
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._evictions = 0
        self._expirations = 0

    def __repr__(self) -> str:
        return f"MemoryCache(entries={len(self._entries)}, max_entries={self._max})"

    def __len__(self) -> int:
        """Entries held (dead ones included until a read or an eviction drops them)."""
        return len(self._entries)

    @property
    def max_entries(self) -> int:
        """Entries kept at most."""
        return self._max

    async def get(self, key: str, now: float) -> LlmResponse | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        idle = entry.idle_ttl
        if now >= entry.expires_at or (idle is not None and now - entry.used_at >= idle):
            del self._entries[key]
            self._expirations += 1
            return None
        entry.used_at = now
        self._entries.move_to_end(key)
        return entry.answer

    async def put(
        self, key: str, answer: LlmResponse, now: float, *, ttl: float, idle_ttl: float | None
    ) -> bool:
        entries = self._entries
        entries[key] = _Entry(answer, now + ttl, idle_ttl, now)
        entries.move_to_end(key)
        while len(entries) > self._max:
            entries.popitem(last=False)
            self._evictions += 1
        return True

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    @property
    def evictions(self) -> int:
        return self._evictions

    @property
    def expirations(self) -> int:
        return self._expirations
