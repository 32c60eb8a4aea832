"""RedisCache over the tests' real redis-server: entries shared between caches and
processes, aged on the server's clock, compressed and size-capped, and a Redis that is
gone is a miss, never an error."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as redis_asyncio
from _circuits import pinned_offset, unique_prefix

from _redis_server import RedisServer, free_port
from vex_llm import (
    CacheConfig,
    CachedProvider,
    LlmRequest,
    LlmResponse,
    MockProvider,
    RedisCache,
    ThinkingPart,
    ToolCall,
    Usage,
    collect,
    tenant,
)
from vex_llm.testing import ManualClock

pytestmark = [pytest.mark.redis, pytest.mark.timeout(60)]

WORKER = Path(__file__).with_name("_cache_worker.py")

RICH = LlmResponse(
    "Paris is the capital of France. " * 20,
    model="m-1",
    provider="upstream",
    usage=Usage(10, 5, 15, cached_input_tokens=2, cache_write_tokens=1, reasoning_tokens=3),
    finish_reason="tool_calls",
    tool_calls=[ToolCall("c1", "lookup", '{"city": "Paris"}')],
    provider_finish_reason="tool_use",
    id="msg_1",
    thinking=[ThinkingPart("let me think", signature="sig"), ThinkingPart(redacted="opaque")],
)


@pytest.fixture
async def prefix() -> str:
    """A key prefix of this test's own."""
    return unique_prefix()


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[redis_asyncio.Redis]:
    """A plain client to look at what the cache wrote."""
    plain = redis_asyncio.Redis.from_url(redis_server.url)
    yield plain
    await plain.aclose()


async def test_an_entry_written_by_one_cache_is_read_by_another(
    redis_server: RedisServer, prefix: str
) -> None:
    """Two caches (two stores, as in two processes) share entries: every field survives."""
    async with (
        RedisCache(redis_server.url, prefix=prefix, timeout=2.0) as one,
        RedisCache(redis_server.url, prefix=prefix, timeout=2.0) as two,
    ):
        assert await one.put("k1", RICH, 0.0, ttl=60.0, idle_ttl=None)
        assert await two.get("k1", 0.0) == RICH
        assert await two.get("k2", 0.0) is None


async def test_values_are_compressed_under_hash_tagged_keys(
    redis_server: RedisServer, prefix: str, client: redis_asyncio.Redis
) -> None:
    """The stored value is zlib-compressed JSON, smaller than the text, under a key that
    is one hash tag (Redis Cluster keeps an entry on one slot)."""
    async with RedisCache(redis_server.url, prefix=prefix, timeout=2.0) as cache:
        await cache.put("abc", RICH, 0.0, ttl=60.0, idle_ttl=None)
    keys = [key.decode() async for key in client.scan_iter(match=f"{{{prefix}:*")]
    assert keys == [f"{{{prefix}:cache:abc}}"]
    value = await client.hget(keys[0], "v")
    assert value is not None
    assert len(value) < len(RICH.content)
    assert json.loads(zlib.decompress(value))["content"] == RICH.content
    assert 0 < await client.pttl(keys[0]) <= 60_000


async def test_too_large_answers_are_not_stored(redis_server: RedisServer, prefix: str) -> None:
    """An answer over ``max_value_bytes`` compressed is refused and counted."""
    async with RedisCache(
        redis_server.url, prefix=prefix, timeout=2.0, max_value_bytes=64
    ) as cache:
        assert not await cache.put("big", RICH, 0.0, ttl=60.0, idle_ttl=None)
        assert cache.too_large == 1
        assert await cache.get("big", 0.0) is None


async def test_ttl_runs_on_the_server_clock(redis_server: RedisServer, prefix: str) -> None:
    """An entry dies ``ttl`` seconds of server time after it was stored, for every reader."""
    clock = ManualClock(1000.0)
    async with RedisCache(
        redis_server.url, prefix=prefix, timeout=2.0, clock_offset=pinned_offset(clock)
    ) as cache:
        await cache.put("k", RICH, 0.0, ttl=60.0, idle_ttl=None)
        clock.advance(59.0)
        assert await cache.get("k", 0.0) == RICH
        clock.advance(2.0)
        assert await cache.get("k", 0.0) is None
        assert cache.expirations == 1


async def test_idle_ttl_is_renewed_by_reads(redis_server: RedisServer, prefix: str) -> None:
    """Reads keep an entry alive; ``idle_ttl`` without one and it is gone."""
    clock = ManualClock(1000.0)
    async with RedisCache(
        redis_server.url, prefix=prefix, timeout=2.0, clock_offset=pinned_offset(clock)
    ) as cache:
        await cache.put("k", RICH, 0.0, ttl=1000.0, idle_ttl=10.0)
        for _ in range(4):
            clock.advance(8.0)
            assert await cache.get("k", 0.0) is not None
        clock.advance(11.0)
        assert await cache.get("k", 0.0) is None


async def test_foreign_values_are_misses(
    redis_server: RedisServer, prefix: str, client: redis_asyncio.Redis
) -> None:
    """A value this version did not write (garbage, another format) is a miss."""
    key = f"{{{prefix}:cache:odd}}"
    await client.hset(key, mapping={"v": b"not zlib", "e": "9" * 17, "i": "0", "u": "0"})
    async with RedisCache(redis_server.url, prefix=prefix, timeout=2.0) as cache:
        assert await cache.get("odd", 0.0) is None


async def test_unreachable_redis_is_a_miss_not_an_error() -> None:
    """With nothing listening, reads miss, writes are skipped, the call is answered, and
    the cache says it is degraded."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    async with RedisCache(url, timeout=0.2, connect_timeout=0.2, max_errors=1) as store:
        mock = MockProvider.smart()
        cache = CachedProvider(mock, CacheConfig(store=store))
        first = await cache.complete(LlmRequest.from_prompt("hello"))
        second = await cache.complete(LlmRequest.from_prompt("hello"))
        assert first.content == second.content
        assert mock.calls == 2
        assert store.degraded
        assert store.errors >= 1


async def test_streams_are_shared_through_redis(redis_server: RedisServer, prefix: str) -> None:
    """A stream finished behind one cache is replayed as a stream behind another."""
    async with (
        RedisCache(redis_server.url, prefix=prefix, timeout=2.0) as one,
        RedisCache(redis_server.url, prefix=prefix, timeout=2.0) as two,
    ):
        first_mock = MockProvider.scripted([RICH])
        second_mock = MockProvider.smart()
        first = CachedProvider(first_mock, CacheConfig(store=one))
        second = CachedProvider(second_mock, CacheConfig(store=two))
        request = LlmRequest.from_prompt("capital?")
        streamed = await collect(first.stream(request))
        replayed = await collect(second.stream(request))
        assert second_mock.calls == 0
        assert replayed == streamed
        assert (replayed.tool_calls, replayed.usage, replayed.finish_reason) == (
            RICH.tool_calls,
            RICH.usage,
            "tool_calls",
        )


async def test_tenants_are_isolated_in_redis(redis_server: RedisServer, prefix: str) -> None:
    """One tenant's entry is not served to another through the shared store."""
    async with RedisCache(redis_server.url, prefix=prefix, timeout=2.0) as store:
        mock = MockProvider.smart()
        cache = CachedProvider(mock, CacheConfig(store=store))
        with tenant("acme"):
            await cache.ask("hello")
            await cache.ask("hello")
        with tenant("globex"):
            await cache.ask("hello")
        assert mock.calls == 2


def run_worker(
    url: str, prefix: str, prompts: list[str], name: str | None = None
) -> subprocess.Popen[str]:
    """Start one worker process."""
    settings = {"redis": url, "prefix": prefix, "prompts": prompts, "tenant": name}
    return subprocess.Popen(
        [sys.executable, str(WORKER), json.dumps(settings)], stdout=subprocess.PIPE, text=True
    )


def report(process: subprocess.Popen[str]) -> dict[str, object]:
    """A worker's report, once it exited."""
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    answer: dict[str, object] = json.loads(out)
    return answer


def test_processes_share_the_cache(redis_server: RedisServer, prefix: str) -> None:
    """One process answers two prompts upstream; four more processes get both from Redis
    without calling their providers; another tenant's process calls its own."""
    prompts = ["what is a circuit breaker?", "what is 2 + 3"]
    first = report(run_worker(redis_server.url, prefix, prompts))
    assert first["calls"] == 2
    assert not first["degraded"]
    others = [report(p) for p in [run_worker(redis_server.url, prefix, prompts) for _ in range(4)]]
    for other in others:
        assert other["calls"] == 0
        assert other["answers"] == first["answers"]
        assert other["stats"]["hits"] == 2  # type: ignore[index]  # JSON
    stranger = report(run_worker(redis_server.url, prefix, prompts, "globex"))
    assert stranger["calls"] == 2


async def test_from_client_leaves_your_client_open(
    redis_server: RedisServer, prefix: str, client: redis_asyncio.Redis
) -> None:
    """A cache over your client uses it and does not close it."""
    cache = RedisCache.from_client(client, prefix=prefix, timeout=2.0)
    assert await cache.put("k", RICH, 0.0, ttl=60.0, idle_ttl=None)
    await cache.aclose()
    assert await client.ping()
    assert "redis://" not in repr(cache)


def test_from_client_takes_only_a_redis_client() -> None:
    """Anything but a ``redis.asyncio.Redis`` is a TypeError."""
    with pytest.raises(TypeError, match=r"redis\.asyncio\.Redis"):
        RedisCache.from_client(object())  # type: ignore[arg-type]  # the point


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"prefix": ""}, "prefix"),
        ({"timeout": 0}, "timeout"),
        ({"max_value_bytes": 0}, "max_value_bytes"),
        ({"compress_level": 10}, "compress_level"),
    ],
)
def test_bad_settings_fail_when_built(settings: dict[str, object], match: str) -> None:
    """Invalid settings raise ValueError naming the setting, before any connection."""
    with pytest.raises(ValueError, match=match):
        RedisCache("redis://127.0.0.1:1/0", **settings)  # type: ignore[arg-type]  # the point


async def test_redis_going_away_and_back(
    own_redis_server: RedisServer, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis killed: reads miss, writes are skipped, Redis is left alone for
    ``reconnect_after`` (on the cache's clock); back: the cache rejoins, logged once each."""
    caplog.set_level(logging.INFO, logger="vex_llm")
    clock = ManualClock(0.0)
    async with RedisCache(
        own_redis_server.url,
        prefix=prefix,
        timeout=0.5,
        connect_timeout=0.5,
        max_errors=2,
        reconnect_after=5.0,
        clock=clock,
    ) as cache:
        assert await cache.put("k", RICH, 0.0, ttl=60.0, idle_ttl=None)
        own_redis_server.stop()
        assert await cache.get("k", 0.0) is None
        assert not await cache.put("k", RICH, 0.0, ttl=60.0, idle_ttl=None)
        assert (cache.degraded, cache.errors) == (True, 2)
        own_redis_server.start()
        assert await cache.get("k", 0.0) is None  # resting: Redis is not asked
        assert cache.errors == 2
        clock.advance(5.0)
        assert await cache.put("k", RICH, 0.0, ttl=60.0, idle_ttl=None)
        assert await cache.get("k", 0.0) == RICH
        assert not cache.degraded
    messages = [record.getMessage() for record in caplog.records]
    assert messages.count("cache_store_fallback") == 1
    assert messages.count("cache_store_rejoined") == 1
