"""Benchmark: what OpenAIProvider adds per call over raw httpx2, against the same local server.

One run, one FakeLLMServer on 127.0.0.1 (in a child process, so the server does not
compete with the client for the interpreter), sequential calls over keep-alive
connections. Rows, each with its own connection pool, interleaved round by round:

  raw httpx2       json.dumps the payload, ``client.post``, json.loads, take the content:
                  the least any client must do (the baseline)
  OpenAIProvider  ``OpenAIProvider.complete``
  Resilient(...)  ``ResilientProvider(OpenAIProvider).complete`` (circuit breaker around it)
  openai SDK      ``AsyncOpenAI(max_retries=0).chat.completions.create`` (if installed:
                  ``pip install -e '.[bench]'``)

Printed: median and p99 per call, and each row's overhead over raw httpx2 (median and p99).

Run: .venv/bin/python bench/providers.py [--calls N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import multiprocessing
import statistics
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection

import httpx2

from vex_llm import LlmRequest, OpenAIProvider
from vex_llm.testing import FakeLLMServer

Call = Callable[[], Awaitable[str]]

PROMPT = "Summarise the benefits of circuit breakers in two sentences."
MODEL = "bench-model"


def serve(pipe: Connection) -> None:
    """Child process: run a FakeLLMServer until the parent says stop."""
    with FakeLLMServer(seed=0) as server:
        pipe.send(server.base_url)
        pipe.recv()


async def measure(call: Call, count: int) -> list[float]:
    """Per-call seconds of ``count`` sequential calls."""
    timings: list[float] = []
    clock = time.perf_counter
    for _ in range(count):
        started = clock()
        await call()
        timings.append(clock() - started)
    return timings


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def run(base_url: str, calls: int, rounds: int) -> None:
    payload = {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}]}
    url = base_url + "/chat/completions"
    headers = {"content-type": "application/json", "authorization": "Bearer bench"}
    request = LlmRequest.from_prompt(PROMPT)

    raw_client = httpx2.AsyncClient()

    async def raw() -> str:
        response = await raw_client.post(url, content=json.dumps(payload).encode(), headers=headers)
        content: str = json.loads(response.content)["choices"][0]["message"]["content"]
        return content

    provider = OpenAIProvider(MODEL, base_url=base_url, api_key="bench")

    async def ours() -> str:
        return (await provider.complete(request)).content

    rows: dict[str, Call] = {"raw httpx2": raw, "OpenAIProvider": ours}
    closers: list[Callable[[], Awaitable[None]]] = [raw_client.aclose, provider.aclose]

    try:
        from vex_llm import ResilientProvider
    except ImportError:
        print("(ResilientProvider not available: row skipped)")
    else:
        inner = OpenAIProvider(MODEL, base_url=base_url, api_key="bench")
        resilient = ResilientProvider(inner)

        async def wrapped() -> str:
            return (await resilient.complete(request)).content

        rows["ResilientProvider(OpenAI)"] = wrapped
        closers.append(resilient.aclose)

    if importlib.util.find_spec("openai") is not None:
        from openai import AsyncOpenAI

        sdk = AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)

        async def official() -> str:
            completion = await sdk.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": PROMPT}]
            )
            return completion.choices[0].message.content or ""

        rows["openai SDK (max_retries=0)"] = official
        closers.append(sdk.close)
    else:
        print("(openai SDK not installed: row skipped; pip install -e '.[bench]')")

    try:
        for call in rows.values():  # warm up: connections, caches, first-call imports
            await measure(call, 200)
        timings: dict[str, list[float]] = {name: [] for name in rows}
        per_round = max(1, calls // rounds)
        for _ in range(rounds):
            for name, call in rows.items():
                timings[name] += await measure(call, per_round)
    finally:
        for close in closers:
            await close()

    base_median = statistics.median(timings["raw httpx2"])
    base_p99 = p99(timings["raw httpx2"])
    print(f"{per_round * rounds} calls per row, {rounds} interleaved rounds, server in a child")
    header = f"{'row':<28} {'median µs':>10} {'p99 µs':>10} {'+median µs':>11} {'+p99 µs':>9}"
    print(header)
    print("-" * len(header))
    for name, values in timings.items():
        median, tail = statistics.median(values), p99(values)
        print(
            f"{name:<28} {median * 1e6:>10.0f} {tail * 1e6:>10.0f} "
            f"{(median - base_median) * 1e6:>+11.0f} {(tail - base_p99) * 1e6:>+9.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000, help="calls per row (default 3000)")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds (default 10)")
    args = parser.parse_args()
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(child,), daemon=True)
    server.start()
    try:
        if not parent.poll(30):
            raise SystemExit("the fake server did not start in 30 s")
        base_url: str = parent.recv()
        asyncio.run(run(base_url, max(1, args.calls), max(1, args.rounds)))
    finally:
        parent.send("stop")
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()


if __name__ == "__main__":
    main()
