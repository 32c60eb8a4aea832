"""The chaos lab: the same faulty upstreams, hit by a bare client and by the vex-llm stack.

``run_chaos(scenario)`` starts fake upstreams on 127.0.0.1 (a primary and a secondary for
each side, with the same seeded faults), drives the same traffic through a bare
``OpenAIProvider`` on the primary and through ``vex_llm.stack([primary, secondary])``,
and returns a ``ChaosRun`` with every request, every circuit transition and every request
that reached an upstream (from the servers' journals). Traffic is bounded in count and
time and stops by itself.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Final

from .._clock import Clock
from .._provider import LlmProvider
from ..breaker import CircuitConfig, StateChange
from ..policies import (
    RateBudget,
    RateLimitConfig,
    ResilienceStack,
    RetryConfig,
    TimeoutConfig,
    stack,
)
from ..providers import OpenAIProvider
from ..testing import FakeLLMServer
from ._driver import drive
from ._report import ChaosRun, StateMark, UpstreamHit
from ._scenarios import FaultWindow, Scenario

OnStart = Callable[[ChaosRun, Callable[[], dict[str, str]], Callable[[], float]], None]
"""Called once traffic starts: the run, its circuit states, and seconds elapsed."""

_SIDES: Final = ("bare", "resilient")
_ROLES: Final = ("primary", "secondary")

# The lab's settings. The bare client is configured reasonably (a 5 s timeout, no
# retries); the stack adds a 1 s attempt timeout, one quick retry, a breaker and a
# fallback, all inside a 4 s deadline.
BARE_TIMEOUT: Final = 5.0
LAB_TIMEOUTS: Final = TimeoutConfig(attempt_timeout=1.0, first_token_timeout=1.0, idle_timeout=0.5)
LAB_RETRY: Final = RetryConfig(attempts=2, base_delay=0.05, max_delay=0.2, max_retry_after=1.0)
LAB_CIRCUIT: Final = CircuitConfig(
    failure_threshold=3, success_threshold=2, reset_timeout=2.0, half_open_max_calls=1
)
LAB_DEADLINE: Final = 4.0
LAB_RATE_WAIT: Final = 0.25


def _provider(server: FakeLLMServer, name: str, timeout: float) -> OpenAIProvider:
    return OpenAIProvider(
        "lab-model",
        base_url=server.base_url,
        api_key_env=None,
        name=name,
        timeout=timeout,
        connect_timeout=min(timeout, 2.0),
        headers_timeout=timeout,
        first_token_timeout=timeout,
        idle_timeout=timeout,
    )


async def run_chaos(
    scenario: Scenario,
    *,
    duration: float = 20.0,
    concurrency: int = 8,
    seed: int = 7,
    pause: float = 0.1,
    on_start: OnStart | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ChaosRun:
    """Run one scenario on both sides at once and measure them.

    Cancelled mid-run (Ctrl-C), it completes the run handed to ``on_start`` (requests so
    far, unanswered ones as ``"Interrupted"``; journals; ``interrupted_at``) and re-raises.

    Args:
        scenario: What goes wrong.
        duration: Seconds of traffic (both sides run at the same time).
        concurrency: Concurrent requesters per side.
        seed: Seeds the upstreams' faults.
        pause: Seconds each requester waits between requests.
        on_start: Called once traffic starts with the run (filled in as it goes), a
            function returning the stack's circuit states, and one returning seconds
            elapsed (the CLI draws its live view and saves a partial report with them).
        clock: Monotonic seconds.

    Returns:
        The measured run.

    Raises:
        ValueError: On a non-positive duration or concurrency.
    """
    _check(duration, concurrency)
    windows = scenario.windows(duration)
    run = ChaosRun(scenario.name, seed, duration, concurrency, breakers=list(_ROLES))
    run.description = scenario.describe(duration)
    run.fault_windows = [(w.start, w.end) for w in windows]
    servers = {(a, r): FakeLLMServer(seed=seed, clock=clock) for a in _SIDES for r in _ROLES}
    async with AsyncExitStack() as owned:  # providers closed first, then the servers
        for (_, role), server in servers.items():
            owned.push_async_callback(server.stop)
            await server.start()
            if scenario.quota is not None and role == "primary":
                server.limit(scenario.quota[0], window=scenario.quota[1])
        bare = _provider(servers["bare", "primary"], "primary", BARE_TIMEOUT)
        owned.push_async_callback(bare.aclose)
        lab = _stack(
            servers["resilient", "primary"], servers["resilient", "secondary"], clock, scenario
        )
        owned.push_async_callback(lab.aclose)
        started_at = _begin(run, servers, windows, lab, on_start, clock)
        try:
            await _traffic(
                run,
                {"bare": bare, "resilient": lab},
                started_at=started_at,
                stream=scenario.stream,
                pause=pause,
                clock=clock,
            )
        finally:
            _close_books(run, servers, started_at, clock)
    return run


def _check(duration: float, concurrency: int) -> None:
    if not duration > 0 or concurrency < 1:
        msg = f"duration must be > 0 and concurrency >= 1, got {duration} and {concurrency}"
        raise ValueError(msg)


def _begin(
    run: ChaosRun,
    servers: dict[tuple[str, str], FakeLLMServer],
    windows: tuple[FaultWindow, ...],
    lab: ResilienceStack,
    on_start: OnStart | None,
    clock: Clock,
) -> float:
    """Start the run's clock: faults on the primaries, circuits watched; returns its start."""
    started_at = clock()
    for (_, role), server in servers.items():
        if role == "primary":
            _install(server, windows, started_at - (clock() - server.elapsed))
    _watch_circuits(lab, run, lambda: clock() - started_at)
    if on_start is not None:
        on_start(run, lambda: _states(lab), lambda: clock() - started_at)
    return started_at


async def _traffic(
    run: ChaosRun,
    sides: dict[str, LlmProvider],
    *,
    started_at: float,
    stream: bool,
    pause: float,
    clock: Clock,
) -> None:
    """Drive every side at once; a cancellation is noted in ``run.interrupted_at``."""
    try:
        async with asyncio.TaskGroup() as group:
            for arm, side in sides.items():
                group.create_task(
                    drive(
                        side,
                        arm=arm,
                        duration=run.duration,
                        concurrency=run.concurrency,
                        started_at=started_at,
                        prompt=_prompt,
                        sink=run.calls,
                        stream=stream,
                        pause=pause,
                        clock=clock,
                    )
                )
    except asyncio.CancelledError:
        run.interrupted_at = clock() - started_at
        raise


def _stack(
    primary: FakeLLMServer, secondary: FakeLLMServer, clock: Clock, scenario: Scenario
) -> ResilienceStack:
    first = _provider(primary, "primary", 30.0)
    limits: dict[LlmProvider, RateLimitConfig] = {}
    if scenario.quota is not None:
        # The stack is told the primary's documented limit (its headers keep it honest) and
        # waits at most a quarter second for a turn there before the secondary answers.
        requests, window = scenario.quota
        budget = RateBudget(requests=requests, window=window)
        limits[first] = RateLimitConfig(budget=budget, max_wait=LAB_RATE_WAIT)
    return stack(
        [first, _provider(secondary, "secondary", 30.0)],
        rate_limits=limits,
        deadline=LAB_DEADLINE,
        timeouts=LAB_TIMEOUTS,
        retry=LAB_RETRY,
        circuit=LAB_CIRCUIT,
        on_stream_break="restart",
        clock=clock,
    )


def _install(server: FakeLLMServer, windows: tuple[FaultWindow, ...], offset: float) -> None:
    """Put a scenario's faults on an upstream; ``offset`` moves run time to server time."""
    for window in windows:
        server.inject(
            window.fault, rate=window.rate, between=(window.start + offset, window.end + offset)
        )


def _watch_circuits(lab: ResilienceStack, run: ChaosRun, elapsed: Callable[[], float]) -> None:
    def mark(event: StateChange) -> None:
        run.states.append(StateMark("resilient", event.breaker, elapsed(), event.to_state.value))

    for circuit in lab.circuits.values():
        circuit.breaker.on_state_change(mark)


def _states(lab: ResilienceStack) -> dict[str, str]:
    return {name: c.breaker.state.value for name, c in lab.circuits.items()}


def _prompt(n: int) -> str:
    return f"chaos request {n}: say something short"


def _hits(
    servers: dict[tuple[str, str], FakeLLMServer], started_at: float, clock: Clock
) -> list[UpstreamHit]:
    """The chat requests each upstream received, on the run's time line."""
    hits: list[UpstreamHit] = []
    for (arm, role), server in servers.items():
        zero = clock() - server.elapsed - started_at
        for entry in server.journal:
            if entry.path.endswith("/chat/completions"):
                hits.append(UpstreamHit(arm, role, zero + entry.at, entry.status or 0))
    return hits


def _close_books(
    run: ChaosRun, servers: dict[tuple[str, str], FakeLLMServer], started_at: float, clock: Clock
) -> None:
    """Put the run's calls and the upstreams' journals in time order."""
    run.calls.sort(key=lambda record: record.started)
    run.upstream.extend(_hits(servers, started_at, clock))
    run.upstream.sort(key=lambda hit: hit.at)
