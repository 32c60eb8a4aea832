"""Where circuit breakers keep their state: in this process, or shared (Redis)."""

from __future__ import annotations

from ..breaker._machine import Snapshot, Ticket
from ._base import CircuitStore
from .memory import MemoryStore
from .redis import RedisStore

__all__ = ["CircuitStore", "MemoryStore", "RedisStore", "Snapshot", "Ticket"]
