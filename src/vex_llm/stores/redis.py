"""RedisStore: one circuit shared by every process and host that names it.

Each store operation is one Lua script (``_redis_scripts``) that applies the rules of
``circuit/machine.py`` atomically on the server, with the server's clock. The breaker
keeps its own record as the last state this process saw; the store keeps a little more
per circuit (``Known``): enough to skip a round trip that would change nothing, to serve
the optional closed-state cache, and to seed a local fallback when Redis is slow or gone.

This module is the store's public face and its decisions; ``_redis_engine`` runs the
scripts (``_redis_link``), sends outcomes off the callers' path (``_redis_outbox``) and
keeps the local copy; ``_redis_health`` guards the client; ``_redis_settings`` and
``_redis_args`` hold the settings and the scripts' arguments.

``redis`` (redis-py's ``redis.asyncio``) is imported when a ``RedisStore`` is built,
never when ``vex_llm`` is imported.
"""

from __future__ import annotations

import functools
import logging
import secrets
from typing import TYPE_CHECKING, Final, Self, Unpack

from ..circuit import (
    Admission,
    CircuitConfig,
    CircuitState,
    CircuitStore,
    Outcome,
    Snapshot,
    Ticket,
    Transition,
    machine,
)
from ._redis_client import checked_client, client_from_url
from ._redis_engine import ACQUIRE, FORCE, RECORD, RELEASE, SNAPSHOT, Engine
from ._redis_settings import OnError, Settings, StoreSettings, seconds

if TYPE_CHECKING:
    from types import TracebackType

    from redis.asyncio import Redis

    from ..circuit import ManualAction

__all__ = ["OnError", "RedisStore", "StoreSettings"]

logger: Final = logging.getLogger("vex_llm")

_CLOSED: Final = CircuitState.CLOSED
_OPEN: Final = CircuitState.OPEN


class RedisStore(CircuitStore):
    """Circuit state in Redis, shared by every process and host that uses the same keys.

    Breakers with one name over RedisStores with one prefix and one Redis are one
    circuit: N replicas open together, and the half-open probe budget holds across all
    of them. Every operation is one atomic Lua script run with the Redis server's clock,
    so client clock skew changes nothing. Construction never connects; the first call
    does.

    ``breaker.state`` is the last state this process saw (no I/O); ``await
    breaker.current_state()`` and ``await breaker.fetch_stats()`` ask Redis. A call in
    the closed state costs one round trip (its admission; a success that would change
    nothing is not sent), or none while ``closed_cache_ttl`` serves it.

    When Redis is slow or gone, no admission waits longer than ``timeout`` for its
    answer: the call is decided on a fallback instead (``on_error``), the event is logged
    once as ``circuit_store_fallback`` and ``degraded`` turns true; it turns false again
    when Redis answers and calls are decided there again. A small circuit breaker (the
    same rules, on a private record) guards the Redis client itself: after
    ``max_errors`` consecutive errors it stops trying for ``reconnect_after`` seconds,
    then one probe decides whether to rejoin (logged as ``circuit_store_rejoined``).
    Local decisions made meanwhile stay local.

    Getting ready is not an outage: taking a connection (opening one, at most
    ``max_connections``) and loading the scripts are bounded by ``connect_timeout``
    while Redis is healthy, not by ``timeout``; after an error, by ``timeout`` too.

    Outcomes are never dropped to protect a caller's latency. ``record`` (and
    ``release``) queue the outcome and wait for its answer at most ``timeout``; the
    outcome goes on to Redis in the background, in order (one queue, one sender,
    pipelined batches), each batch bounded by ``record_timeout``. Only an outcome that
    misses that bound (Redis really is away), or finds ``max_queued_outcomes`` waiting,
    is applied locally instead (``dropped_outcomes`` counts the latter). A transition
    made by an outcome that lands after its caller stopped waiting is not reported to
    that caller's breaker (its listeners miss it); the shared state has it at once, and
    the store logs it as ``circuit_store_late_transition``. ``aclose()`` waits up to
    ``record_timeout`` for the queue to drain.

    Build from a URL with ``RedisStore(url, ...)`` (the store owns that client and
    ``aclose()`` closes it) or around your own ``redis.asyncio.Redis`` with
    ``RedisStore.from_client(client, ...)`` (you close it). Use one store per event loop.

    Args:
        url: A Redis URL, e.g. ``redis://127.0.0.1:6379/0`` (``rediss://`` for TLS).
        prefix: Namespace of the keys (``{<prefix>:<name>}:s`` and friends; one hash
            tag per circuit, so Redis Cluster keeps a circuit on one slot).
        timeout: Seconds a caller waits for Redis's answer -- an admission, or the
            answer to its outcome -- before it goes on without it (default 0.05: far
            above a healthy round trip, far below an LLM call).
        on_error: While Redis cannot be reached: ``"local"`` (default) runs each circuit
            on an in-process copy seeded with the last state seen (manual isolation
            included); ``"fail_open"`` admits every call; ``"fail_closed"`` rejects them.
        idle_ttl: Seconds after which a circuit nobody used disappears from Redis
            (default 7 days); a circuit isolated by hand never expires.
        closed_cache_ttl: Seconds a closed state learned from Redis may admit calls
            without asking again (default 0: off). The bound on staleness: a process
            may admit calls for up to this long after another process opened the
            circuit; its own trips it sees at once; half-open admission is never cached.
        max_errors: Consecutive Redis errors after which the store stops trying Redis
            for ``reconnect_after`` seconds (default 3).
        reconnect_after: Seconds between attempts to rejoin Redis (default 1).
        connect_timeout: Seconds an operation may spend getting ready -- waiting for a
            free connection, opening one, loading the scripts -- while Redis is healthy
            (default 1: a handshake under a burst on a busy host, not an outage).
        record_timeout: Seconds a batch of outcomes may take to reach Redis, off the
            callers' path (default 1: rides out a pause or a busy server that the
            admission ``timeout`` does not).
        max_connections: Connections in use at once, at most (default 16); more
            concurrent operations wait for one (part of getting ready).
        max_queued_outcomes: Outcomes waiting to be sent, at most (default 1000); when
            full, a new outcome is applied locally and counted in ``dropped_outcomes``.
        clock: Monotonic seconds for the store's own guard (default ``time.monotonic``).
        clock_offset: For tests: a function returning seconds added to the Redis
            server's time in every script, to move a shared circuit through time without
            sleeping (every store sharing the circuit must use the same one). ``None``
            (default) uses the server's time as it is.

    Raises:
        ImportError: If redis-py is not installed (``pip install 'vex-llm[redis]'``).
        ValueError: On an invalid setting or a malformed URL.
    """

    def __init__(self, url: str, **settings: Unpack[StoreSettings]) -> None:
        config = Settings(**settings)
        client = client_from_url(
            "RedisStore",
            url,
            socket_timeout=max(config.connect_timeout, config.record_timeout, config.timeout),
            connect_timeout=config.setup_timeout,
        )
        self._bind(config, client, owned=True)

    @classmethod
    def from_client(cls, client: Redis, **settings: Unpack[StoreSettings]) -> Self:
        """A store over an existing ``redis.asyncio.Redis`` client (which you close).

        Give the client no retries of its own, so an unreachable Redis fails fast, and
        a socket timeout no shorter than ``record_timeout`` (or none), or it cuts short
        the outcomes sent in the background; the store bounds every step itself.

        Args:
            client: The client.
            **settings: The settings of ``RedisStore`` (``prefix``, ``timeout``,
                ``on_error``, ``idle_ttl``, ``closed_cache_ttl``, ``max_errors``,
                ``reconnect_after``, ``connect_timeout``, ``record_timeout``,
                ``max_connections``, ``max_queued_outcomes``, ``clock``,
                ``clock_offset``), with the same defaults.

        Returns:
            The store.

        Raises:
            ImportError: If redis-py is not installed.
            TypeError: If ``client`` is not a ``redis.asyncio.Redis``.
            ValueError: On an invalid setting.
        """
        config = Settings(**settings)
        client = checked_client("RedisStore", client)
        store = cls.__new__(cls)
        store._bind(config, client, owned=False)
        return store

    def _bind(self, settings: Settings, client: Redis, *, owned: bool) -> None:
        from redis.exceptions import RedisError

        self._settings = settings
        self._client = client
        self._owned = owned
        self._closed = False
        self._engine = Engine(settings, client, (RedisError, OSError, TimeoutError, ValueError))

    def __repr__(self) -> str:
        # Never the URL: it may carry a password.
        return f"RedisStore(prefix={self._settings.prefix!r}, degraded={self.degraded})"

    # -- health -------------------------------------------------------------------------

    @property
    def degraded(self) -> bool:
        """Whether the last Redis operation failed, so circuits run on the fallback."""
        return self._engine.health.degraded

    @property
    def round_trips(self) -> int:
        """Round trips to Redis: one per operation, one per batch of outcomes (a NOSCRIPT
        reload counts as one)."""
        return self._engine.round_trips

    @property
    def errors(self) -> int:
        """Redis operations that failed or timed out."""
        return self._engine.health.errors

    @property
    def fallbacks(self) -> int:
        """Times the store switched to its fallback (``circuit_store_fallback`` events)."""
        return self._engine.health.fallbacks

    @property
    def dropped_outcomes(self) -> int:
        """Outcomes that never reached Redis: refused by a full queue or unsent at close."""
        return self._engine.dropped

    @property
    def queued_outcomes(self) -> int:
        """Outcomes waiting to be sent to Redis right now."""
        return len(self._engine.outbox)

    @property
    def cache_hits(self) -> int:
        """Admissions served by the closed-state cache without asking Redis."""
        return self._engine.cache_hits

    # -- the CircuitStore operations ----------------------------------------------------

    async def acquire(self, name: str, config: CircuitConfig, now: float) -> Admission:
        engine = self._engine
        cached = engine.cached_admission(name, now)
        if cached is not None:
            return cached
        # The admission's token is ours, so that one we give up on can be given back.
        token = secrets.token_hex(8)
        args = [*engine.args.acquire(config), token]
        abandon = ["", "0", token, args[1]]
        reply = await engine.run(name, ACQUIRE, args, now, abandon=abandon)
        if reply is not None:
            return reply.admission(now)
        on_error = self._settings.on_error
        if on_error == "fail_open":
            return Admission(True, _CLOSED, engine.last_generation(name))
        if on_error == "fail_closed":
            return Admission(
                False,
                _OPEN,
                engine.last_generation(name),
                retry_after=self._settings.reconnect_after,
                reason="open",
            )
        return await engine.seed(name).acquire(name, config, now)

    async def record(
        self,
        name: str,
        config: CircuitConfig,
        ticket: Ticket,
        outcome: Outcome,
        now: float,
        *,
        duration: float | None = None,
        retry_after: float | None = None,
        u: float = 0.0,
    ) -> Transition | None:
        if outcome is Outcome.IGNORED:
            await self.release(name, ticket)
            return None
        engine = self._engine
        failed = outcome is Outcome.FAILURE
        slow = (
            config.slow_call_duration is not None
            and duration is not None
            and duration > config.slow_call_duration
        )
        # Never true while degraded, so the fallback below still sees every outcome.
        if not failed and not slow and engine.changes_nothing(name, config, ticket):
            return None
        locally = functools.partial(
            engine.record_locally,
            name,
            config,
            ticket,
            outcome,
            now,
            duration=duration,
            retry_after=retry_after,
            u=u,
        )
        if engine.health.degraded and not ticket.incarnation:
            # Admitted by the fallback while Redis was failing: recorded there too, so
            # one call never waits for Redis twice.
            return await locally()
        args = [
            ticket.incarnation,
            str(ticket.generation),
            str(ticket.lease),
            "1" if failed else "0",
            "1" if slow else "0",
            "" if retry_after is None else seconds(retry_after),
            repr(u),
            *engine.args.record(config),
        ]
        return await engine.post(name, RECORD, args, now, locally)

    async def release(self, name: str, ticket: Ticket) -> None:
        if ticket.incarnation or not self._engine.health.degraded:
            args = [ticket.incarnation, str(ticket.generation), str(ticket.lease)]
            await self._engine.post(
                name, RELEASE, args, None, lambda: self._engine.release_locally(name, ticket)
            )
        else:
            await self._engine.release_locally(name, ticket)

    async def force(
        self,
        name: str,
        config: CircuitConfig,
        action: ManualAction,
        now: float,
        *,
        duration: float | None = None,
    ) -> Transition | None:
        hold = config.reset_timeout if duration is None else duration
        if action == "open":
            hold = machine.open_hold(config, duration)
        reply = await self._engine.run(name, FORCE, [action, seconds(hold)], now)
        if reply is not None:
            return reply.made(now)
        # Manual actions taken while Redis is away apply to this process only.
        shadow = self._engine.seed(name)
        return await shadow.force(name, config, action, now, duration=duration)

    async def snapshot(self, name: str, config: CircuitConfig, now: float) -> Snapshot:
        reply = await self._engine.run(name, SNAPSHOT, (), now)
        if reply is not None:
            return reply.snapshot(now)
        return await self._engine.seed(name).snapshot(name, config, now)

    # -- lifecycle ----------------------------------------------------------------------

    async def aclose(self) -> None:
        """Send the outcomes still queued (waiting up to ``record_timeout``), then close
        the client if this store made it (from a URL). Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        engine = self._engine
        left = await engine.outbox.aclose(self._settings.record_timeout)
        for parcel in left:
            parcel.done.set_result(None)
        if left:
            engine.dropped += len(left)
            logger.warning(
                "circuit_store_outcomes_unsent",
                extra={"store": self._settings.prefix, "count": len(left)},
            )
        if self._owned:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
