"""Benchmark: how fast a call fails over, and how much load an outage adds, vex-llm's
stack vs a naive retry loop, measured in the same run.

Scenarios (two providers, primary first):
  silent   the primary accepts the call and never answers; time to the first answer
  503      the primary answers 503 every time; time to an answer, first call and mean
  outage   both providers answer 503; upstream calls per user request

vex-llm: ``stack([primary, secondary], deadline=..., timeouts=TimeoutConfig(
attempt_timeout=T))`` with default retries (3 attempts, 20 % budget) and breakers.
Naive: per provider, 3 tries with a fixed pause and a per-try timeout, then the next
provider (what most hand-written loops do).

Targets: silent primary answered within T + 0.5 s; full outage <= 1 + budget upstream
calls per request.

Upstreams are in-process ``MockProvider``s with real latency (asyncio.sleep), or, with
``--server``, ``FakeLLMServer`` on 127.0.0.1 through ``OpenAIProvider`` (needs the lab).

Run: .venv/bin/python bench/failover.py [--server] [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

from vex_llm import (
    LlmError,
    LlmProvider,
    LlmRequest,
    MockProvider,
    RetryConfig,
    ServerError,
    TimeoutConfig,
    stack,
)

ATTEMPT_TIMEOUT = 1.0  # vex-llm's per-attempt / first-token limit, seconds
BUDGET = 0.2
NAIVE_TRIES = 3
NAIVE_PAUSE = 0.25  # seconds between naive tries
NAIVE_TIMEOUT = 2.0  # a naive per-try timeout, seconds (SDK defaults are 60-600 s)
REQUEST = LlmRequest.from_prompt("capital of france?")


@dataclass
class Upstream:
    """A pair of providers for one scenario and a way to count the calls they received."""

    providers: list[LlmProvider]
    calls: Callable[[], int]


Factory = Callable[[str], Awaitable[Upstream]]


def mock_upstream(scenario: str) -> Upstream:
    """In-process providers: latency is real (asyncio.sleep), failures are scripted."""
    down = ServerError("503 Service Unavailable", status=503)
    primary: MockProvider
    match scenario:
        case "silent":
            primary = MockProvider.smart(name="primary", latency=3600.0)
            secondary = MockProvider.smart(name="secondary", latency=0.05)
        case "503":
            primary = MockProvider.failing(down, name="primary")
            secondary = MockProvider.smart(name="secondary", latency=0.05)
        case _:
            primary = MockProvider.failing(down, name="primary")
            secondary = MockProvider.failing(down, name="secondary")
    mocks = [primary, secondary]
    return Upstream(list(mocks), lambda: sum(m.calls for m in mocks))


async def naive(providers: list[LlmProvider], request: LlmRequest) -> str:
    """The loop most codebases start with: fixed pauses, a per-try timeout, no memory."""
    last: BaseException | None = None
    for provider in providers:
        for attempt in range(NAIVE_TRIES):
            try:
                response = await asyncio.wait_for(provider.complete(request), NAIVE_TIMEOUT)
            except (LlmError, TimeoutError) as exc:
                last = exc
            else:
                return response.provider
            if attempt < NAIVE_TRIES - 1:
                await asyncio.sleep(NAIVE_PAUSE)
    assert last is not None
    raise last


def vex(providers: list[LlmProvider]) -> Callable[[LlmRequest], Awaitable[str]]:
    llm = stack(
        providers,
        deadline=20.0,
        timeouts=TimeoutConfig(attempt_timeout=ATTEMPT_TIMEOUT),
        retry=RetryConfig(budget=BUDGET, base_delay=0.2, max_delay=1.0),
    )

    async def ask(request: LlmRequest) -> str:
        return (await llm.complete(request)).provider

    return ask


def naive_caller(providers: list[LlmProvider]) -> Callable[[LlmRequest], Awaitable[str]]:
    async def ask(request: LlmRequest) -> str:
        return await naive(providers, request)

    return ask


Arm = Callable[[list[LlmProvider]], Callable[[LlmRequest], Awaitable[str]]]


async def timed(ask: Callable[[LlmRequest], Awaitable[str]], count: int) -> list[float]:
    """Seconds to an answer for ``count`` sequential requests."""
    times: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        await ask(REQUEST)
        times.append(time.perf_counter() - started)
    return times


async def outage(ask: Callable[[LlmRequest], Awaitable[str]], requests: int, wave: int) -> None:
    """``requests`` calls in concurrent waves of ``wave``, every one failing."""
    for start in range(0, requests, wave):
        size = min(wave, requests - start)
        results = await asyncio.gather(*(ask(REQUEST) for _ in range(size)), return_exceptions=True)
        assert all(isinstance(r, LlmError) for r in results), results


async def measure(arm_name: str, arm: Arm, factory: Factory, requests: int) -> dict[str, float]:
    """One arm through the three scenarios."""
    figures: dict[str, float] = {}
    upstream = await factory("silent")
    # Naive has no memory: every request costs the same, one is enough (and bounded).
    times = await timed(arm(upstream.providers), 7 if arm_name == "vex-llm" else 1)
    figures["silent: first answer (s)"] = times[0]
    figures["silent: 7th answer (s)"] = times[-1]
    upstream = await factory("503")
    times = await timed(arm(upstream.providers), 10)
    figures["503: first answer (s)"] = times[0]
    figures["503: mean of 10 (s)"] = statistics.fmean(times)
    upstream = await factory("outage")
    await outage(arm(upstream.providers), requests, wave=20)
    figures["outage: upstream calls / request"] = upstream.calls() / requests
    return figures


async def run(factory: Factory, requests: int) -> None:
    ours = await measure("vex-llm", vex, factory, requests)
    theirs = await measure("naive", naive_caller, factory, requests)
    width = max(len(label) for label in ours)
    print(f"{'scenario':<{width}}  {'vex-llm':>9}  {'naive':>9}  {'naive/vex':>9}")
    for label, value in ours.items():
        ratio = theirs[label] / value if value else float("inf")
        print(f"{label:<{width}}  {value:>9.3f}  {theirs[label]:>9.3f}  {ratio:>8.1f}x")
    print()
    silent = ours["silent: first answer (s)"]
    calls = ours["outage: upstream calls / request"]
    silent_ok = silent <= ATTEMPT_TIMEOUT + 0.5
    outage_ok = calls <= 1 + BUDGET
    print(
        f"target: silent primary answered within {ATTEMPT_TIMEOUT + 0.5:.1f}s: "
        f"{silent:.2f}s, {'met' if silent_ok else 'MISSED'}"
    )
    print(
        f"target: full outage <= {1 + BUDGET:.1f} upstream calls per request: "
        f"{calls:.2f}, {'met' if outage_ok else 'MISSED'}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="requests in the outage")
    parser.add_argument("--server", action="store_true", help="use FakeLLMServer on loopback")
    args = parser.parse_args()
    # The breaker logs state changes; a benchmark prints its own table only.
    logging.getLogger("vex_llm").addHandler(logging.NullHandler())
    logging.getLogger("vex_llm").propagate = False
    async with AsyncExitStack() as resources:
        if args.server:
            factory = await server_factory(resources)
        else:

            async def factory(scenario: str) -> Upstream:
                return mock_upstream(scenario)

        print(f"upstreams: {'FakeLLMServer over loopback' if args.server else 'in-process mocks'}")
        print(
            f"vex-llm: attempt timeout {ATTEMPT_TIMEOUT}s, 3 attempts, budget {BUDGET:.0%}; "
            f"naive: {NAIVE_TRIES} tries per provider, {NAIVE_PAUSE}s pause, "
            f"{NAIVE_TIMEOUT}s per-try timeout"
        )
        print()
        await run(factory, args.requests)


async def server_factory(resources: AsyncExitStack) -> Factory:
    """Upstreams on one FakeLLMServer (127.0.0.1), told apart by model; OpenAIProvider each."""
    from vex_llm import OpenAIProvider
    from vex_llm.testing import FakeLLMServer, Fault

    server = await resources.enter_async_context(FakeLLMServer(seed=0, shutdown_timeout=0.1))

    async def factory(scenario: str) -> Upstream:
        server.reset()
        match scenario:
            case "silent":
                server.inject(Fault.hang(), model="primary")
            case "503":
                server.inject(Fault.error(503), model="primary")
            case _:
                server.inject(Fault.error(503))
        providers: list[LlmProvider] = []
        for name in ("primary", "secondary"):
            provider = OpenAIProvider(name, base_url=server.base_url, name=name, api_key="k")
            providers.append(await resources.enter_async_context(provider))
        return Upstream(providers, lambda: len(server.journal))

    return factory


if __name__ == "__main__":
    asyncio.run(main())
