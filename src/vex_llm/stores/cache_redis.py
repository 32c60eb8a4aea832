"""RedisCache: a ``CachedProvider``'s answers shared by every process that names them.

Each entry is one Redis hash under its own hash-tagged key (``{<prefix>:cache:<key>}``,
Redis Cluster and Valkey safe): the compressed answer, when it expires, its time to idle
and its last use. A read and a write are one Lua script each, run on the server's clock,
so every process agrees when an entry dies whatever its own clock says; Redis's own key
expiry only collects what nobody reads.

The connection follows ``RedisStore``: built from a URL (the cache owns the client) or
around your client (``from_client``), no retries inside redis-py, every exchange bounded
by ``timeout``, the scripts loaded once per connection (``_redis_link``). A cache never
fails a call: when Redis is slow or gone a read is a miss and a write is skipped; after
``max_errors`` errors in a row the cache stops asking Redis for ``reconnect_after`` seconds
(logged once as ``cache_store_fallback``, and ``cache_store_rejoined`` when it is back).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Self, TypedDict, Unpack

from .._limits import check_count, check_seconds, checked_as
from .._types import LlmResponse
from ._cache_codec import decode, encode
from ._redis_client import checked_client, client_from_url
from ._redis_link import Call, Link
from .cache import CacheStore

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisCache", "RedisCacheSettings"]

logger: Final = logging.getLogger("vex_llm")


# Times are whole microseconds of server time (plus the tests' offset). Fields: v the
# value, e the expiry, i the time to idle (0: none), u the last use.
_NOW: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2]) + tonumber(ARGV[1])
"""

_GET: Final = (
    _NOW
    + """
local f = redis.call('HMGET', KEYS[1], 'v', 'e', 'i', 'u')
if not f[1] then return false end
local expires, idle, used = tonumber(f[2]), tonumber(f[3]), tonumber(f[4])
if (not expires) or now >= expires or (idle > 0 and now - used >= idle) then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('HSET', KEYS[1], 'u', string.format('%.0f', now))
local left = expires - now
if idle > 0 and idle < left then left = idle end
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil(left / 1000)))
return f[1]
"""
)

_PUT: Final = (
    _NOW
    + """
local ttl, idle = tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'e', string.format('%.0f', now + ttl),
  'i', ARGV[4], 'u', string.format('%.0f', now))
local left = ttl
if idle > 0 and idle < left then left = idle end
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil(left / 1000)))
return 1
"""
)

_GET_SCRIPT, _PUT_SCRIPT = 0, 1


class RedisCacheSettings(TypedDict, total=False):
    """The keyword arguments of ``RedisCache`` and ``RedisCache.from_client``."""

    prefix: str
    timeout: float
    connect_timeout: float
    max_value_bytes: int
    compress_level: int
    max_connections: int
    max_errors: int
    reconnect_after: float
    clock: Callable[[], float]
    clock_offset: Callable[[], float] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Settings:
    prefix: str = "vex"
    timeout: float = 0.05
    connect_timeout: float = 1.0
    max_value_bytes: int = 1 << 20
    compress_level: int = 6
    max_connections: int = 16
    max_errors: int = 3
    reconnect_after: float = 1.0
    clock: Callable[[], float] = time.monotonic
    clock_offset: Callable[[], float] | None = None

    def __post_init__(self) -> None:
        prefix: object = self.prefix
        if not isinstance(prefix, str) or not prefix:
            msg = f"RedisCache prefix must be a non-empty string, got {self.prefix!r}"
            raise ValueError(msg)
        for name in ("timeout", "connect_timeout", "reconnect_after"):
            checked_as(f"RedisCache {name}", check_seconds, getattr(self, name))
        for name in ("max_value_bytes", "max_connections", "max_errors"):
            checked_as(f"RedisCache {name}", check_count, getattr(self, name))
        level: object = self.compress_level
        if isinstance(level, bool) or not isinstance(level, int) or not 0 <= level <= 9:
            msg = f"RedisCache compress_level must be an int in [0, 9], got {level!r}"
            raise ValueError(msg)


class RedisCache(CacheStore):
    """Cached answers in Redis, shared by every process and host that uses the same prefix.

    Entries are compressed (zlib) and size-capped: an answer larger than
    ``max_value_bytes`` once compressed is not stored (``too_large`` counts them). Redis
    bounds the number of entries with its own memory policy (set ``maxmemory`` and
    ``maxmemory-policy volatile-lru`` or ``allkeys-lru``: every entry has an expiry);
    ``CacheConfig.max_entries`` bounds the in-memory store only.

    Args:
        url: A Redis URL, e.g. ``redis://127.0.0.1:6379/0`` (``rediss://`` for TLS).
        prefix: Namespace of the keys (default ``"vex"``).
        timeout: Seconds a read or a write may wait for Redis before it counts as a miss
            (default 0.05: far above a healthy round trip, far below an LLM call).
        connect_timeout: Seconds to open a connection and load the scripts (default 1).
        max_value_bytes: Largest compressed answer stored, bytes (default 1 MiB).
        compress_level: zlib level, 0 (none) to 9 (default 6).
        max_connections: Connections in use at once, at most (default 16).
        max_errors: Errors in a row after which Redis is left alone for
            ``reconnect_after`` seconds (default 3).
        reconnect_after: Seconds before asking Redis again after that (default 1).
        clock: Monotonic seconds for ``reconnect_after`` (default ``time.monotonic``).
        clock_offset: For tests: seconds added to the server's time in every script, to
            age entries without sleeping (every process must use the same one).

    Raises:
        ImportError: If redis-py is not installed.
        ValueError: On an invalid setting.
    """

    def __init__(self, url: str, **settings: Unpack[RedisCacheSettings]) -> None:
        config = _Settings(**settings)
        bound = max(config.connect_timeout, config.timeout)
        client = client_from_url("RedisCache", url, socket_timeout=bound, connect_timeout=bound)
        self._bind(config, client, owned=True)

    @classmethod
    def from_client(cls, client: Redis, **settings: Unpack[RedisCacheSettings]) -> Self:
        """A cache over your ``redis.asyncio.Redis`` client (which you close); the
        settings are those of ``RedisCache``.

        Returns:
            The cache.

        Raises:
            ImportError: If redis-py is not installed.
            TypeError: If ``client`` is not a ``redis.asyncio.Redis``.
            ValueError: On an invalid setting.
        """
        config = _Settings(**settings)
        client = checked_client("RedisCache", client)
        cache = cls.__new__(cls)
        cache._bind(config, client, owned=False)
        return cache

    def _bind(self, settings: _Settings, client: Redis, *, owned: bool) -> None:
        from redis.exceptions import RedisError

        self._settings = settings
        self._client = client
        self._owned = owned
        self._closed = False
        self._link = Link(client, (_GET, _PUT), max_connections=settings.max_connections)
        self._failures = (RedisError, OSError, TimeoutError)
        self._streak = 0
        self._resume_at = 0.0
        self.degraded = False
        """Whether the last Redis operation failed (reads are misses meanwhile)."""
        self.errors = 0
        """Redis operations that failed or timed out."""
        self.too_large = 0
        """Answers not stored because they were over ``max_value_bytes``."""
        self._expirations = 0

    def __repr__(self) -> str:
        # Never the URL: it may carry a password.
        return f"RedisCache(prefix={self._settings.prefix!r}, degraded={self.degraded})"

    def _key(self, key: str) -> str:
        return f"{{{self._settings.prefix}:cache:{key}}}"

    def _offset(self) -> str:
        offset = self._settings.clock_offset
        return "0" if offset is None else str(round(offset() * 1_000_000))

    async def get(self, key: str, now: float) -> LlmResponse | None:
        reply = await self._run(lambda: [(_GET_SCRIPT, [self._key(key)], [self._offset()])])
        if reply == 0:
            self._expirations += 1
            return None
        return decode(reply) if isinstance(reply, bytes) else None

    async def put(
        self, key: str, answer: LlmResponse, now: float, *, ttl: float, idle_ttl: float | None
    ) -> bool:
        value = encode(answer, level=self._settings.compress_level)
        if value is None:
            return False
        if len(value) > self._settings.max_value_bytes:
            self.too_large += 1
            return False
        ttl_us = str(max(1, round(ttl * 1_000_000)))
        idle_us = "0" if idle_ttl is None else str(max(1, round(idle_ttl * 1_000_000)))

        def calls() -> list[Call]:
            return [(_PUT_SCRIPT, [self._key(key)], [self._offset(), value, ttl_us, idle_us])]

        return await self._run(calls) == 1

    async def delete(self, key: str) -> None:
        if self._resting():
            return
        try:
            async with asyncio.timeout(self._settings.timeout):
                await self._client.delete(self._key(key))
        except self._failures as exc:
            self._failed(exc)

    @property
    def expirations(self) -> int:
        return self._expirations

    def _resting(self) -> bool:
        return self._streak >= self._settings.max_errors and (
            self._settings.clock() < self._resume_at
        )

    async def _run(self, calls: Callable[[], list[Call]]) -> object:
        """One script's reply, or ``None`` when Redis did not give one in time."""
        if self._resting():
            return None
        settings = self._settings
        setup = (
            settings.timeout if self.degraded else max(settings.connect_timeout, settings.timeout)
        )
        try:
            replies = await self._link.run(calls, within=settings.timeout, setup_within=setup)
        except self._failures as exc:
            self._failed(exc)
            return None
        reply = replies[0]
        if isinstance(reply, Exception):
            self._failed(reply)
            return None
        if self.degraded:
            self.degraded = False
            logger.info("cache_store_rejoined", extra={"store": settings.prefix})
        self._streak = 0
        return reply

    def _failed(self, exc: BaseException) -> None:
        self.errors += 1
        self._streak += 1
        if self._streak >= self._settings.max_errors:
            self._resume_at = self._settings.clock() + self._settings.reconnect_after
        if not self.degraded:
            self.degraded = True
            logger.warning(
                "cache_store_fallback",
                extra={"store": self._settings.prefix, "error": type(exc).__name__},
            )

    async def aclose(self) -> None:
        """Close the client if this cache made it (from a URL). Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._owned:
            await self._client.aclose()
