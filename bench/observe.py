"""Benchmark: what the exporters add per call and per chunk, against nothing installed.

Rows (process CPU time, best of interleaved rounds, same process, same stack):
  off         nothing installed (the stack hands back its usual path)
  metrics     ``vex_llm.metrics.install()`` on a registry of its own
  otel-api    ``vex_llm.tracing.install()`` on the API's no-op providers
  otel-sdk    ``vex_llm.tracing.install()`` on SDK providers with an in-memory span exporter
              and metric reader (only when opentelemetry-sdk is installed)

Per non-streamed call: ``stack([MockProvider.smart()]).complete`` (no deadline, so no timer).
Per chunk: ``stack([OpenAIProvider]).stream`` over an in-process SSE transport (as
``bench/streams.py``), its cost per chunk. The added cost is the row minus ``off``.

Run: .venv/bin/python bench/observe.py [--calls N] [--chunks N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry

import vex_llm
import vex_llm.metrics
import vex_llm.tracing
from streams import provider_stream, sse_events, sse_provider
from vex_llm import LlmRequest, MockProvider

REQUEST = LlmRequest.from_prompt("hello")


def installers() -> dict[str, Callable[[], contextlib.AbstractContextManager[object]]]:
    """Each row's way to install its exporter for one round."""
    rows: dict[str, Callable[[], contextlib.AbstractContextManager[object]]] = {
        "off": contextlib.nullcontext,
        "metrics": lambda: vex_llm.metrics.install(CollectorRegistry()),
        "otel-api": vex_llm.tracing.install,
    }
    if importlib.util.find_spec("opentelemetry.sdk") is not None:
        rows["otel-sdk"] = otel_sdk
    return rows


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
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, install in installers().items():
            with install():
                started = time.process_time()
                for _ in range(args.calls):
                    await llm.complete(REQUEST)
                spent = (time.process_time() - started) / args.calls
            best[name] = min(best.get(name, float("inf")), spent)
    print(f"per non-streamed call ({args.calls} calls, best of {args.rounds} rounds)")
    print(f"{'row':<12}{'µs/call':>10}{'added µs':>10}")
    for name, spent in best.items():
        print(f"{name:<12}{spent * 1e6:>10.2f}{(spent - best['off']) * 1e6:>10.2f}")


async def per_chunk(args: argparse.Namespace) -> None:
    """Microseconds per streamed chunk through the stack, each row."""
    llm = vex_llm.stack([sse_provider(sse_events(args.chunks))], deadline=None)
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, install in installers().items():
            with install():
                started = time.process_time()
                chunks = await provider_stream(llm)
                spent = (time.process_time() - started) / chunks
            best[name] = min(best.get(name, float("inf")), spent)
    print(f"\nper chunk ({args.chunks} chunks per stream, best of {args.rounds} rounds)")
    print(f"{'row':<12}{'µs/chunk':>10}{'added µs':>10}")
    for name, spent in best.items():
        print(f"{name:<12}{spent * 1e6:>10.3f}{(spent - best['off']) * 1e6:>10.3f}")
    await llm.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    await per_call(args)
    await per_chunk(args)


if __name__ == "__main__":
    asyncio.run(main())
