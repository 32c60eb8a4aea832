"""MemoryCache: answers in this process, least recently used dropped first, lifetimes on
the clock readings it is given."""

from __future__ import annotations

import pytest

from vex_llm import LlmResponse, MemoryCache

ANSWER = LlmResponse("42", finish_reason="stop")


async def test_reads_refresh_recency_for_eviction() -> None:
    """Past ``max_entries`` the entry read longest ago is dropped, and counted."""
    cache = MemoryCache(max_entries=2)
    await cache.put("a", ANSWER, 0.0, ttl=60.0, idle_ttl=None)
    await cache.put("b", ANSWER, 0.0, ttl=60.0, idle_ttl=None)
    assert await cache.get("a", 1.0) is ANSWER
    await cache.put("c", ANSWER, 2.0, ttl=60.0, idle_ttl=None)
    assert await cache.get("b", 3.0) is None
    assert await cache.get("a", 3.0) is ANSWER
    assert (len(cache), cache.evictions, cache.expirations) == (2, 1, 0)


async def test_ttl_and_idle_are_read_on_the_given_clock() -> None:
    """An entry dies at ``now + ttl`` or ``idle_ttl`` after its last read, whichever first."""
    cache = MemoryCache()
    await cache.put("k", ANSWER, 100.0, ttl=50.0, idle_ttl=20.0)
    assert await cache.get("k", 119.0) is ANSWER
    assert await cache.get("k", 138.0) is ANSWER
    assert await cache.get("k", 150.0) is None  # ttl, though read 12 s ago
    await cache.put("k", ANSWER, 200.0, ttl=50.0, idle_ttl=20.0)
    assert await cache.get("k", 220.0) is None  # idle
    assert cache.expirations == 2


async def test_put_replaces_and_delete_forgets() -> None:
    """Storing under a key replaces the entry; ``delete`` removes it (twice is fine)."""
    cache = MemoryCache()
    other = LlmResponse("43", finish_reason="stop")
    await cache.put("k", ANSWER, 0.0, ttl=60.0, idle_ttl=None)
    await cache.put("k", other, 0.0, ttl=60.0, idle_ttl=None)
    assert await cache.get("k", 1.0) is other
    await cache.delete("k")
    await cache.delete("k")
    assert await cache.get("k", 1.0) is None


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_max_entries_must_be_a_positive_count(value: object) -> None:
    """``max_entries`` is an int >= 1."""
    with pytest.raises(ValueError, match=r"MemoryCache\.max_entries"):
        MemoryCache(max_entries=value)  # type: ignore[arg-type]  # the point
