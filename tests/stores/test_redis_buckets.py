"""RedisBuckets: the same GCRA as MemoryBuckets on the server's clock, one round trip per
call, K processes admitting at most N cluster-wide, and a local share when Redis is gone."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from _circuits import pinned_offset, unique_prefix

from _redis_server import RedisServer, free_port
from vex_llm import (
    MemoryBuckets,
    MockProvider,
    RateBudget,
    RateLimitConfig,
    RateLimited,
    RateLimitedProvider,
    RedisBuckets,
    RedisStore,
)
from vex_llm.stores import Adjustment, BucketKey, Cell, Charge
from vex_llm.testing import ManualClock

pytestmark = pytest.mark.redis

WORKER = Path(__file__).with_name("_bucket_worker.py")

Factory = Callable[[], RedisBuckets]


@pytest.fixture
async def shared(redis_server: RedisServer) -> AsyncIterator[tuple[ManualClock, Factory]]:
    """RedisBuckets over one prefix, Redis time pinned to a ManualClock."""
    clock = ManualClock()
    prefix = unique_prefix()
    made: list[RedisStore] = []

    def new() -> RedisBuckets:
        store = RedisStore(
            redis_server.url, prefix=prefix, timeout=2.0, clock_offset=pinned_offset(clock)
        )
        made.append(store)
        return RedisBuckets(store)

    yield clock, new
    for store in made:
        await store.aclose()


KEY = BucketKey("p", "provider:requests")
TOKENS = BucketKey("p", "provider:tokens")


async def test_redis_and_memory_agree_on_every_decision(
    shared: tuple[ManualClock, Factory],
) -> None:
    """One script of reservations, refunds and floors: the same answers from both stores."""
    clock, new = shared
    redis_buckets = new()
    memory = MemoryBuckets(clock=clock)
    requests = Cell(6.0, 10.0, 1.0)
    tokens = Cell(0.01, 6000.0, 900.0)
    steps: list[tuple[str, float]] = [
        *[("reserve", 0.05)] * 12,
        ("advance", 7.0),
        ("refund", 500.0),
        *[("reserve", 0.05)] * 3,
        ("floor", 50.0),
        ("reserve", 30.0),
        ("advance", 61.0),
        *[("reserve", 5.0)] * 4,
    ]
    for step, value in steps:
        if step == "advance":
            clock.advance(value)
            continue
        if step == "refund":
            change = [Adjustment(TOKENS, tokens, -value)]
            await redis_buckets.settle(change)
            await memory.settle(change)
            continue
        if step == "floor":
            change = [Adjustment(KEY, requests, 0.0, value)]
            await redis_buckets.settle(change)
            await memory.settle(change)
            continue
        charges = [Charge(KEY, requests), Charge(TOKENS, tokens)]
        shared_answer = await redis_buckets.reserve(charges, max_wait=value)
        local_answer = await memory.reserve(charges, max_wait=value)
        assert shared_answer.admitted == local_answer.admitted, step
        # Redis time is pinned to within the latency of a call.
        assert shared_answer.wait == pytest.approx(local_answer.wait, abs=0.05)
        assert not shared_answer.local
    assert not redis_buckets.degraded


async def test_a_call_costs_one_round_trip(shared: tuple[ManualClock, Factory]) -> None:
    """Reserve and settle together: the settlement rides with the next reservation."""
    clock, new = shared
    buckets = new()
    config = RateLimitConfig(budget=RateBudget(requests=100, tokens_per_minute=100_000))
    llm = RateLimitedProvider(MockProvider.smart(), config, store=buckets, clock=clock)
    for _ in range(20):
        await llm.ask("hello")
    assert buckets.round_trips == 20
    await buckets.flush()
    assert buckets.round_trips == 21


async def test_stores_in_one_process_share_one_limit(redis_server: RedisServer) -> None:
    """Two limiters on two stores over one Redis: 5 per hour in all, not 10."""
    # The server's own clock (a pinned one may step back by a call's latency jitter).
    prefix = unique_prefix()
    stores = [RedisStore(redis_server.url, prefix=prefix, timeout=2.0) for _ in range(2)]
    config = RateLimitConfig(budget=RateBudget(requests=5, window=3600.0), max_wait=0.0)
    limiters = [
        RateLimitedProvider(MockProvider.smart(name="p"), config, store=RedisBuckets(store))
        for store in stores
    ]
    admitted = 0
    for index in range(20):
        try:
            await limiters[index % 2].ask("hi")
            admitted += 1
        except RateLimited:
            pass
    for store in stores:
        await store.aclose()
    assert admitted == 5


async def test_an_unreachable_redis_falls_back_to_the_local_share(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No Redis: calls are decided on a local share of the limit, logged once."""
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", prefix=unique_prefix())
    buckets = RedisBuckets(store, local_share=0.5)
    config = RateLimitConfig(budget=RateBudget(requests=4, window=3600.0), max_wait=0.0)
    llm = RateLimitedProvider(MockProvider.smart(), config, store=buckets)
    admitted = 0
    with caplog.at_level(logging.WARNING, logger="vex_llm"):
        for _ in range(6):
            try:
                await llm.ask("hi")
                admitted += 1
            except RateLimited:
                pass
    await store.aclose()
    assert admitted == 2  # half of 4
    assert buckets.degraded
    assert buckets.fallbacks == 1
    assert [r.message for r in caplog.records].count("rate_limit_store_fallback") == 1


async def test_keys_share_one_hash_tag_per_provider(
    redis_server: RedisServer,
) -> None:
    """Every bucket of a provider is {prefix:rl:<provider>}:..., and expires when full."""
    import redis.asyncio as redis_asyncio

    prefix = unique_prefix()
    store = RedisStore(redis_server.url, prefix=prefix, timeout=2.0)
    buckets = RedisBuckets(store)
    config = RateLimitConfig(
        budget=RateBudget(requests=10, tokens_per_minute=10_000),
        tiers={"t": RateBudget(requests=10)},
        default_tier="t",
    )
    await RateLimitedProvider(MockProvider.smart(name="prov"), config, store=buckets).ask("x")
    client = redis_asyncio.Redis.from_url(redis_server.url)
    keys = sorted(k.decode() for k in await client.keys(f"{{{prefix}:rl:*"))
    ttls = [await client.pttl(k) for k in keys]
    await client.aclose()
    await store.aclose()
    assert keys == [
        f"{{{prefix}:rl:prov}}:provider:requests",
        f"{{{prefix}:rl:prov}}:provider:tokens",
        f"{{{prefix}:rl:prov}}:tenant::requests",
    ]
    assert all(0 < ttl <= 8_000 for ttl in ttls)


@pytest.mark.timeout(60)
def test_four_processes_sharing_a_limit_of_n_admit_n(redis_server: RedisServer) -> None:
    """K=4 processes, N=12 per hour, 10 calls each at once: exactly 12 pass cluster-wide."""
    settings = {"redis": redis_server.url, "prefix": unique_prefix(), "requests": 12, "calls": 10}
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), json.dumps(settings)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert json.loads(worker.stdout.readline()) == {"ready": True}
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        answers = []
        for worker in workers:
            assert worker.stdout is not None
            answers.append(json.loads(worker.stdout.readline()))
    finally:
        for worker in workers:
            if worker.stdin is not None:
                worker.stdin.close()
            worker.wait(timeout=20)
            if worker.stdout is not None:
                worker.stdout.close()
    assert not any(answer["degraded"] for answer in answers)
    assert sum(answer["admitted"] for answer in answers) == 12


async def test_the_buckets_rejoin_redis_after_an_outage(
    own_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis stops: local share, logged once; back after reconnect_after: shared again."""
    clock = ManualClock()
    store = RedisStore(
        own_redis_server.url,
        prefix=unique_prefix(),
        timeout=0.5,
        reconnect_after=1.0,
        clock=clock,
    )
    buckets = RedisBuckets(store)
    charges = [Charge(KEY, Cell(1.0, 100.0, 1.0))]
    caplog.set_level(logging.INFO, logger="vex_llm")
    assert not (await buckets.reserve(charges, max_wait=0.0)).local
    own_redis_server.stop()
    assert (await buckets.reserve(charges, max_wait=0.0)).local
    assert (await buckets.reserve(charges, max_wait=0.0)).local  # not asked again yet
    assert buckets.degraded
    own_redis_server.start()
    clock.advance(1.0)
    assert not (await buckets.reserve(charges, max_wait=0.0)).local
    assert not buckets.degraded
    messages = [r.message for r in caplog.records]
    assert messages.count("rate_limit_store_fallback") == 1
    assert messages.count("rate_limit_store_rejoined") == 1
    await store.aclose()
