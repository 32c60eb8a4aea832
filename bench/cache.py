"""Benchmark: what a cache hit costs through ``stack()``, and single flight at 1,000 callers.

Rows (microseconds per call, best of several interleaved rounds; each round makes a new
``LlmRequest`` per call, as an application does, so the key is computed every time):
  (a) a bare ``MockProvider.complete`` (the baseline)
  (b) ``stack([mock], cache=CacheConfig())``: an in-memory hit through the whole stack
  (c) the key alone (``CachedProvider.key``)
  (d) (optional, ``--redis URL``) a hit from a ``RedisCache`` through the stack

Target: (b) costs at most 5 us more than (a). Then 1,000 concurrent identical requests on
an empty cache in front of a provider that takes 10 ms: exactly 1 upstream call.

Run: .venv/bin/python bench/cache.py [--calls N] [--rounds R] [--redis URL]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections.abc import Awaitable, Callable

from vex_llm import (
    CacheConfig,
    LlmProvider,
    LlmRequest,
    MockProvider,
    RedisCache,
    stack,
)

PROMPT = "What is a circuit breaker, in two sentences?"


def requests(calls: int) -> list[LlmRequest]:
    """A new request object per call (equal, not identical)."""
    return [LlmRequest.from_prompt(PROMPT, system="Be brief.", model="m-1") for _ in range(calls)]


async def per_call(call: Callable[[LlmRequest], Awaitable[object]], calls: int) -> float:
    """Microseconds per call over ``calls`` fresh requests."""
    batch = requests(calls)
    gc.collect()
    started = time.perf_counter()
    for request in batch:
        await call(request)
    return (time.perf_counter() - started) / calls * 1e6


async def key_call(provider: LlmProvider, calls: int) -> float:
    """Microseconds per key computation."""
    batch = requests(calls)
    cache = stack([provider], cache=CacheConfig()).cache
    assert cache is not None
    started = time.perf_counter()
    for request in batch:
        cache.key(request)
    return (time.perf_counter() - started) / calls * 1e6


async def rows(calls: int, rounds: int, redis_url: str | None) -> dict[str, float]:
    """Best per-call time of each row over interleaved rounds."""
    mock = MockProvider.smart()
    cached = stack([MockProvider.smart()], cache=CacheConfig())
    await cached.complete(requests(1)[0])  # the one miss: every call below is a hit
    shared = None
    store = None
    if redis_url is not None:
        store = RedisCache(redis_url, prefix="vex-bench", timeout=1.0)
        shared = stack([MockProvider.smart()], cache=CacheConfig(store=store))
        await shared.complete(requests(1)[0])
    best: dict[str, float] = {}

    def note(name: str, value: float) -> None:
        best[name] = min(best.get(name, float("inf")), value)

    for _ in range(rounds):
        note("(a) bare MockProvider.complete", await per_call(mock.complete, calls))
        note("(b) stack(cache=...) in-memory hit", await per_call(cached.complete, calls))
        note("(c) the key alone", await key_call(mock, calls))
        if shared is not None:
            note("(d) stack(cache=RedisCache) hit", await per_call(shared.complete, calls // 10))
    if store is not None:
        await store.aclose()
    return best


async def single_flight(callers: int) -> tuple[int, int, float]:
    """Upstream calls, answers and seconds for ``callers`` identical requests at once."""
    mock = MockProvider(latency=0.01)
    cached = stack([mock], cache=CacheConfig())
    started = time.perf_counter()
    answers = await asyncio.gather(*(cached.complete(r) for r in requests(callers)))
    return mock.calls, len(answers), time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis", default=None, help="a Redis URL for row (d)")
    args = parser.parse_args()
    print(f"calls per round: {args.calls}, rounds: {args.rounds} (best round reported)")
    best = await rows(args.calls, args.rounds, args.redis)
    base = best["(a) bare MockProvider.complete"]
    print(f"\n  {'':40} {'us/call':>10} {'x bare':>9}")
    for name, value in best.items():
        print(f"  {name:40} {value:10.2f} {value / base:9.2f}")
    upstream, answered, seconds = await single_flight(1000)
    print(f"\nSingle flight: 1,000 concurrent identical requests -> {upstream} upstream call(s),")
    print(f"  {answered} answers in {seconds * 1000:.1f} ms")
    extra = best["(b) stack(cache=...) in-memory hit"] - base
    print("\nTargets")
    print(f"  in-memory hit    {extra:+.2f} us vs bare MockProvider (target <= +5.00)")
    print(f"  single flight    {upstream} upstream call (target exactly 1)")


if __name__ == "__main__":
    asyncio.run(main())
