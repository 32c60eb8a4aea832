"""One worker process for the multi-process tests: its own RedisStore and breaker in front of
one loopback upstream. Commands arrive as JSON lines on stdin; each answer is one JSON line
on stdout.

Run: python _worker.py '{"redis": url, "upstream": url, "prefix": ..., "config": {...},
"timeout": s, "reconnect_after": s, "record_timeout": s (optional)}'
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from typing import Any

import httpx2

from vex_llm import (
    CircuitBreaker,
    CircuitConfig,
    CircuitOpenError,
    RedisStore,
    ServerError,
    StateChange,
)


async def serve(settings: dict[str, Any]) -> None:
    store = RedisStore(
        settings["redis"],
        prefix=settings["prefix"],
        timeout=settings["timeout"],
        reconnect_after=settings["reconnect_after"],
        record_timeout=settings.get("record_timeout", 1.0),
    )
    breaker = CircuitBreaker(CircuitConfig(**settings["config"]), name="upstream", store=store)
    transitions: list[list[str]] = []

    def note(event: StateChange) -> None:
        transitions.append([event.from_state.value, event.to_state.value])

    breaker.on_state_change(note)
    loop = asyncio.get_running_loop()
    async with httpx2.AsyncClient(timeout=5.0) as http:

        async def fetch() -> int:
            response = await http.get(settings["upstream"])
            if response.status_code >= 500:
                raise ServerError("upstream failed", status=response.status_code)
            return response.status_code

        async def traffic(
            calls: int | None, seconds: float | None, concurrency: int
        ) -> dict[str, Any]:
            counts: Counter[str] = Counter()
            latencies: list[float] = []
            left = [calls or 0]
            deadline = time.monotonic() + (seconds or 0.0)

            async def lane() -> None:
                while True:
                    if calls is not None:
                        if left[0] <= 0:
                            return
                        left[0] -= 1
                    elif time.monotonic() >= deadline:
                        return
                    started = time.perf_counter()
                    try:
                        await breaker.call(fetch)
                        counts["ok"] += 1
                    except CircuitOpenError as exc:
                        counts[f"rejected:{exc.reason}"] += 1
                    except ServerError:
                        counts["failed"] += 1
                    latencies.append(time.perf_counter() - started)
                    if seconds is not None:
                        await asyncio.sleep(0.005)  # steady traffic, not a busy loop

            await asyncio.gather(*(lane() for _ in range(concurrency)))
            seen = transitions[:]
            transitions.clear()
            return {
                "counts": dict(counts),
                "max_latency": max(latencies, default=0.0),
                "transitions": seen,
                "degraded": store.degraded,
            }

        print(json.dumps({"ready": True}), flush=True)
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            command = json.loads(line)
            op = command["op"]
            if op == "quit":
                break
            if op == "burst":
                answer = await traffic(command["calls"], None, command["concurrency"])
            elif op == "run_for":
                answer = await traffic(None, command["seconds"], command["concurrency"])
            elif op == "apply":
                await breaker.apply(command["action"])
                answer = {"state": breaker.state.value}
            else:
                answer = {"error": f"unknown op {op!r}"}
            print(json.dumps(answer), flush=True)
    await store.aclose()


if __name__ == "__main__":
    asyncio.run(serve(json.loads(sys.argv[1])))
