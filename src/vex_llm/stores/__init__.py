"""Where circuit breakers keep their state: in this process, or shared (Redis); and where
rate limiters keep their buckets (``MemoryBuckets``, ``RedisBuckets``)."""

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
from .memory import MemoryStore
from .redis import RedisStore
from .redis_buckets import RedisBuckets

__all__ = [
    "Adjustment",
    "BucketKey",
    "BucketStore",
    "Cell",
    "Charge",
    "CircuitStore",
    "MemoryBuckets",
    "MemoryStore",
    "RedisBuckets",
    "RedisStore",
    "Reservation",
    "Snapshot",
    "Ticket",
]
