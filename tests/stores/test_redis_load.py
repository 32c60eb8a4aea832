"""RedisStore under load: getting ready is not an outage, outcomes are never dropped to
protect a caller's latency, and ``degraded`` says exactly when calls are decided locally."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis_asyncio
from _circuits import down, logged, ok, outcome, pinned_offset, unique_prefix

from _redis_server import RedisServer
from vex_llm import (
    CircuitBreaker,
    CircuitConfig,
    CircuitState,
    RateLimited,
    RedisStore,
    ServerError,
)
from vex_llm.config import MAX_SECONDS
from vex_llm.testing import ManualClock

pytestmark = pytest.mark.redis

CLOSED, OPEN = CircuitState.CLOSED, CircuitState.OPEN


class SlowStart:
    """A loopback TCP proxy in front of Redis that holds every new connection's first
    bytes (the handshake) and every SCRIPT LOAD for ``delay`` seconds: a slow set-up."""

    def __init__(self, port: int, delay: float) -> None:
        self.port = port
        self.delay = delay
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
        back = asyncio.create_task(self._pipe(up_reader, writer, slow=False))
        self._tasks.add(back)
        try:
            await self._pipe(reader, up_writer, slow=True)
        finally:
            back.cancel()
            await asyncio.gather(back, return_exceptions=True)
            self._tasks.discard(back)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, slow: bool
    ) -> None:
        first = True
        try:
            while chunk := await reader.read(65536):
                if slow and (first or b"LOAD" in chunk):
                    await asyncio.sleep(self.delay)
                first = False
                writer.write(chunk)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def aclose(self) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def slow_start(redis_server: RedisServer) -> AsyncIterator[SlowStart]:
    """A proxy to the session Redis whose connections take 0.2 s to get ready."""
    proxy = SlowStart(redis_server.port, 0.2)
    await proxy.start()
    yield proxy
    await proxy.aclose()


# -- getting ready is not an outage --------------------------------------------------------


async def test_a_burst_of_200_calls_on_a_fresh_store_decides_nothing_locally(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """200 concurrent calls on a fresh store (default 50 ms timeout): no error, no fallback."""
    store = RedisStore(redis_server.url, prefix=unique_prefix())
    breaker = CircuitBreaker(CircuitConfig(), name="c", store=store)
    results = await asyncio.gather(*(breaker.call(ok) for _ in range(200)))
    assert results == ["ok"] * 200
    assert (store.errors, store.fallbacks, store.degraded) == (0, 0, False)
    assert logged(caplog, "circuit_store_fallback") == 0
    assert (await breaker.fetch_stats()).total_requests == 200
    await store.aclose()


async def test_a_slow_handshake_and_script_load_are_not_an_outage(
    slow_start: SlowStart, caplog: pytest.LogCaptureFixture
) -> None:
    """Set-up slower than the 50 ms timeout (0.2 s per connection and per SCRIPT LOAD)
    is bounded by connect_timeout: every call is decided by Redis."""
    store = RedisStore(slow_start.url, prefix=unique_prefix(), max_connections=4)
    breaker = CircuitBreaker(CircuitConfig(), name="c", store=store)
    results = await asyncio.gather(*(breaker.call(ok) for _ in range(20)))
    assert results == ["ok"] * 20
    assert (store.errors, store.fallbacks, store.degraded) == (0, 0, False)
    assert logged(caplog, "circuit_store_fallback") == 0
    assert slow_start.connections <= 4
    await store.aclose()


# -- outcomes are never dropped to protect a caller's latency -----------------------------


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[redis_asyncio.Redis]:
    """A plain client on the session server, to pause it and to look under the hood."""
    plain = redis_asyncio.Redis.from_url(redis_server.url, decode_responses=True)
    yield plain
    await plain.aclose()


async def pause(client: redis_asyncio.Redis, seconds: float) -> None:
    """CLIENT PAUSE: Redis holds every command for ``seconds``, then answers them all."""
    await client.execute_command("CLIENT", "PAUSE", str(round(seconds * 1000)), "ALL")


class Cluster:
    """Stores on one prefix, one per simulated process, with Redis time pinned."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.prefix = unique_prefix()
        self.clock = ManualClock()
        self.made: list[RedisStore] = []

    def store(self, **settings: object) -> RedisStore:
        # Admissions happen before Redis is paused: a timeout well above a loaded machine's
        # hiccups keeps them on Redis; each pause below outlasts it.
        options: dict[str, object] = {
            "timeout": 0.25,
            "record_timeout": 5.0,
            "clock_offset": pinned_offset(self.clock),
        }
        options.update(settings)
        store = RedisStore(self.url, prefix=self.prefix, **options)  # type: ignore[arg-type]
        self.made.append(store)
        return store

    def breaker(self, config: CircuitConfig, store: RedisStore) -> CircuitBreaker:
        return CircuitBreaker(config, name="c", clock=self.clock, store=store)

    async def shared(self, config: CircuitConfig) -> tuple[CircuitState, int, int, int]:
        """State, total failures, opens and failure streak, as Redis has them."""
        stats = await self.breaker(config, self.store(timeout=2.0)).fetch_stats()
        streak = stats.consecutive_failures
        return stats.state, stats.total_failures, stats.circuit_opens, streak

    async def aclose(self) -> None:
        for store in self.made:
            await store.aclose()


@pytest.fixture
async def cluster(redis_server: RedisServer) -> AsyncIterator[Cluster]:
    """Stores sharing one fresh prefix on the session Redis, closed at the end."""
    made = Cluster(redis_server.url)
    yield made
    await made.aclose()


async def test_outcomes_held_up_by_a_paused_redis_still_open_the_circuit(
    cluster: Cluster, client: redis_asyncio.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """4 stores x 10 concurrent failures, threshold 40, Redis paused for longer than the
    timeout while they are recorded: nothing is decided locally, and once Redis answers
    the circuit opens, once, at exactly the 40th failure."""
    config = CircuitConfig(failure_threshold=40)
    stores = [cluster.store() for _ in range(4)]
    breakers = [cluster.breaker(config, store) for store in stores]
    permits = [await breaker.acquire() for breaker in breakers for _ in range(10)]
    await pause(client, 0.6)
    await asyncio.gather(*(p.failure(ServerError("down", status=503)) for p in permits))
    assert [(s.degraded, s.fallbacks, s.dropped_outcomes) for s in stores] == [(False, 0, 0)] * 4
    assert logged(caplog, "circuit_store_fallback") == 0
    for store in stores:
        await store.aclose()  # sends what is still queued
    assert await cluster.shared(config) == (OPEN, 40, 1, 0)
    assert logged(caplog, "circuit_store_late_transition") == 1  # no breaker reported it


async def test_queued_outcomes_reach_redis_in_the_order_they_were_recorded(
    cluster: Cluster, client: redis_asyncio.Redis
) -> None:
    """failure, success, failure, recorded while Redis is paused: a streak of 1, not 2."""
    config = CircuitConfig(failure_threshold=2)
    store = cluster.store()
    breaker = cluster.breaker(config, store)
    permits = [await breaker.acquire() for _ in range(3)]
    await pause(client, 0.6)
    await permits[0].failure(ServerError("down", status=503))
    await permits[1].success()
    await permits[2].failure(ServerError("down", status=503))
    await store.aclose()
    assert await cluster.shared(config) == (CLOSED, 2, 0, 1)


async def test_a_full_queue_applies_outcomes_locally_and_counts_them(
    cluster: Cluster, client: redis_asyncio.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """max_queued_outcomes=2 and five outcomes at once: two queue, three are applied
    locally (counted in dropped_outcomes, logged once); the queued two reach Redis."""
    config = CircuitConfig(failure_threshold=10)
    store = cluster.store(max_queued_outcomes=2)
    breaker = cluster.breaker(config, store)
    permits = [await breaker.acquire() for _ in range(5)]
    await pause(client, 0.6)
    await asyncio.gather(*(p.failure(ServerError("down", status=503)) for p in permits))
    assert store.dropped_outcomes == 3
    assert logged(caplog, "circuit_store_queue_full") == 1
    await store.aclose()
    assert (await cluster.shared(config))[1] == 2


# -- a short outage leaves no probe lease behind ------------------------------------------


async def test_an_admission_given_up_in_an_outage_frees_its_probe_lease(
    own_redis_server: RedisServer,
) -> None:
    """Redis frozen while a half-open admission is asked: the caller moves on after the
    timeout, Redis runs the admission when it wakes (taking the one probe slot), and the
    store gives that lease back at once instead of after probe_lease_ttl (120 s)."""
    cluster = Cluster(own_redis_server.url)
    config = CircuitConfig(failure_threshold=1, success_threshold=1, reset_timeout=1.0)
    first = cluster.store(timeout=0.05)
    late, other = cluster.breaker(config, first), cluster.breaker(config, cluster.store())
    try:
        assert await outcome(late, down) == "failed"
        assert await outcome(other) == "rejected:open"
        cluster.clock.advance(1.5)
        own_redis_server.pause()
        try:
            await outcome(late)  # decided locally: Redis does not answer in time
            assert first.degraded
        finally:
            own_redis_server.resume()
        await first.aclose()  # sends what it queued: the lease it may hold, given back
        assert await outcome(other) == "ok"  # the probe slot is free
        assert await other.current_state() is CLOSED
    finally:
        await cluster.aclose()


# -- any duration CircuitConfig accepts ---------------------------------------------------

HUGE = [1e13, 1e300]
"""Durations past what the scripts could hold, where no CircuitConfig bound applies
(a Retry-After hint, a manual open period, the store's idle_ttl)."""
MAX = MAX_SECONDS
"""The longest duration a CircuitConfig accepts (about 115 days)."""
HUNDRED_DAYS = 86400.0 * 100


@pytest.mark.parametrize("seconds", HUGE)
async def test_huge_open_durations_keep_the_circuit_open(
    cluster: Cluster, caplog: pytest.LogCaptureFixture, seconds: float
) -> None:
    """The longest reset_timeout and open cap, a Retry-After and idle_ttl far beyond 9e12 s:
    open, and it stays open."""
    config = CircuitConfig(
        failure_threshold=1, reset_timeout=MAX, max_reset_timeout=MAX, jitter=0.5
    )
    store = cluster.store(idle_ttl=seconds)
    breaker = cluster.breaker(config, store)
    permit = await breaker.acquire()
    await permit.failure(RateLimited("slow down", retry_after=seconds))
    cluster.clock.advance(HUNDRED_DAYS)
    assert await outcome(breaker) == "rejected:open"
    stats = await breaker.fetch_stats()
    assert stats.state is OPEN
    assert stats.retry_after is not None
    assert stats.retry_after > 1e6
    assert logged(caplog, "circuit_store_reset") == 0
    assert (store.errors, store.degraded) == (0, False)


@pytest.mark.parametrize("seconds", HUGE)
async def test_huge_probe_leases_and_manual_open_periods_work(
    cluster: Cluster, caplog: pytest.LogCaptureFixture, seconds: float
) -> None:
    """The longest probe_lease_ttl and a force_open duration far beyond 9e12 s: a probe
    holds its slot, and a circuit opened by hand stays open."""
    config = CircuitConfig(
        failure_threshold=1, reset_timeout=1.0, success_threshold=1, probe_lease_ttl=MAX
    )
    store = cluster.store()
    breaker = cluster.breaker(config, store)
    assert await outcome(breaker, down) == "failed"
    cluster.clock.advance(1.5)
    probe = await breaker.acquire()
    assert await outcome(breaker) == "rejected:half_open_full"
    await probe.success()
    await breaker.apply("open", duration=seconds)
    cluster.clock.advance(86400.0 * 365)
    assert await outcome(breaker) == "rejected:open"
    assert logged(caplog, "circuit_store_reset") == 0
    assert (store.errors, store.degraded) == (0, False)


# -- degraded means: calls are being decided locally --------------------------------------


async def test_degraded_holds_exactly_while_calls_are_decided_locally(
    own_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis gone: degraded from the first local decision; Redis back but the guard still
    waiting (on the store's injected clock): still degraded; the guard's probe answered
    by Redis: not degraded."""
    guard_clock = ManualClock()
    store = RedisStore(
        own_redis_server.url,
        prefix=unique_prefix(),
        timeout=0.05,
        max_errors=2,
        reconnect_after=30.0,
        clock=guard_clock,
    )
    breaker = CircuitBreaker(CircuitConfig(), name="c", store=store)
    try:
        assert await outcome(breaker) == "ok"
        assert not store.degraded
        own_redis_server.stop()
        for _ in range(3):
            assert await outcome(breaker) == "ok"
            assert store.degraded
        own_redis_server.start()
        assert await outcome(breaker) == "ok"
        assert store.degraded  # the guard waits 30 s on its clock: decided locally
        guard_clock.advance(30.0)
        assert await outcome(breaker) == "ok"
        assert not store.degraded
        assert logged(caplog, "circuit_store_fallback") == 1
    finally:
        await store.aclose()


async def test_a_probe_outcome_that_never_reached_redis_gives_its_lease_back_later(
    cluster: Cluster, client: redis_asyncio.Redis
) -> None:
    """A probe's outcome misses record_timeout (Redis paused longer, the command dropped):
    it is applied locally, and once Redis answers again its lease is given back."""
    config = CircuitConfig(failure_threshold=1, success_threshold=1, reset_timeout=1.0)
    first = cluster.store(record_timeout=0.2)
    late, other = cluster.breaker(config, first), cluster.breaker(config, cluster.store())
    assert await outcome(late, down) == "failed"
    assert await outcome(other) == "rejected:open"
    cluster.clock.advance(1.5)
    probe = await late.acquire()
    await pause(client, 0.6)
    await probe.failure(ServerError("down", status=503))
    assert first.degraded  # the outcome went local: Redis did not take it in time
    await client.ping()  # the pause is over
    assert await late.current_state() is CircuitState.HALF_OPEN  # answered by Redis
    assert not first.degraded
    await first.aclose()  # sends what it queued: the lease, given back
    assert await outcome(other) == "ok"
