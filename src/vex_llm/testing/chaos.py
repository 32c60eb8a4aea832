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
from dataclasses import dataclass
from typing import Final

from .._provider import LlmProvider
from ..breaker import CircuitConfig, StateChange
from ..policies import ResilienceStack, RetryConfig, TimeoutConfig, stack
from ..providers.openai import OpenAIProvider
from ._chaos_run import CallRecord, ChaosRun, StateMark, UpstreamHit, drive
from .fake_server import FakeLLMServer, Fault

Window = Callable[[float, float], tuple[float, float]]
"""Turns a window in seconds of the run into the server's own ``between=`` window."""

Setup = Callable[[FakeLLMServer, float, Window], None]
"""Installs a scenario's faults on the primary upstream, given the run's duration."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named, seeded fault pattern.

    Args:
        name: What to type after ``vex-llm chaos``.
        summary: One line for ``--list``.
        setup: Installs the faults on the primary upstream (the secondary stays healthy).
        stream: Whether the traffic streams its answers.
    """

    name: str
    summary: str
    setup: Setup
    stream: bool = False


def _outage(server: FakeLLMServer, duration: float, window: Window) -> None:
    server.inject(Fault.error(503), between=window(0.25 * duration, 0.65 * duration))


def _silent(server: FakeLLMServer, duration: float, window: Window) -> None:
    server.inject(Fault.hang(), between=window(0.25 * duration, 0.65 * duration))


def _rate_limits(server: FakeLLMServer, duration: float, window: Window) -> None:
    server.inject(
        Fault.rate_limited(retry_after=2), rate=0.7, between=window(0.2 * duration, 0.7 * duration)
    )


def _slow_first_token(server: FakeLLMServer, duration: float, window: Window) -> None:
    server.inject(
        Fault.slow_first_token(3.0), rate=0.5, between=window(0.2 * duration, 0.7 * duration)
    )


def _stream_cuts(server: FakeLLMServer, duration: float, window: Window) -> None:
    server.inject(
        Fault.cut(after_chunks=3), rate=0.4, between=window(0.15 * duration, 0.75 * duration)
    )


def _flapping(server: FakeLLMServer, duration: float, window: Window) -> None:
    period = max(1.0, duration / 10)
    start = period
    while start < duration:
        server.inject(Fault.reset(), between=window(start, start + period))
        start += 2 * period


SCENARIOS: Final = {
    s.name: s
    for s in (
        Scenario("outage", "primary answers 503 for the middle 40% of the run", _outage),
        Scenario("silent", "primary accepts requests and never answers, mid-run", _silent),
        Scenario("rate-limits", "70% of primary calls get 429 with Retry-After: 2", _rate_limits),
        Scenario(
            "slow-first-token",
            "half the primary's streams wait 3 s for their first token",
            _slow_first_token,
            stream=True,
        ),
        Scenario(
            "stream-cuts",
            "40% of the primary's streams stop after 3 chunks without finishing",
            _stream_cuts,
            stream=True,
        ),
        Scenario("flapping", "primary drops connections every other tenth of the run", _flapping),
    )
}
"""The scenarios ``vex-llm chaos`` knows, by name."""

DEFAULT_SCENARIO: Final = "outage"

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
    on_start: Callable[[ChaosRun, Callable[[], dict[str, str]], Callable[[], float]], None]
    | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ChaosRun:
    """Run one scenario on both sides at once and measure them.

    Args:
        scenario: What goes wrong.
        duration: Seconds of traffic (both sides run at the same time).
        concurrency: Concurrent requesters per side.
        seed: Seeds the upstreams' faults.
        pause: Seconds each requester waits between requests.
        on_start: Called once traffic starts with the run (filled in as it goes), a
            function returning the stack's circuit states, and one returning seconds
            elapsed (the CLI draws its live view with them).
        clock: Monotonic seconds.

    Returns:
        The measured run.

    Raises:
        ValueError: On a non-positive duration or concurrency.
    """
    if not duration > 0 or concurrency < 1:
        msg = f"duration must be > 0 and concurrency >= 1, got {duration} and {concurrency}"
        raise ValueError(msg)
    run = ChaosRun(scenario.name, seed, duration, concurrency, breakers=["primary", "secondary"])
    servers = {
        (arm, role): FakeLLMServer(seed=seed, clock=clock)
        for arm in ("bare", "resilient")
        for role in ("primary", "secondary")
    }
    for server in servers.values():
        await server.start()
    providers: list[LlmProvider] = []
    bare: LlmProvider
    try:
        bare = _provider(servers["bare", "primary"], "primary", BARE_TIMEOUT)
        lab: ResilienceStack = stack(
            [
                _provider(servers["resilient", "primary"], "primary", 30.0),
                _provider(servers["resilient", "secondary"], "secondary", 30.0),
            ],
            deadline=LAB_DEADLINE,
            timeouts=LAB_TIMEOUTS,
            retry=LAB_RETRY,
            circuit=LAB_CIRCUIT,
            on_stream_break="restart",
            clock=clock,
        )
        providers = [bare, lab]
        started_at = clock()
        # Fault windows are relative to each server's start: shift them onto the run.
        for (_, role), server in servers.items():
            if role == "primary":
                offset = started_at - (clock() - server.elapsed)

                def window(t0: float, t1: float, offset: float = offset) -> tuple[float, float]:
                    return (t0 + offset, t1 + offset)

                scenario.setup(server, duration, window)

        def mark(event: StateChange) -> None:
            run.states.append(
                StateMark("resilient", event.breaker, clock() - started_at, event.to_state.value)
            )

        for circuit in lab.circuits.values():
            circuit.breaker.on_state_change(mark)

        def states() -> dict[str, str]:
            return {name: c.breaker.state.value for name, c in lab.circuits.items()}

        if on_start is not None:
            on_start(run, states, lambda: clock() - started_at)

        def prompt(n: int) -> str:
            return f"chaos request {n}: say something short"

        async with asyncio.TaskGroup() as group:
            sides: tuple[tuple[str, LlmProvider], ...] = (("bare", bare), ("resilient", lab))
            for arm, side in sides:
                group.create_task(
                    drive(
                        side,
                        arm=arm,
                        duration=duration,
                        concurrency=concurrency,
                        started_at=started_at,
                        prompt=prompt,
                        sink=run.calls,
                        stream=scenario.stream,
                        pause=pause,
                        clock=clock,
                    )
                )
        run.calls.sort(key=_by_start)
        for (arm, role), server in servers.items():
            zero = clock() - server.elapsed - started_at
            for entry in server.journal:
                if entry.path.endswith("/chat/completions"):
                    hit = UpstreamHit(arm, role, zero + entry.at, entry.status or 0)
                    run.upstream.append(hit)
        run.upstream.sort(key=lambda hit: hit.at)
    finally:
        for owned in providers:
            await owned.aclose()
        for server in servers.values():
            await server.stop()
    return run


def _by_start(record: CallRecord) -> float:
    return record.started
