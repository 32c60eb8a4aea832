"""Benchmark: what a circuit breaker costs per call, against a floor measured in the same run.

Rows (per-call time, best of several interleaved rounds, and the ratio to row (b)):
  (a) a bare ``await f()``
  (b) a minimal hand-written breaker: a state check and a counter around the await,
      the floor for any breaker
  (c) ``CircuitBreaker.call``, and the decorator form (``@breaker`` on an async function)
  (d) ``ResilientProvider.complete`` over ``MockProvider`` vs bare ``MockProvider.complete``
  (e) peers: pybreaker (sync only: its async path needs tornado), aiobreaker,
      circuitbreaker, purgatory (whichever are installed: ``pip install -e '.[bench]'``)
Then the open-state rejection cost, and bytes per idle breaker (tracemalloc, 10,000): with
the default config, and each with a config of its own (``CircuitConfig(failure_threshold=3)``).

Run: .venv/bin/python bench/breaker.py [--calls N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.util
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from vex_llm import (
    CircuitBreaker,
    CircuitConfig,
    LlmRequest,
    MockProvider,
    ResilientProvider,
)

AsyncBody = Callable[[], Awaitable[object]]


async def target() -> int:
    return 1


def sync_target() -> int:
    return 1


class Open(Exception):
    pass


class MinimalBreaker:
    """The floor: a state and a failure counter checked around the await.

    It forwards arguments like any usable breaker must (``call(fn, *args, **kwargs)``).
    """

    def __init__(self, threshold: int = 5) -> None:
        self.state = 0
        self.failures = 0
        self.threshold = threshold

    async def call(self, fn: Callable[..., Awaitable[int]], *args: Any, **kwargs: Any) -> int:
        if self.state == 1:
            raise Open
        try:
            result = await fn(*args, **kwargs)
        except Exception:
            self.failures += 1
            if self.failures >= self.threshold:
                self.state = 1
            raise
        self.failures = 0
        return result

    def call_sync(self, fn: Callable[..., int], *args: Any, **kwargs: Any) -> int:
        if self.state == 1:
            raise Open
        try:
            result = fn(*args, **kwargs)
        except Exception:
            self.failures += 1
            if self.failures >= self.threshold:
                self.state = 1
            raise
        self.failures = 0
        return result


async def time_async(body: AsyncBody, calls: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(calls):
        await body()
    return (time.perf_counter_ns() - start) / calls


async def time_async_rejections(body: AsyncBody, calls: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(calls):
        with contextlib.suppress(Exception):
            await body()
    return (time.perf_counter_ns() - start) / calls


def time_sync(body: Callable[[], object], calls: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(calls):
        body()
    return (time.perf_counter_ns() - start) / calls


def has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


async def build_async_rows() -> dict[str, AsyncBody]:
    minimal = MinimalBreaker()
    ours = CircuitBreaker()
    decorated = CircuitBreaker()(target)
    mock = MockProvider.smart()
    resilient = ResilientProvider(MockProvider.smart())
    request = LlmRequest.from_prompt("hello")
    rows: dict[str, AsyncBody] = {
        "(a) bare await f()": target,
        "(b) minimal breaker": lambda: minimal.call(target),
        "(c) CircuitBreaker.call": lambda: ours.call(target),
        "(c) @breaker async def": decorated,
        "(d) MockProvider.complete (bare)": lambda: mock.complete(request),
        "(d) ResilientProvider.complete": lambda: resilient.complete(request),
    }
    if has("aiobreaker"):
        import aiobreaker

        aio = aiobreaker.CircuitBreaker(fail_max=5, timeout_duration=timedelta(seconds=30))
        rows["(e) aiobreaker"] = lambda: aio.call_async(target)
    if has("circuitbreaker"):
        import circuitbreaker

        decorated = circuitbreaker.circuit(failure_threshold=5, recovery_timeout=30)(target)
        rows["(e) circuitbreaker"] = decorated
    if has("purgatory"):
        import purgatory

        factory = purgatory.AsyncCircuitBreakerFactory(default_threshold=5, default_ttl=30)
        await factory.initialize()
        guarded = factory(circuit="bench")(target)
        rows["(e) purgatory"] = guarded
    return rows


def build_sync_rows() -> dict[str, Callable[[], object]]:
    minimal = MinimalBreaker()
    ours = CircuitBreaker()
    rows: dict[str, Callable[[], object]] = {
        "(a) bare f()": sync_target,
        "(b) minimal breaker (sync)": lambda: minimal.call_sync(sync_target),
        "(c) CircuitBreaker.call_sync": lambda: ours.call_sync(sync_target),
    }
    if has("pybreaker"):
        import pybreaker

        py = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30)
        rows["(e) pybreaker"] = lambda: py.call(sync_target)
    return rows


async def failing() -> int:
    raise ConnectionError("down")


async def build_rejection_rows() -> dict[str, AsyncBody]:
    minimal = MinimalBreaker()
    ours = CircuitBreaker(CircuitConfig(reset_timeout=3600.0))
    for _ in range(5):
        with contextlib.suppress(Exception):
            await minimal.call(failing)
        with contextlib.suppress(Exception):
            await ours.call(failing)
    assert minimal.state == 1
    assert ours.is_open()
    rows: dict[str, AsyncBody] = {
        "(b) minimal breaker, open": lambda: minimal.call(target),
        "(c) CircuitBreaker.call, open": lambda: ours.call(target),
    }
    if has("aiobreaker"):
        import aiobreaker

        aio = aiobreaker.CircuitBreaker(fail_max=5, timeout_duration=timedelta(hours=1))
        for _ in range(5):
            with contextlib.suppress(Exception):
                await aio.call_async(failing)
        rows["(e) aiobreaker, open"] = lambda: aio.call_async(target)
    if has("circuitbreaker"):
        import circuitbreaker

        cb = circuitbreaker.CircuitBreaker(failure_threshold=5, recovery_timeout=3600)
        bad = cb(failing)
        for _ in range(5):
            with contextlib.suppress(Exception):
                await bad()
        rows["(e) circuitbreaker, open"] = cb(target)
    return rows


def idle_bytes(factory: Callable[[], object], count: int = 10_000) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    keep = [factory() for _ in range(count)]
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    total = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    # The list holding them costs 8 bytes a slot: not part of a breaker.
    del keep
    return total / count - 8


def memory_rows() -> dict[str, Callable[[], object]]:
    rows: dict[str, Callable[[], object]] = {
        "(b) minimal breaker": MinimalBreaker,
        "(c) CircuitBreaker()": CircuitBreaker,
        "(c) CircuitBreaker(own config)": lambda: CircuitBreaker(
            CircuitConfig(failure_threshold=3)
        ),
    }
    if has("pybreaker"):
        import pybreaker

        rows["(e) pybreaker"] = pybreaker.CircuitBreaker
    if has("aiobreaker"):
        import aiobreaker

        rows["(e) aiobreaker"] = aiobreaker.CircuitBreaker
    if has("circuitbreaker"):
        import circuitbreaker

        rows["(e) circuitbreaker"] = circuitbreaker.CircuitBreaker
    return rows


def table(title: str, results: dict[str, float], floor_key: str, unit: str = "ns/call") -> None:
    floor = results[floor_key]
    print(f"\n{title}")
    print(f"  {'':40} {unit:>10} {'x floor':>9}")
    for name, value in results.items():
        print(f"  {name:40} {value:10.0f} {value / floor:9.2f}")


async def measure_async(
    rows: dict[str, AsyncBody],
    calls: int,
    rounds: int,
    timer: Callable[[AsyncBody, int], Awaitable[float]],
) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in rows}
    for body in rows.values():  # warm-up
        await timer(body, max(1, calls // 10))
    for _ in range(rounds):
        for name, body in rows.items():  # interleaved, so drift hits every row alike
            samples[name].append(await timer(body, calls))
    return {name: min(values) for name, values in samples.items()}


def measure_sync(
    rows: dict[str, Callable[[], object]], calls: int, rounds: int
) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(rounds):
        for name, body in rows.items():
            samples[name].append(time_sync(body, calls))
    return {name: min(values) for name, values in samples.items()}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(f"calls per round: {args.calls}, rounds: {args.rounds} (best round reported)")

    closed = await measure_async(await build_async_rows(), args.calls, args.rounds, time_async)
    table("Closed state, async (ratio to the minimal breaker b)", closed, "(b) minimal breaker")
    bare_mock = closed["(d) MockProvider.complete (bare)"]
    print(
        f"  ResilientProvider over MockProvider adds "
        f"{closed['(d) ResilientProvider.complete'] - bare_mock:.0f} ns/call "
        f"({closed['(d) ResilientProvider.complete'] / bare_mock:.2f}x bare MockProvider)"
    )

    sync = measure_sync(build_sync_rows(), args.calls, args.rounds)
    table(
        "Closed state, sync (ratio to the minimal sync breaker b)",
        sync,
        "(b) minimal breaker (sync)",
    )

    rejected = await measure_async(
        await build_rejection_rows(), args.calls, args.rounds, time_async_rejections
    )
    table(
        "Open state: rejection cost (ratio to the minimal breaker's rejection)",
        rejected,
        "(b) minimal breaker, open",
    )

    memory = {name: idle_bytes(factory) for name, factory in memory_rows().items()}
    print("\nBytes per idle breaker (tracemalloc over 10,000)")
    for name, value in memory.items():
        print(f"  {name:40} {value:10.0f}")

    c_ratio = closed["(c) CircuitBreaker.call"] / closed["(b) minimal breaker"]
    d_ratio = closed["(c) @breaker async def"] / closed["(b) minimal breaker"]
    peers = [v / closed["(b) minimal breaker"] for k, v in closed.items() if k.startswith("(e)")]
    r_ratio = rejected["(c) CircuitBreaker.call, open"] / rejected["(b) minimal breaker, open"]
    print("\nTargets")
    print(
        f"  closed overhead  {c_ratio:.2f}x minimal (target <= 1.30)"
        + (f"; peers {min(peers):.2f}x..{max(peers):.2f}x" if peers else "")
    )
    print(f"  decorator        {d_ratio:.2f}x minimal (target <= 1.30)")
    print(f"  open rejection   {r_ratio:.2f}x minimal (target <= 1.30)")
    print(f"  idle breaker     {memory['(c) CircuitBreaker()']:.0f} bytes (target <= 200)")
    own = memory["(c) CircuitBreaker(own config)"]
    print(f"  idle, own config {own:.0f} bytes (target <= 200)")


if __name__ == "__main__":
    asyncio.run(main())
