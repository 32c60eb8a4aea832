"""Where circuit breakers keep their state, and caches their answers: in this process, or
shared (Redis)."""

from __future__ import annotations

from ..circuit import CircuitStore, Snapshot, Ticket
from .cache import CacheStore, MemoryCache
from .cache_redis import RedisCache
from .memory import MemoryStore
from .redis import RedisStore

__all__ = [
    "CacheStore",
    "CircuitStore",
    "MemoryCache",
    "MemoryStore",
    "RedisCache",
    "RedisStore",
    "Snapshot",
    "Ticket",
]
