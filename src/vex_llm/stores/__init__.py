"""Where circuit breakers keep their state, caches their answers and rate limiters their
buckets: in this process, or shared (Redis)."""

from __future__ import annotations

from ..circuit import CircuitStore, Snapshot, Ticket
from .buckets import (
    Adjustment,
    BucketKey,
    BucketStore,
    Cell,
    Charge,
    MemoryBuckets,
    Reservation,
)
from .cache import CacheStore, MemoryCache
from .cache_redis import RedisCache
from .memory import MemoryStore
from .redis import RedisStore
from .redis_buckets import RedisBuckets

__all__ = [
    "Adjustment",
    "BucketKey",
    "BucketStore",
    "CacheStore",
    "Cell",
    "Charge",
    "CircuitStore",
    "MemoryBuckets",
    "MemoryCache",
    "MemoryStore",
    "RedisBuckets",
    "RedisCache",
    "RedisStore",
    "Reservation",
    "Snapshot",
    "Ticket",
]
