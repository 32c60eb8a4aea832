"""Store fixtures: a real redis-server started here (never assumed), and one circuit over
either store, so the same behavioural tests run against ``MemoryStore`` and ``RedisStore``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from _circuits import Circuits, pinned_offset, unique_prefix

from _redis_server import RedisServer
from vex_llm import CircuitStore, MemoryStore, RedisStore
from vex_llm.testing import ManualClock


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the session, on a free loopback port, killed at the end."""
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
def own_redis_server() -> Iterator[RedisServer]:
    """A redis-server of this test's own, which the test may stop, pause or restart."""
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def circuits(request: pytest.FixtureRequest) -> AsyncIterator[Circuits]:
    """The same circuit semantics over MemoryStore and over RedisStore (time pinned)."""
    clock = ManualClock()
    if request.param == "memory":
        memory = MemoryStore()
        yield Circuits("memory", clock, lambda: memory)
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    prefix = unique_prefix()
    made: list[RedisStore] = []

    def new_store() -> CircuitStore:
        # A generous timeout: these tests are about semantics, not about a slow Redis.
        store = RedisStore(
            server.url, prefix=prefix, timeout=2.0, clock_offset=pinned_offset(clock)
        )
        made.append(store)
        return store

    circuits = Circuits("redis", clock, new_store, made)
    yield circuits
    for store in made:
        assert not store.degraded, "a behavioural test fell back to local state"
        await store.aclose()
