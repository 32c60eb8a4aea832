"""Benchmark: what the exporters add per call and per chunk, against nothing installed.

Rows (process CPU time of interleaved rounds, same process, same stack; the median and the
best round are printed: on a shared machine the median is the figure to quote, the best
one bounds it from below):
  off         nothing installed (the stack hands back its usual path)
  seam        a no-op ``Observer`` installed: what the seam itself costs
  metrics     ``vex_llm.metrics.install()`` on a registry of its own
  otel-api    ``vex_llm.tracing.install()`` on the API's no-op providers
  otel-sdk    ``vex_llm.tracing.install()`` on SDK providers with an in-memory span exporter
              and metric reader (only when opentelemetry-sdk is installed)

Per non-streamed call: ``stack([MockProvider.smart()]).complete`` (no deadline, so no timer).
Per chunk: ``stack([OpenAIProvider]).stream`` over an in-process SSE transport (as
``bench/streams.py``), its cost per chunk. The added cost is the row minus ``off``.

Run: .venv/bin/python bench/observe.py [--calls N] [--chunks N] [--rounds R] [--rows a,b]

Recorded (#14 cost; shared 2-core machine, ``--rows seam,metrics``, three interleaved runs
of the code before and after, added µs as median / best round):
  per call   metrics  before 35.4 32.5 36.4 / 28.9 24.1 24.3   after 20.2 17.3 15.7 / 13.7 14.9 14.6
             seam     before 25.8 21.0 20.7 / 14.4 14.0 17.5   after 15.7 17.0 13.5 /  8.9  9.5  8.7
  per chunk  metrics  before 1.83 2.75 3.81 / 2.29 2.46 2.37   after 1.64 1.19 0.92 / 0.73 1.02 0.36
Python opcodes added (deterministic, sys.settrace): per call, seam 587 -> 405 and metrics
1182 -> 632; per chunk, seam 54 -> 41 and metrics 214 -> 73. Prometheus' own share is
now ~4 µs a call and ~0.3 µs a chunk; the rest is the seam (a Call and an Attempt per
call, two coroutine frames, context-variable sets), which keeps the per-call figure above
the issue's 10 µs.

Recorded (#14 seam folded into ``ResilienceStack.complete`` and ``ResilientProvider.complete``,
no coroutine of its own around either, the stack's name cached; base = the tree before, run
with PYTHONPATH; two interleaved runs of ``--rows seam,metrics --rounds 101 --chunks 200``,
added µs per call as median / best round):
  seam     before 14.5 12.1 / 8.7 8.5     after 10.0 10.7 / 8.7 7.9
  metrics  before 20.1 18.6 / 13.8 13.5   after 15.8 17.2 / 15.3 13.5
Opcodes added per call: seam 405 -> 349, metrics 632 -> 576; nothing installed, 2095 both.
On this shared machine the gain (~1-2 µs of median) is within the noise of the best rounds;
the metrics row stays above 10 µs: what is left is the records themselves (a ``Call`` and an
``Attempt``, ~90 opcodes), one context-variable set, and Prometheus' own hooks (~200 opcodes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import statistics
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry

import vex_llm
import vex_llm.metrics
import vex_llm.tracing
from streams import provider_stream, sse_events, sse_provider
from vex_llm import LlmRequest, MockProvider
from vex_llm._observe import Observer, observe

REQUEST = LlmRequest.from_prompt("hello")


def installers(only: str) -> dict[str, Callable[[], contextlib.AbstractContextManager[object]]]:
    """Each row's way to install its exporter for one round (``only``: comma-separated
    row names, ``off`` always included; empty for all)."""
    rows: dict[str, Callable[[], contextlib.AbstractContextManager[object]]] = {
        "off": contextlib.nullcontext,
        "seam": lambda: observe(Observer()),
        "metrics": lambda: vex_llm.metrics.install(CollectorRegistry()),
        "otel-api": vex_llm.tracing.install,
    }
    if importlib.util.find_spec("opentelemetry.sdk") is not None:
        rows["otel-sdk"] = otel_sdk
    if only:
        wanted = {"off", *only.split(",")}
        rows = {name: install for name, install in rows.items() if name in wanted}
    return rows


def report(title: str, unit: str, spent: dict[str, list[float]]) -> None:
    """Median and best per row, and each minus ``off`` (microseconds)."""
    print(title)
    print(f"{'row':<12}{'median ' + unit:>16}{'added':>10}{'best':>10}{'added':>10}")
    off_median, off_best = statistics.median(spent["off"]), min(spent["off"])
    for name, rounds in spent.items():
        median, best = statistics.median(rounds), min(rounds)
        print(
            f"{name:<12}{median * 1e6:>16.3f}{(median - off_median) * 1e6:>10.3f}"
            f"{best * 1e6:>10.3f}{(best - off_best) * 1e6:>10.3f}"
        )


@contextlib.contextmanager
def otel_sdk() -> Iterator[object]:
    """Tracing on SDK providers that keep everything in memory."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    with vex_llm.tracing.install(tracer_provider, meter_provider) as handle:
        yield handle
    tracer_provider.shutdown()
    meter_provider.shutdown()


async def per_call(args: argparse.Namespace) -> None:
    """Microseconds per non-streamed call through the stack, each row."""
    llm = vex_llm.stack([MockProvider.smart()], deadline=None)
    spent: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for name, install in installers(args.rows).items():
            with install():
                await llm.complete(REQUEST)  # the row's first call makes its series
                started = time.process_time()
                for _ in range(args.calls):
                    await llm.complete(REQUEST)
                spent.setdefault(name, []).append((time.process_time() - started) / args.calls)
    report(f"per non-streamed call ({args.calls} calls, {args.rounds} rounds)", "µs/call", spent)


async def per_chunk(args: argparse.Namespace) -> None:
    """Microseconds per streamed chunk through the stack, each row."""
    llm = vex_llm.stack([sse_provider(sse_events(args.chunks))], deadline=None)
    spent: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for name, install in installers(args.rows).items():
            with install():
                started = time.process_time()
                chunks = await provider_stream(llm)
                spent.setdefault(name, []).append((time.process_time() - started) / chunks)
    print()
    report(f"per chunk ({args.chunks} chunks per stream, {args.rounds} rounds)", "µs/chunk", spent)
    await llm.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--chunks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--rows", default="", help="comma-separated rows (default: all)")
    args = parser.parse_args()
    await per_call(args)
    await per_chunk(args)


if __name__ == "__main__":
    asyncio.run(main())
