"""RedisStore against a real redis-server: sharing, atomicity, round trips, the closed-state
cache, expiry, corrupt data, and what happens when Redis is slow, gone or back."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis_asyncio
from _circuits import down, logged, ok, outcome, pinned_offset, unique_prefix

from _redis_server import RedisServer, free_port
from vex_llm import (
    CircuitBreaker,
    CircuitConfig,
    CircuitOpenError,
    CircuitState,
    MockProvider,
    RedisStore,
    ResilientProvider,
    ServerError,
    StateChange,
)
from vex_llm.testing import ManualClock

pytestmark = pytest.mark.redis

EPS = 0.01
CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[redis_asyncio.Redis]:
    """A plain client on the session server, for looking under the hood."""
    plain = redis_asyncio.Redis.from_url(redis_server.url, decode_responses=True)
    yield plain
    await plain.aclose()


@pytest.fixture
def clock() -> ManualClock:
    """The clock the breakers and the pinned Redis time follow."""
    return ManualClock()


@pytest.fixture
async def stores(redis_server: RedisServer, clock: ManualClock) -> AsyncIterator[StoreFactory]:
    """Makes RedisStores on one fresh prefix (one per simulated process) and closes them."""
    factory = StoreFactory(redis_server.url, unique_prefix(), clock)
    yield factory
    for store in factory.made:
        await store.aclose()


class StoreFactory:
    def __init__(self, url: str, prefix: str, clock: ManualClock) -> None:
        self.url = url
        self.prefix = prefix
        self.clock = clock
        self.made: list[RedisStore] = []

    def store(self, **settings: object) -> RedisStore:
        """A store on this prefix with Redis time pinned to the clock."""
        options: dict[str, object] = {"timeout": 2.0, "clock_offset": pinned_offset(self.clock)}
        options.update(settings)
        store = RedisStore(self.url, prefix=self.prefix, **options)  # type: ignore[arg-type]
        self.made.append(store)
        return store

    def breaker(
        self, config: CircuitConfig, *, name: str = "c", store: RedisStore | None = None
    ) -> CircuitBreaker:
        return CircuitBreaker(
            config, name=name, clock=self.clock, store=store if store is not None else self.store()
        )

    def key(self, name: str, part: str) -> str:
        return f"{{{self.prefix}:{name}}}:{part}"


# -- construction -------------------------------------------------------------------------


def test_importing_vex_llm_needs_no_redis_package() -> None:
    """Without redis-py, vex_llm imports and RedisStore names the extra to install."""
    code = (
        "import sys; sys.modules['redis'] = None; import vex_llm\n"
        "try:\n    vex_llm.RedisStore('redis://127.0.0.1:1')\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "pip install 'vex-llm[redis]'" in result.stdout


@pytest.mark.parametrize(
    "settings",
    [
        {"timeout": 0.0},
        {"timeout": float("nan")},
        {"on_error": "retry"},
        {"prefix": ""},
        {"idle_ttl": -1.0},
        {"closed_cache_ttl": -0.1},
        {"max_errors": 0},
        {"reconnect_after": 0.0},
        {"connect_timeout": 0.0},
        {"record_timeout": float("inf")},
        {"max_connections": 0},
        {"max_queued_outcomes": True},
    ],
)
def test_bad_settings_fail_at_construction(settings: dict[str, object]) -> None:
    """Invalid settings raise ValueError when the store is built."""
    with pytest.raises(ValueError, match="RedisStore"):
        RedisStore("redis://127.0.0.1:1", **settings)  # type: ignore[arg-type]


def test_one_type_per_parameter() -> None:
    """A client goes through from_client; a URL that is not a URL fails at construction."""
    with pytest.raises(TypeError, match="from_client"):
        RedisStore(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"redis\.asyncio\.Redis"):
        RedisStore.from_client(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="redis"):
        RedisStore("http://127.0.0.1:1")


async def test_from_client_shares_the_circuit_and_leaves_the_client_open(
    stores: StoreFactory, client: redis_asyncio.Redis
) -> None:
    """from_client(client) is the same circuit as a URL store; aclose leaves your client open."""
    config = CircuitConfig(failure_threshold=1)
    wrapped = RedisStore.from_client(client, prefix=stores.prefix, timeout=2.0)
    await outcome(stores.breaker(config), down)
    assert await outcome(stores.breaker(config, store=wrapped)) == "rejected:open"
    await wrapped.aclose()
    assert await client.ping()


async def test_an_unreachable_redis_is_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    """Construction never connects; with no Redis the breaker runs locally and says so once."""
    caplog.set_level(logging.INFO, logger="vex_llm")
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", prefix=unique_prefix())
    breaker = CircuitBreaker(CircuitConfig(failure_threshold=2), name="c", store=store)
    assert await outcome(breaker) == "ok"
    assert await outcome(breaker, down) == "failed"
    assert await outcome(breaker, down) == "failed"
    assert await outcome(breaker) == "rejected:open"
    assert store.degraded
    assert logged(caplog, "circuit_store_fallback") == 1
    assert (await breaker.fetch_stats()).circuit_opens == 1
    await store.aclose()


async def test_construction_never_clobbers_shared_state(stores: StoreFactory) -> None:
    """B41: a new store and breaker on an open circuit find it open."""
    config = CircuitConfig(failure_threshold=1)
    await outcome(stores.breaker(config), down)
    late_comer = stores.breaker(config)
    assert await outcome(late_comer) == "rejected:open"
    assert (await late_comer.fetch_stats()).circuit_opens == 1


async def test_resilient_providers_in_two_processes_share_one_circuit(
    stores: StoreFactory,
) -> None:
    """ResilientProvider(store=RedisStore(...)): one replica's failures open the other's circuit."""
    config = CircuitConfig(failure_threshold=2)
    failing = ResilientProvider(
        MockProvider.failing(ServerError("down", status=503), name="llm"),
        config,
        store=stores.store(),
    )
    healthy_inner = MockProvider.smart(name="llm")
    healthy = ResilientProvider(healthy_inner, config, store=stores.store())
    for _ in range(2):
        with pytest.raises(ServerError):
            await failing.ask("hello")
    with pytest.raises(CircuitOpenError):
        await healthy.ask("hello")
    assert healthy_inner.requests == []


# -- time and atomicity -------------------------------------------------------------------


async def test_client_clock_skew_changes_nothing(stores: StoreFactory, clock: ManualClock) -> None:
    """B54: breakers whose clocks differ by an hour see one open period, on Redis time."""
    config = CircuitConfig(failure_threshold=1, reset_timeout=10.0)
    ahead = CircuitBreaker(config, name="c", clock=lambda: clock() + 3600.0, store=stores.store())
    behind = CircuitBreaker(config, name="c", clock=lambda: clock() - 3600.0, store=stores.store())
    await outcome(ahead, down)
    clock.advance(10.0 - EPS)
    for breaker in (ahead, behind):
        with pytest.raises(CircuitOpenError) as caught:
            await breaker.call(ok)
        assert caught.value.retry_after == pytest.approx(EPS, abs=EPS)
    clock.advance(2 * EPS)
    assert await behind.current_state() is HALF_OPEN


async def test_the_probe_budget_holds_across_processes(stores: StoreFactory) -> None:
    """B50: 4 stores x 25 tasks racing at the deadline: exactly K probes, one half-open event."""
    config = CircuitConfig(failure_threshold=1, reset_timeout=1.0, half_open_max_calls=2)
    breakers = [stores.breaker(config) for _ in range(4)]
    events: list[StateChange] = []
    for breaker in breakers:
        breaker.on_state_change(events.append)
    await outcome(breakers[0], down)
    stores.clock.advance(1.0 + EPS)

    async def try_acquire(breaker: CircuitBreaker) -> bool:
        try:
            await breaker.acquire()
        except CircuitOpenError:
            return False
        return True

    admitted = await asyncio.gather(*(try_acquire(b) for b in breakers for _ in range(25)))
    assert sum(admitted) == 2
    assert [(e.from_state, e.to_state) for e in events[1:]] == [(OPEN, HALF_OPEN)]


async def test_exactly_one_trip_under_contention(stores: StoreFactory) -> None:
    """B51: 40 concurrent failures from 4 stores open the circuit once, with one event."""
    config = CircuitConfig(failure_threshold=5)
    breakers = [stores.breaker(config) for _ in range(4)]
    events: list[StateChange] = []
    for breaker in breakers:
        breaker.on_state_change(events.append)
    results = await asyncio.gather(*(outcome(b, down) for b in breakers for _ in range(10)))
    assert results.count("failed") >= 5
    assert [(e.from_state, e.to_state) for e in events] == [(CLOSED, OPEN)]
    assert (await breakers[0].fetch_stats()).circuit_opens == 1


# -- round trips and the closed-state cache ------------------------------------------------


async def evalsha_calls(client: redis_asyncio.Redis) -> int:
    stats = await client.info("commandstats")
    entry = stats.get("cmdstat_evalsha", {})
    return int(entry.get("calls", 0)) if isinstance(entry, dict) else 0


async def test_a_closed_call_costs_one_round_trip(
    stores: StoreFactory, client: redis_asyncio.Redis
) -> None:
    """Closed state: one script per call (the admission); a plain success sends nothing."""
    store = stores.store()
    breaker = stores.breaker(CircuitConfig(), store=store)
    await outcome(breaker)
    before, trips_before = await evalsha_calls(client), store.round_trips
    for _ in range(50):
        assert await outcome(breaker) == "ok"
    assert store.round_trips - trips_before == 50
    assert await evalsha_calls(client) - before == 50


async def test_a_failure_streak_is_reset_by_the_next_success(stores: StoreFactory) -> None:
    """A success after a failure is sent (it resets the streak); the next one is not."""
    store = stores.store()
    breaker = stores.breaker(CircuitConfig(failure_threshold=3), store=store)
    await outcome(breaker, down)
    before = store.round_trips
    await outcome(breaker)
    assert store.round_trips - before == 2
    await outcome(breaker)
    assert store.round_trips - before == 3
    assert (await breaker.fetch_stats()).consecutive_failures == 0


async def test_the_closed_cache_is_bounded_by_its_ttl(stores: StoreFactory) -> None:
    """closed_cache_ttl: admissions without Redis for at most the TTL after the last answer."""
    config = CircuitConfig(failure_threshold=1)
    cached = stores.store(closed_cache_ttl=0.5)
    breaker = stores.breaker(config, store=cached)
    await outcome(breaker)
    trips = cached.round_trips
    for _ in range(10):
        assert await outcome(breaker) == "ok"
    assert (cached.round_trips - trips, cached.cache_hits) == (0, 10)
    await outcome(stores.breaker(config), down)  # another process opens the circuit
    stores.clock.advance(0.5 - EPS)
    assert await outcome(breaker) == "ok"  # still inside the documented bound
    stores.clock.advance(2 * EPS)
    assert await outcome(breaker) == "rejected:open"
    stats = await breaker.fetch_stats()
    assert stats.total_requests == 1 + 10 + 1 + 1 + 1  # cached calls reach the shared count


async def test_the_closed_cache_sees_its_own_trip_at_once(stores: StoreFactory) -> None:
    """A process that trips the circuit stops admitting from its cache immediately."""
    cached = stores.store(closed_cache_ttl=60.0)
    breaker = stores.breaker(CircuitConfig(failure_threshold=1), store=cached)
    await outcome(breaker)
    await outcome(breaker, down)
    assert await outcome(breaker) == "rejected:open"


async def test_half_open_admission_is_never_cached(stores: StoreFactory) -> None:
    """Half-open probes always ask Redis, so the budget holds with the cache on."""
    config = CircuitConfig(failure_threshold=1, success_threshold=1, reset_timeout=1.0)
    first = stores.breaker(config, store=stores.store(closed_cache_ttl=0.5))
    second = stores.breaker(config, store=stores.store(closed_cache_ttl=0.5))
    await outcome(first)
    await outcome(second)
    await outcome(first, down)
    stores.clock.advance(1.0 + EPS)
    probe = await first.acquire()
    # first's last answer (half-open) is fresh; it asks Redis all the same.
    assert await outcome(first) == "rejected:half_open_full"
    assert await outcome(second) == "rejected:half_open_full"
    await probe.success()
    assert await first.current_state() is CLOSED


# -- keys, expiry, corrupt data -----------------------------------------------------------


async def test_keys_share_one_hash_tag_and_idle_circuits_expire(
    stores: StoreFactory, client: redis_asyncio.Redis
) -> None:
    """Keys are {prefix:name}:*; an idle circuit expires, one isolated by hand does not."""
    breaker = stores.breaker(CircuitConfig(), store=stores.store(idle_ttl=60.0))
    await outcome(breaker)
    keys = await client.keys(f"*{stores.prefix}*")
    assert keys == [stores.key("c", "s")]
    assert 0 < await client.pttl(stores.key("c", "s")) <= 60_000
    await breaker.apply("isolate")
    assert await client.pttl(stores.key("c", "s")) == -1
    await breaker.apply("close")
    assert await client.pttl(stores.key("c", "s")) > 0


CORRUPTIONS = {
    "not a hash": [("set", "s", "garbage")],
    "foreign hash": [("hset", "s", {"owner": "someone else"})],
    "bad numbers": [("hset", "s", {"v": "vex1", "inc": "x", "gen": "one", "st": "0"})],
    "unknown state": [("hset", "s", {"v": "vex1", "inc": "x", "gen": "1", "st": "7"})],
    "leases not a zset": [("set", "p", "garbage")],
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
async def test_corrupt_state_is_reset_with_a_warning(
    stores: StoreFactory,
    client: redis_asyncio.Redis,
    caplog: pytest.LogCaptureFixture,
    corruption: str,
) -> None:
    """Foreign or corrupt data under a circuit's keys is reset with a warning, never a crash."""
    breaker = stores.breaker(CircuitConfig(failure_threshold=1))
    await outcome(breaker, down)
    await client.delete(stores.key("c", "s"))
    for command, part, value in CORRUPTIONS[corruption]:
        if command == "set":
            await client.set(stores.key("c", part), str(value))
        else:
            assert isinstance(value, dict)
            await client.hset(stores.key("c", part), mapping=value)  # type: ignore[misc]
    assert await outcome(breaker) == "ok"
    assert logged(caplog, "circuit_store_reset") == 1
    stats = await breaker.fetch_stats()
    assert (stats.state, stats.total_requests) == (CLOSED, 1)
    assert await outcome(breaker, down) == "failed"
    assert await breaker.current_state() is OPEN


async def test_a_corrupt_window_is_reset_with_a_warning(
    stores: StoreFactory, client: redis_asyncio.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """A ratio window with impossible totals starts over, logged, and keeps counting."""
    config = CircuitConfig(mode="ratio", window_size=4, minimum_calls=2)
    breaker = stores.breaker(config)
    await outcome(breaker, down)
    await client.hset(stores.key("c", "w"), "n", "999")  # type: ignore[misc]
    await outcome(breaker, down)
    assert logged(caplog, "circuit_store_reset") == 1
    await outcome(breaker, down)
    assert await breaker.current_state() is OPEN


async def test_scripts_come_back_after_a_script_flush(
    stores: StoreFactory, client: redis_asyncio.Redis
) -> None:
    """EVALSHA falls back to loading the script when the server lost it (NOSCRIPT)."""
    store = stores.store()
    breaker = stores.breaker(CircuitConfig(), store=store)
    await outcome(breaker)
    await client.script_flush()
    assert await outcome(breaker) == "ok"
    assert not store.degraded


# -- when Redis is slow or gone -----------------------------------------------------------


def outage_store(server: RedisServer, **settings: object) -> RedisStore:
    options: dict[str, object] = {"timeout": 0.05, "reconnect_after": 0.1}
    options.update(settings)
    return RedisStore(server.url, prefix=unique_prefix(), **options)  # type: ignore[arg-type]


async def test_a_hung_redis_delays_a_call_by_at_most_the_timeout(
    own_redis_server: RedisServer,
) -> None:
    """A frozen Redis costs each call at most the timeout, and nothing once the guard opens."""
    store = outage_store(own_redis_server, max_errors=2)
    breaker = CircuitBreaker(CircuitConfig(), name="c", store=store)
    await outcome(breaker)
    own_redis_server.pause()
    try:
        delays = []
        for _ in range(6):
            started = time.perf_counter()
            assert await outcome(breaker) == "ok"
            delays.append(time.perf_counter() - started)
        assert max(delays) < 0.05 + 0.04
        assert max(delays[3:]) < 0.01  # the guard is open: Redis is not even asked
        assert store.degraded
    finally:
        own_redis_server.resume()
    await asyncio.sleep(0.15)
    assert await outcome(breaker) == "ok"
    assert not store.degraded
    await store.aclose()


async def test_the_fallback_continues_from_the_last_known_state(
    own_redis_server: RedisServer,
) -> None:
    """on_error="local": the local copy starts from Redis's streak, so the trip point holds."""
    store = outage_store(own_redis_server)
    breaker = CircuitBreaker(CircuitConfig(failure_threshold=3), name="c", store=store)
    await outcome(breaker, down)
    await outcome(breaker, down)
    own_redis_server.stop()
    assert await outcome(breaker, down) == "failed"
    assert await outcome(breaker) == "rejected:open"
    assert breaker.state is OPEN
    await store.aclose()


async def test_manual_isolation_survives_the_fallback_and_redis_comes_back(
    own_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """An isolated circuit stays isolated without Redis; a restarted Redis is rejoined."""
    caplog.set_level(logging.INFO, logger="vex_llm")
    store = outage_store(own_redis_server)
    breaker = CircuitBreaker(CircuitConfig(), name="c", store=store)
    await breaker.apply("isolate")
    own_redis_server.stop()
    for _ in range(5):
        assert await outcome(breaker) == "rejected:isolated"
    assert store.degraded
    assert logged(caplog, "circuit_store_fallback") == 1
    own_redis_server.start()
    await asyncio.sleep(0.15)
    # The restarted server kept nothing (no persistence): the shared circuit is new.
    assert await outcome(breaker) == "ok"
    assert not store.degraded
    assert breaker.state is CLOSED
    assert logged(caplog, "circuit_store_rejoined") == 1
    await store.aclose()


@pytest.mark.parametrize(
    ("on_error", "expected"), [("fail_open", "ok"), ("fail_closed", "rejected:open")]
)
async def test_fail_open_and_fail_closed(on_error: str, expected: str) -> None:
    """on_error="fail_open" admits every call without Redis; "fail_closed" rejects them."""
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", on_error=on_error)  # type: ignore[arg-type]
    breaker = CircuitBreaker(CircuitConfig(failure_threshold=1), name="c", store=store)
    for _ in range(3):
        assert await outcome(breaker, down if expected == "ok" else ok) in (expected, "failed")
    assert await outcome(breaker) == expected
    await store.aclose()
