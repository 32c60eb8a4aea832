"""One process of the shared-cache tests: a CachedProvider over a MockProvider and a
RedisCache. It asks its prompts, then prints one JSON line: how many calls reached its
own provider, the answers and the cache's stats.

Run: python _cache_worker.py '{"redis": url, "prefix": ..., "prompts": [...],
"tenant": name or null}'
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import sys
from typing import Any

from vex_llm import CacheConfig, CachedProvider, MockProvider, RedisCache, tenant


async def main(settings: dict[str, Any]) -> None:
    mock = MockProvider.smart()
    async with RedisCache(settings["redis"], prefix=settings["prefix"], timeout=2.0) as store:
        cache = CachedProvider(mock, CacheConfig(store=store))
        scope = tenant(settings["tenant"]) if settings.get("tenant") else contextlib.nullcontext()
        with scope:
            answers = [(await cache.ask(prompt)) for prompt in settings["prompts"]]
        report = {
            "calls": mock.calls,
            "answers": answers,
            "stats": dataclasses.asdict(cache.stats()),
            "degraded": store.degraded,
        }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
