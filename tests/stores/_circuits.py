"""Helpers shared by the store tests: breakers over either store, Redis time pinned."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from vex_llm import CircuitBreaker, CircuitConfig, CircuitStore, RedisStore
from vex_llm.testing import ManualClock

BASE = 2_000_000_000.0
"""Redis time (seconds) at ManualClock 0 in pinned tests: a whole number, so time-window
buckets start where the MemoryStore's do."""


def unique_prefix() -> str:
    """A key prefix no other test uses (tests share the session server)."""
    return f"t{uuid.uuid4().hex[:12]}"


def pinned_offset(clock: ManualClock) -> Callable[[], float]:
    """A ``clock_offset`` that makes Redis time ``BASE + clock()`` (to within the latency
    of one call), so a ManualClock moves a shared circuit through time."""
    return lambda: BASE + clock() - time.time()


@dataclass
class Circuits:
    """Breakers over one store kind; breakers with one name are one circuit."""

    kind: str
    clock: ManualClock
    new_store: Callable[[], CircuitStore]
    stores: list[RedisStore] = field(default_factory=list)

    def make(
        self,
        config: CircuitConfig | None = None,
        *,
        name: str = "c",
        clock: Callable[[], float] | None = None,
    ) -> CircuitBreaker:
        """A breaker on a store of its own (Redis) or the shared MemoryStore."""
        return CircuitBreaker(
            config or CircuitConfig(),
            name=name,
            clock=clock or self.clock,
            store=self.new_store(),
        )
