"""Benchmark: what a rate limiter costs per call, against the closed-state breaker in one run.

Rows (per-call time, best of several interleaved rounds), over a provider that returns one
constant answer (so the wrappers' own cost is not lost in a mock's work):
  (a) the bare provider
  (b) ``ResilientProvider.complete`` over it (the closed-state breaker call)
  (c) ``RateLimitedProvider.complete`` over it with a requests budget only (one bucket: the
      admission alone, no token estimate and no settlement)
  (d) with a requests and a tokens budget (two buckets; the prompt's estimate reserved and
      settled with the usage), budgets large enough never to wait
  (e) the same with a tenant tier as well (four buckets per call)
The target: (c - a) <= 1.5 x (b - a), the limiter's overhead against the breaker's.

Then, over a redis-server of its own (loopback): RedisBuckets per-call time and Redis round
trips per call, counted by the store and by the server (INFO commandstats): the target is one
(settlements ride with the next reservation).

Run: .venv/bin/python bench/ratelimit.py [--calls N] [--rounds R] [--redis-calls N]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import redis.asyncio as redis_asyncio

from vex_llm import (
    LlmProvider,
    LlmRequest,
    LlmResponse,
    MockProvider,
    RateBudget,
    RateLimitConfig,
    RateLimitedProvider,
    RedisBuckets,
    RedisStore,
    ResilientProvider,
    Usage,
    tenant,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _redis_server import RedisServer


class Constant(LlmProvider):
    """Answers every request with the same response, at once."""

    name = "constant"

    async def complete(self, request: LlmRequest) -> LlmResponse:
        return ANSWER


ANSWER = LlmResponse("hi", usage=Usage.of(12, 4))
BIG = RateBudget(requests=1_000_000_000, window=1.0, tokens_per_minute=1_000_000_000)
REQUEST = LlmRequest.from_prompt("hello there, how are you?", max_tokens=64)


async def per_call(call: Callable[[], Awaitable[object]], calls: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(calls):
        await call()
    return (time.perf_counter_ns() - start) / calls


def rows() -> dict[str, Callable[[], Awaitable[object]]]:
    mock = Constant()
    breaker = ResilientProvider(Constant())
    requests = RateLimitedProvider(
        Constant(), RateLimitConfig(budget=RateBudget(requests=1_000_000_000, window=1.0))
    )
    limited = RateLimitedProvider(Constant(), RateLimitConfig(budget=BIG))
    tiered = RateLimitedProvider(
        Constant(),
        RateLimitConfig(budget=BIG, tiers={"pro": BIG}, tenants={"acme": "pro"}),
    )

    async def with_tenant() -> object:
        with tenant("acme"):
            return await tiered.complete(REQUEST)

    def of(provider: LlmProvider) -> Callable[[], Awaitable[object]]:
        return lambda: provider.complete(REQUEST)

    return {
        "(a) bare provider": of(mock),
        "(b) ResilientProvider (closed breaker)": of(breaker),
        "(c) RateLimitedProvider (requests: 1 bucket)": of(requests),
        "(d) RateLimitedProvider (requests+tokens)": of(limited),
        "(e) RateLimitedProvider + tenant (4 buckets)": with_tenant,
    }


async def in_process(calls: int, rounds: int) -> None:
    bodies = rows()
    best = dict.fromkeys(bodies, float("inf"))
    for body in bodies.values():
        await per_call(body, calls // 10)  # warm up
    for _ in range(rounds):
        for name, body in bodies.items():
            best[name] = min(best[name], await per_call(body, calls))
    bare = best["(a) bare provider"]
    breaker = best["(b) ResilientProvider (closed breaker)"] - bare
    print(f"in-process, best of {rounds} rounds of {calls} calls")
    for name, value in best.items():
        extra = value - bare
        ratio = f"{extra / breaker:5.2f}x breaker overhead" if name[1] in "cde" else ""
        print(f"  {name:<46} {value:9.0f} ns/call  +{extra:7.0f} ns  {ratio}")
    limiter = best["(c) RateLimitedProvider (requests: 1 bucket)"] - bare
    verdict = "meets" if limiter <= 1.5 * breaker else "MISSES"
    print(f"  limiter overhead / breaker overhead = {limiter / breaker:.2f} ({verdict} <= 1.5)")


async def evalsha_calls(client: redis_asyncio.Redis) -> int:
    stats = await client.info("commandstats")
    entry = stats.get("cmdstat_evalsha", {})
    return int(entry.get("calls", 0)) if isinstance(entry, dict) else 0


async def over_redis(calls: int) -> None:
    server = RedisServer()
    server.start()
    try:
        store = RedisStore(server.url, prefix=f"b{uuid.uuid4().hex[:8]}", timeout=1.0)
        buckets = RedisBuckets(store)
        limited = RateLimitedProvider(
            MockProvider.smart(), RateLimitConfig(budget=BIG), store=buckets
        )
        client = redis_asyncio.Redis.from_url(server.url)
        for _ in range(20):
            await limited.complete(REQUEST)  # warm up: connection and scripts
        trips, scripts = buckets.round_trips, await evalsha_calls(client)
        ping = await per_call(client.ping, calls)
        elapsed = await per_call(lambda: limited.complete(REQUEST), calls)
        trips = buckets.round_trips - trips
        scripts = await evalsha_calls(client) - scripts
        await buckets.aclose()
        await client.aclose()
        await store.aclose()
    finally:
        server.close()
    print(f"over Redis (loopback), {calls} calls")
    print(f"  one bare PING                {ping / 1000:8.1f} us")
    print(f"  RateLimitedProvider.complete {elapsed / 1000:8.1f} us/call")
    print(f"  round trips per call         {trips / calls:8.2f} (store count)")
    print(f"  scripts per call             {scripts / calls:8.2f} (server: reserve + settle)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis-calls", type=int, default=2_000)
    args = parser.parse_args()
    await in_process(args.calls, args.rounds)
    await over_redis(args.redis_calls)


if __name__ == "__main__":
    asyncio.run(main())
