"""Helpers shared by the store tests: breakers over either store, Redis time pinned."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from vex_llm import (
    CircuitBreaker,
    CircuitConfig,
    CircuitOpenError,
    CircuitStore,
    RedisStore,
    ServerError,
)
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


async def ok() -> str:
    return "ok"


async def down() -> str:
    raise ServerError("upstream down", status=503)


async def outcome(breaker: CircuitBreaker, fn: object = ok) -> str:
    """Run one call: "ok", "failed" or "rejected:<reason>"."""
    try:
        await breaker.call(fn)  # type: ignore[arg-type]
    except CircuitOpenError as exc:
        return f"rejected:{exc.reason}"
    except ServerError:
        return "failed"
    return "ok"


def logged(caplog: pytest.LogCaptureFixture, event: str) -> int:
    """How many log records carry the event name ``event``."""
    return sum(1 for record in caplog.records if record.getMessage() == event)
