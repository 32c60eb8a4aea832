"""Checklist H (reference §4, B45-B48, plus the thread side of B20): exceptions,
cancellation, asyncio and thread concurrency."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import traceback
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from vex_llm import (
    CircuitBreaker,
    CircuitConfig,
    CircuitOpenError,
    CircuitState,
    InvalidRequest,
    Outcome,
    ServerError,
    StateChange,
)
from vex_llm.testing import ManualClock

RESET = 30.0
WAIT = 10.0
"""Real seconds a thread waits for its peers before the test gives up (never reached)."""


def failure() -> ServerError:
    return ServerError("boom", status=503)


async def _raise(error: BaseException) -> None:
    raise error


def _raise_sync(error: BaseException) -> None:
    raise error


async def _ok() -> str:
    return "ok"


def make(clock: ManualClock, **settings: object) -> CircuitBreaker:
    config = CircuitConfig(**{"failure_threshold": 2, "reset_timeout": RESET, **settings})  # type: ignore[arg-type]  # test-built settings
    return CircuitBreaker(config, name="busy", clock=clock)


CLOCKED = {"slow_call_duration": 60.0}
"""Settings that take the breaker off its lock-free closed-state path."""

PATHS = [pytest.param({}, id="fast-path"), pytest.param(CLOCKED, id="locked-path")]


@pytest.fixture
def switchy() -> Iterator[None]:
    """Make the interpreter switch threads far more often, to shake out races."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


# -- B45 --------------------------------------------------------------------------------


@pytest.mark.parametrize("settings", PATHS)
@pytest.mark.parametrize("via", ["call", "async_decorator", "sync_decorator", "permit"])
async def test_b45_exceptions_propagate_unchanged(
    clock: ManualClock, via: str, settings: dict[str, object]
) -> None:
    """B45: the original exception object propagates with its traceback, the tripping one too."""
    breaker = make(clock, **settings)

    async def provider_call(error: BaseException) -> None:
        raise error

    def provider_call_sync(error: BaseException) -> None:
        raise error

    guarded = breaker(provider_call)
    guarded_sync = breaker(provider_call_sync)

    async def attempt(error: BaseException) -> None:
        if via == "call":
            await breaker.call(provider_call, error)
        elif via == "async_decorator":
            await guarded(error)
        elif via == "sync_decorator":
            guarded_sync(error)
        else:
            async with await breaker.acquire():
                await provider_call(error)

    for _ in range(2):  # the second one trips the circuit
        error = failure()
        with pytest.raises(ServerError) as caught:
            await attempt(error)
        assert caught.value is error
        assert caught.value.__cause__ is None
        frames = [frame.name for frame in traceback.extract_tb(caught.value.__traceback__)]
        assert frames[-1] in ("provider_call", "provider_call_sync")
    assert breaker.state is CircuitState.OPEN


async def test_b45_results_and_arguments_pass_through(clock: ManualClock) -> None:
    """B45: arguments reach the callable and its result comes back as is."""
    breaker = make(clock, **CLOCKED)
    sentinel = object()

    async def echo(*args: object, **kwargs: object) -> tuple[object, ...]:
        return (*args, kwargs)

    @breaker
    def echo_sync(value: object, *, key: str) -> tuple[object, str]:
        """Echo."""
        return value, key

    assert await breaker.call(echo, sentinel, 2, key="v") == (sentinel, 2, {"key": "v"})
    assert echo_sync(sentinel, key="k") == (sentinel, "k")
    assert echo_sync.__name__ == "echo_sync"
    assert echo_sync.__doc__ == "Echo."


async def test_b45_async_generators_cannot_be_decorated(clock: ManualClock) -> None:
    """B45: decorating an async generator is refused (a stream must hold its permit)."""
    breaker = make(clock)

    async def chunks() -> AsyncIterator[str]:
        yield "a"

    with pytest.raises(TypeError, match="async generator"):
        breaker(chunks)


# -- B46 --------------------------------------------------------------------------------


@pytest.mark.parametrize("settings", PATHS)
async def test_b46_cancelled_call_counts_neither_way(
    clock: ManualClock, settings: dict[str, object]
) -> None:
    """B46: a call cancelled mid-flight counts neither way, keeps the streak, and re-raises."""
    breaker = make(clock, failure_threshold=3, **settings)
    with pytest.raises(ServerError):
        await breaker.call(_raise, failure())
    started = asyncio.Event()

    async def hang() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(breaker.call(hang))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    stats = breaker.stats()
    assert (stats.total_failures, stats.consecutive_failures, stats.ignored) == (1, 1, 1)
    assert stats.state is CircuitState.CLOSED


async def test_b46_cancelled_probe_releases_its_slot(clock: ManualClock) -> None:
    """B46: cancelling a half-open probe frees its slot for the next probe."""
    breaker = make(clock, success_threshold=1)
    for _ in range(2):
        with pytest.raises(ServerError):
            await breaker.call(_raise, failure())
    clock.advance(RESET)
    started = asyncio.Event()

    async def hang() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(breaker.call(hang))
    await started.wait()
    with pytest.raises(CircuitOpenError):
        await breaker.call(_ok)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await breaker.call(_ok) == "ok"
    assert breaker.state is CircuitState.CLOSED


@pytest.mark.parametrize("settings", PATHS)
async def test_b46_cancelled_before_admission_is_not_run(
    clock: ManualClock, settings: dict[str, object]
) -> None:
    """B46: a task cancelled before it starts never runs the callable and records nothing."""
    breaker = make(clock, **settings)
    invoked = False

    async def provider() -> None:
        nonlocal invoked
        invoked = True

    task = asyncio.create_task(breaker.call(provider))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not invoked
    stats = breaker.stats()
    assert (stats.total_requests, stats.ignored, stats.total_failures) == (0, 0, 0)


INTERRUPTS: list[type[BaseException]] = [KeyboardInterrupt, SystemExit, GeneratorExit]


@pytest.mark.parametrize("settings", PATHS)
@pytest.mark.parametrize("kind", INTERRUPTS, ids=lambda k: k.__name__)
@pytest.mark.parametrize("via", ["call", "sync"])
async def test_b46_interpreter_exits_are_not_counted(
    clock: ManualClock, kind: type[BaseException], via: str, settings: dict[str, object]
) -> None:
    """B46: KeyboardInterrupt, SystemExit and GeneratorExit propagate and count neither way."""

    def count_everything(exc: BaseException) -> Outcome:
        return Outcome.FAILURE

    breaker = make(clock, failure_threshold=1, classify=count_everything, **settings)
    error = kind()

    async def attempt() -> None:
        if via == "call":
            await breaker.call(_raise, error)
        else:
            breaker.call_sync(_raise_sync, error)

    with pytest.raises(kind) as caught:
        await attempt()
    assert caught.value is error
    stats = breaker.stats()
    assert (stats.state, stats.total_failures, stats.ignored) == (CircuitState.CLOSED, 0, 1)


# -- B47 --------------------------------------------------------------------------------


def _mixed(index: int) -> BaseException | None:
    """A fixed mix: half successes, a quarter ignored errors, a quarter failures."""
    match index % 4:
        case 2:
            return InvalidRequest("bad")
        case 3:
            return failure()
        case _:
            return None


MIXED_SETTINGS = [
    pytest.param({"failure_threshold": 10**9}, id="consecutive-fast"),
    pytest.param({"failure_threshold": 10**9, **CLOCKED}, id="consecutive-locked"),
    pytest.param(
        {"mode": "ratio", "failure_rate_threshold": 1.0, "window_size": 50}, id="ratio-count"
    ),
    pytest.param(
        {"mode": "ratio", "window": "time", "failure_rate_threshold": 1.0}, id="ratio-time"
    ),
]


@pytest.mark.parametrize("settings", MIXED_SETTINGS)
async def test_b47_no_lost_updates_across_tasks(
    clock: ManualClock, settings: dict[str, object]
) -> None:
    """B47: 10 tasks x 1 000 interleaved mixed calls: every counter is exact."""
    breaker = make(clock, **settings)

    async def one(error: BaseException | None) -> None:
        await asyncio.sleep(0)  # interleave the tasks inside the guarded call
        if error is not None:
            raise error

    async def worker() -> None:
        for index in range(1000):
            with contextlib.suppress(ServerError, InvalidRequest):
                await breaker.call(one, _mixed(index))

    await asyncio.gather(*(worker() for _ in range(10)))
    stats = breaker.stats()
    assert stats.state is CircuitState.CLOSED
    assert (stats.total_requests, stats.total_failures, stats.ignored, stats.rejected) == (
        10_000,
        2_500,
        2_500,
        0,
    )


@pytest.mark.parametrize("settings", MIXED_SETTINGS)
@pytest.mark.usefixtures("switchy")
def test_b47_no_lost_updates_across_threads(
    clock: ManualClock, settings: dict[str, object]
) -> None:
    """B47: 8 threads x 1 000 mixed calls through the sync decorator: every counter is exact."""
    breaker = make(clock, **settings)

    @breaker
    def one(error: BaseException | None) -> None:
        if error is not None:
            raise error

    start = threading.Barrier(8, timeout=WAIT)

    def worker() -> None:
        start.wait()
        for index in range(1000):
            with contextlib.suppress(ServerError, InvalidRequest):
                one(_mixed(index))

    run_threads(worker, 8)
    stats = breaker.stats()
    assert stats.state is CircuitState.CLOSED
    assert (stats.total_requests, stats.total_failures, stats.ignored) == (8_000, 2_000, 2_000)


def run_threads(target: Callable[[], None], count: int) -> None:
    """Run ``target`` in ``count`` threads and re-raise the first error any of them hit."""
    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            target()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads)
    if errors:
        raise errors[0]


@pytest.mark.parametrize("settings", PATHS)
@pytest.mark.usefixtures("switchy")
def test_b47_threads_racing_the_trip_open_once(
    clock: ManualClock, settings: dict[str, object]
) -> None:
    """B47: 8 threads failing at once: one OPEN event, every call accounted for."""
    breaker = make(clock, failure_threshold=50, **settings)
    events: list[StateChange] = []
    breaker.on_state_change(events.append)
    start = threading.Barrier(8, timeout=WAIT)

    def worker() -> None:
        start.wait()
        for _ in range(500):
            with contextlib.suppress(ServerError, CircuitOpenError):
                breaker.call_sync(_raise_sync, failure())

    run_threads(worker, 8)
    stats = breaker.stats()
    assert [e.to_state for e in events] == [CircuitState.OPEN]
    assert stats.circuit_opens == 1
    assert stats.total_requests == 4000
    admitted = stats.total_requests - stats.rejected
    assert stats.total_failures == 50
    assert stats.total_failures + stats.stale_outcomes == admitted


# -- B20 (threads) ----------------------------------------------------------------------


@pytest.mark.parametrize("budget", [1, 3])
@pytest.mark.usefixtures("switchy")
def test_b20_thread_burst_admits_exactly_the_budget(clock: ManualClock, budget: int) -> None:
    """B20: 20 threads calling at the instant open_until passes: K reach the callable, one event."""
    breaker = make(clock, success_threshold=budget)
    events: list[StateChange] = []
    for _ in range(2):
        with pytest.raises(ServerError):
            breaker.call_sync(_raise_sync, failure())
    breaker.on_state_change(events.append)
    clock.advance(RESET)
    lock = threading.Lock()
    entered = 0
    decided = threading.Semaphore(0)
    release = threading.Event()
    start = threading.Barrier(20, timeout=WAIT)

    @breaker
    def probe() -> str:
        nonlocal entered
        with lock:
            entered += 1
        decided.release()
        assert release.wait(WAIT)
        return "ok"

    reasons: list[str] = []

    def worker() -> None:
        start.wait()
        try:
            probe()
        except CircuitOpenError as exc:
            reasons.append(exc.reason)
            decided.release()

    errors: list[BaseException] = []
    runner = threading.Thread(target=lambda: _collect(errors, lambda: run_threads(worker, 20)))
    runner.start()
    for _ in range(20):
        assert decided.acquire(timeout=WAIT)
    assert entered == budget
    assert breaker.stats().half_open_in_flight == budget
    release.set()
    runner.join(WAIT)
    assert not errors
    assert set(reasons) == {"half_open_full"}
    assert [e.to_state for e in events] == [CircuitState.HALF_OPEN, CircuitState.CLOSED]
    assert breaker.stats().rejected == 20 - budget


def _collect(errors: list[BaseException], body: Callable[[], None]) -> None:
    try:
        body()
    except BaseException as exc:
        errors.append(exc)


# -- B48 --------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["closed", "half_open"])
@pytest.mark.parametrize("settings", PATHS)
async def test_b48_calls_overlap_inside_the_callable(
    clock: ManualClock, state: str, settings: dict[str, object]
) -> None:
    """B48: two calls are inside the callable at the same time (the breaker never serialises)."""
    breaker = make(clock, success_threshold=2, **settings)
    if state == "half_open":
        for _ in range(2):
            with pytest.raises(ServerError):
                await breaker.call(_raise, failure())
        clock.advance(RESET)
    inside = 0
    most = 0
    both_in = asyncio.Event()

    async def provider() -> str:
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        if inside == 2:
            both_in.set()
        await asyncio.wait_for(both_in.wait(), WAIT)
        inside -= 1
        return "ok"

    assert await asyncio.gather(breaker.call(provider), breaker.call(provider)) == ["ok", "ok"]
    assert most == 2
    assert breaker.state is CircuitState.CLOSED


@pytest.mark.parametrize("settings", PATHS)
def test_b48_threads_overlap_inside_the_callable(
    clock: ManualClock, settings: dict[str, object]
) -> None:
    """B48: two threads meet at a barrier inside the guarded function (no lock held across it)."""
    breaker = make(clock, **settings)
    meet = threading.Barrier(2, timeout=WAIT)

    @breaker
    def provider() -> str:
        meet.wait()  # raises BrokenBarrierError if the calls were serialised
        return "ok"

    run_threads(provider, 2)
    assert breaker.stats().total_requests == 2
