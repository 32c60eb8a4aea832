"""Where circuit breakers keep their state: in this process, or shared (Redis)."""

from __future__ import annotations

from ..circuit import CircuitStore, Snapshot, Ticket
from .memory import MemoryStore
from .redis import RedisStore

__all__ = ["CircuitStore", "MemoryStore", "RedisStore", "Snapshot", "Ticket"]
