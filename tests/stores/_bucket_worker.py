"""One worker process for the shared rate-limit test: its own RedisStore, RedisBuckets and
RateLimitedProvider over a MockProvider. It says ``ready``, waits for ``go`` on stdin (so
every worker starts at once), makes its calls concurrently and prints how many passed.

Run: python _bucket_worker.py '{"redis": url, "prefix": ..., "requests": N, "calls": M}'
"""

from __future__ import annotations

import asyncio
import json
import sys

from vex_llm import (
    MockProvider,
    RateBudget,
    RateLimitConfig,
    RateLimited,
    RateLimitedProvider,
    RedisBuckets,
    RedisStore,
)


async def main(settings: dict[str, object]) -> None:
    store = RedisStore(str(settings["redis"]), prefix=str(settings["prefix"]), timeout=2.0)
    buckets = RedisBuckets(store)
    budget = RateBudget(requests=int(str(settings["requests"])), window=3600.0)
    llm = RateLimitedProvider(
        MockProvider.smart(name="shared"),
        RateLimitConfig(budget=budget, max_wait=0.0),
        store=buckets,
    )
    print(json.dumps({"ready": True}), flush=True)
    await asyncio.to_thread(sys.stdin.readline)

    async def one() -> int:
        try:
            await llm.ask("hello")
        except RateLimited:
            return 0
        return 1

    results = await asyncio.gather(*(one() for _ in range(int(str(settings["calls"])))))
    await buckets.aclose()
    await store.aclose()
    print(
        json.dumps({"admitted": sum(results), "degraded": buckets.fallbacks > 0}),
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
