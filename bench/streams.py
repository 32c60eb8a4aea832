"""Benchmark: the cost per streamed chunk through the provider and the full stack.

In-process and without a socket, so only the client's own work is measured: every row
reads the same OpenAI-style SSE body (one event per network read, as a server sends
them) from an ``httpx2.MockTransport``. Rows, interleaved round by round:

  raw httpx2   ``client.stream``, ``aiter_lines``, ``json.loads`` of each ``data:`` line and
              the delta taken out: the least any SSE client must do (the baseline)
  provider    ``OpenAIProvider.stream`` over the same transport
  stack       ``vex_llm.stack([provider]).stream`` with its defaults: deadline, fallback,
              retry, circuit breaker, timeouts and stream guards around the provider

Printed per row: microseconds per chunk (best round), the ratio to raw httpx2, the timer
operations per chunk (``loop.call_at``) and the garbage-collected container allocations
per chunk (from gen-0 collections). Then ``--concurrent`` streams at once through raw
httpx2, through the bare provider and through the stack: process CPU seconds per stream
(best and median round) and the ratios, and how many streams failed in all rounds.

Run: .venv/bin/python bench/streams.py [--chunks N] [--rounds R] [--concurrent C]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx2

import vex_llm
from vex_llm import LlmProvider, LlmRequest, OpenAIProvider

URL = "http://bench.invalid/v1"
MODEL = "bench-model"
REQUEST = LlmRequest.from_prompt("Count to a thousand.")


def sse_events(chunks: int) -> list[bytes]:
    """The events of one streamed answer: ``chunks`` deltas, the finish, usage, [DONE]."""
    head = {"id": "c1", "object": "chat.completion.chunk", "model": MODEL}
    events = []
    for i in range(chunks):
        body = head | {"choices": [{"index": 0, "delta": {"content": f"w{i} "}}]}
        events.append(f"data: {json.dumps(body)}\n\n".encode())
    finish = head | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    usage = head | {
        "choices": [],
        "usage": {"prompt_tokens": 5, "completion_tokens": chunks, "total_tokens": chunks + 5},
    }
    events += [f"data: {json.dumps(tail)}\n\n".encode() for tail in (finish, usage)]
    events.append(b"data: [DONE]\n\n")
    return events


def sse_provider(events: list[bytes]) -> OpenAIProvider:
    """An ``OpenAIProvider`` whose client answers from the in-process transport."""
    client = httpx2.AsyncClient(transport=transport(events))
    return OpenAIProvider(MODEL, base_url=URL, api_key="sk-bench", client=client)


def transport(events: list[bytes]) -> httpx2.MockTransport:
    """A transport that answers every request with the SSE body, one event per read."""

    async def body() -> AsyncIterator[bytes]:
        for event in events:
            yield event

    def handle(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    return httpx2.MockTransport(handle)


async def raw_stream(client: httpx2.AsyncClient) -> int:
    """Read one stream the way a minimal client would; return the number of deltas."""
    payload = {"model": MODEL, "stream": True, "messages": [{"role": "user", "content": "x"}]}
    deltas = 0
    async with client.stream("POST", f"{URL}/chat/completions", json=payload) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choices = json.loads(line[6:])["choices"]
            if choices and choices[0]["delta"].get("content"):
                deltas += 1
    return deltas


async def provider_stream(provider: LlmProvider) -> int:
    """Read one stream through a vex-llm provider; return the number of chunks."""
    chunks = 0
    async for _ in provider.stream(REQUEST):
        chunks += 1
    return chunks


class Counters:
    """Timer operations and gen-0 collections while a row runs."""

    def __init__(self) -> None:
        self.timers = 0
        self.collections = 0

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 0:
            self.collections += 1


async def timed(run: Callable[[], Awaitable[int]], counters: Counters) -> tuple[float, int]:
    """Seconds and chunks of one run, counting the loop's timer operations and GC passes."""
    loop = asyncio.get_running_loop()
    call_at = loop.call_at

    def counting_call_at(*args: object, **kwargs: object) -> asyncio.TimerHandle:
        counters.timers += 1
        return call_at(*args, **kwargs)  # type: ignore[arg-type]  # forwarded as received

    loop.call_at = counting_call_at  # type: ignore[method-assign]  # a bench-only probe
    gc.callbacks.append(counters.on_gc)
    try:
        started = time.perf_counter()
        chunks = await run()
        return time.perf_counter() - started, chunks
    finally:
        gc.callbacks.remove(counters.on_gc)
        del loop.call_at


async def per_chunk(args: argparse.Namespace) -> None:
    """The per-chunk table."""
    events = sse_events(args.chunks)
    raw_client = httpx2.AsyncClient(transport=transport(events))
    provider = sse_provider(events)
    stack = vex_llm.stack([sse_provider(events)])
    rows: dict[str, Callable[[], Awaitable[int]]] = {
        "raw httpx2": lambda: raw_stream(raw_client),
        "provider": lambda: provider_stream(provider),
        "stack": lambda: provider_stream(stack),
    }
    best = dict.fromkeys(rows, float("inf"))
    counts = {name: Counters() for name in rows}
    chunks_seen = dict.fromkeys(rows, 0)
    threshold = gc.get_threshold()[0]
    for _ in range(args.rounds):
        for name, run in rows.items():
            counters = Counters()
            seconds, chunks = await timed(run, counters)
            chunks_seen[name] = chunks
            if seconds < best[name]:
                best[name] = seconds
                counts[name] = counters
    base = best["raw httpx2"] / args.chunks
    print(f"{args.chunks} chunks per stream, best of {args.rounds} rounds, no socket")
    print(f"{'row':<12}{'µs/chunk':>10}{'x raw':>8}{'timers/chunk':>14}{'allocs/chunk':>14}")
    for name in rows:
        us = best[name] / args.chunks * 1e6
        ratio = best[name] / args.chunks / base
        timers = counts[name].timers / args.chunks
        allocs = counts[name].collections * threshold / args.chunks
        print(f"{name:<12}{us:>10.2f}{ratio:>8.2f}{timers:>14.2f}{allocs:>14.1f}")
    assert chunks_seen["provider"] >= args.chunks, chunks_seen
    await stack.aclose()
    await provider.aclose()
    await raw_client.aclose()


async def concurrent(args: argparse.Namespace) -> None:
    """CPU per stream with many streams at once, raw httpx2 vs the stack (default settings)."""
    events = sse_events(args.concurrent_chunks)
    raw_client = httpx2.AsyncClient(transport=transport(events))
    provider = sse_provider(events)
    stack = vex_llm.stack([sse_provider(events)])

    async def run_all(one: Callable[[], Awaitable[int]]) -> tuple[float, int]:
        started = time.process_time()
        runs = (one() for _ in range(args.concurrent))
        results = await asyncio.gather(*runs, return_exceptions=True)
        failed = sum(isinstance(r, BaseException) for r in results)
        return time.process_time() - started, failed

    rows: dict[str, Callable[[], Awaitable[int]]] = {
        "raw httpx2": lambda: raw_stream(raw_client),
        "provider": lambda: provider_stream(provider),
        "stack": lambda: provider_stream(stack),
    }
    cpus: dict[str, list[float]] = {name: [] for name in rows}
    failed = dict.fromkeys(rows, 0)
    for _ in range(args.rounds):
        for name, one in rows.items():  # interleaved, so drift hits every row alike
            cpu, failures = await run_all(one)
            cpus[name].append(cpu)
            failed[name] += failures
    n = args.concurrent
    chunks = args.concurrent_chunks
    # The machine is shared: the best round is the least disturbed, the median the typical.
    best = {name: min(values) for name, values in cpus.items()}
    middle = {name: statistics.median(values) for name, values in cpus.items()}
    print(f"\n{n} concurrent streams of {chunks} chunks, {args.rounds} rounds (best, median)")
    print(f"{'row':<12}{'CPU ms/stream':>15}{'x raw':>8}{'median ms':>11}{'x raw':>8}{'failed':>8}")
    for name in rows:
        ratio = best[name] / best["raw httpx2"]
        median_ratio = middle[name] / middle["raw httpx2"]
        print(
            f"{name:<12}{best[name] / n * 1e3:>15.3f}{ratio:>8.2f}"
            f"{middle[name] / n * 1e3:>11.3f}{median_ratio:>8.2f}{failed[name]:>8}"
        )
    await stack.aclose()
    await provider.aclose()
    await raw_client.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--concurrent", type=int, default=1000)
    parser.add_argument("--concurrent-chunks", type=int, default=20)
    args = parser.parse_args()
    await per_chunk(args)
    await concurrent(args)


if __name__ == "__main__":
    asyncio.run(main())
