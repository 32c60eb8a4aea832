"""RedisStore: one circuit shared by every process and host that names it.

Each store operation is one Lua script (``_redis_scripts``) that applies the rules of
``circuit/machine.py`` atomically on the server, with the server's clock. The breaker
keeps its own record as the last state this process saw; this module keeps a little
more per circuit (``Known``): enough to skip a round trip that would change nothing,
to serve the optional closed-state cache, and to seed a local fallback when Redis is
slow or gone.

``redis`` (redis-py's ``redis.asyncio``) is imported when a ``RedisStore`` is built,
never when ``vex_llm`` is imported.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Final, Literal, Self

from ..circuit import (
    Admission,
    CircuitConfig,
    CircuitState,
    CircuitStore,
    LocalCircuit,
    Outcome,
    Snapshot,
    Ticket,
    Transition,
)
from . import _redis_scripts as scripts
from ._redis_link import Link
from ._redis_outbox import Outbox, Parcel
from ._redis_reply import US, Known, Reply
from .memory import MemoryStore

if TYPE_CHECKING:
    from types import TracebackType

    from redis.asyncio import Redis

    from ..circuit import ManualAction

OnError = Literal["local", "fail_open", "fail_closed"]
"""What a ``RedisStore`` does while Redis cannot be reached (see ``RedisStore``)."""

logger: Final = logging.getLogger("vex_llm")

_CLOSED: Final = CircuitState.CLOSED
_OPEN: Final = CircuitState.OPEN
_CORRUPT_PARTS: Final = {1: ("state", 0), 2: ("window", 2), 3: ("leases", 1)}
"""What a script reset (its ``corrupt`` code): the part's name and its key's index."""
_INSTALL_HINT: Final = "RedisStore needs the redis package: pip install 'vex-llm[redis]'"
_SOURCES: Final = (
    scripts.ACQUIRE,
    scripts.RECORD,
    scripts.RELEASE,
    scripts.FORCE,
    scripts.SNAPSHOT,
)
_ACQUIRE, _RECORD, _RELEASE, _FORCE, _SNAPSHOT = range(5)
_MAX_ORPHANS: Final = 1000
"""Probe leases remembered for giving back after an outage, at most (the oldest go)."""
_MAX_SECONDS: Final = 1e9
"""The longest duration sent to a script (about 31 years): CircuitConfig accepts any
finite one, but the scripts add durations in microseconds to the server's time, and the
sum must stay an exact integer in Lua's doubles (below 2**53 us). Longer ones are
clamped to this: open for 31 years is open."""


def _seconds(value: float) -> str:
    """A duration for a script, clamped to ``_MAX_SECONDS``."""
    return repr(min(float(value), _MAX_SECONDS))


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

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "vex",
        timeout: float = 0.05,
        on_error: OnError = "local",
        idle_ttl: float = 7 * 86400.0,
        closed_cache_ttl: float = 0.0,
        max_errors: int = 3,
        reconnect_after: float = 1.0,
        connect_timeout: float = 1.0,
        record_timeout: float = 1.0,
        max_connections: int = 16,
        max_queued_outcomes: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        clock_offset: Callable[[], float] | None = None,
    ) -> None:
        url_value: object = url
        if not isinstance(url_value, str):
            msg = (
                f"RedisStore takes a URL string, got {type(url_value).__name__}; "
                "wrap an existing client with RedisStore.from_client(client)"
            )
            raise TypeError(msg)
        self._configure(
            prefix=prefix,
            timeout=timeout,
            on_error=on_error,
            idle_ttl=idle_ttl,
            closed_cache_ttl=closed_cache_ttl,
            max_errors=max_errors,
            reconnect_after=reconnect_after,
            connect_timeout=connect_timeout,
            record_timeout=record_timeout,
            max_connections=max_connections,
            max_queued_outcomes=max_queued_outcomes,
            clock=clock,
            clock_offset=clock_offset,
        )
        try:
            import redis.asyncio as redis_asyncio
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError as exc:
            raise ImportError(_INSTALL_HINT) from exc
        # No retries inside redis-py: a retry would spend our whole timeout on one attempt
        # while the caller waits; the guard decides when to try again.
        # The store bounds each step itself (see _redis_link); the socket timeouts are
        # only a backstop, as long as the longest of those bounds.
        client = redis_asyncio.Redis.from_url(
            url,
            socket_timeout=max(connect_timeout, record_timeout, timeout),
            socket_connect_timeout=max(connect_timeout, timeout),
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        self._bind(client, owned=True)

    @classmethod
    def from_client(
        cls,
        client: Redis,
        *,
        prefix: str = "vex",
        timeout: float = 0.05,
        on_error: OnError = "local",
        idle_ttl: float = 7 * 86400.0,
        closed_cache_ttl: float = 0.0,
        max_errors: int = 3,
        reconnect_after: float = 1.0,
        connect_timeout: float = 1.0,
        record_timeout: float = 1.0,
        max_connections: int = 16,
        max_queued_outcomes: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        clock_offset: Callable[[], float] | None = None,
    ) -> Self:
        """A store over an existing ``redis.asyncio.Redis`` client (which you close).

        Give the client no retries of its own, so an unreachable Redis fails fast, and
        a socket timeout no shorter than ``record_timeout`` (or none), or it cuts short
        the outcomes sent in the background; the store bounds every step itself.

        Args:
            client: The client.
            prefix: See ``RedisStore``; likewise the other settings.
            timeout: Seconds a caller waits for Redis's answer.
            on_error: ``"local"``, ``"fail_open"`` or ``"fail_closed"``.
            idle_ttl: Seconds an unused circuit is kept.
            closed_cache_ttl: Seconds a closed state may be served locally (0: off).
            max_errors: Consecutive errors before Redis is left alone for a while.
            reconnect_after: Seconds between attempts to rejoin Redis.
            connect_timeout: Seconds to get a connection and the scripts ready.
            record_timeout: Seconds a batch of outcomes may take to reach Redis.
            max_connections: Connections in use at once, at most.
            max_queued_outcomes: Outcomes waiting to be sent, at most.
            clock: Monotonic seconds for the store's guard.
            clock_offset: Tests only: seconds added to the server's time.

        Returns:
            The store.

        Raises:
            ImportError: If redis-py is not installed.
            TypeError: If ``client`` is not a ``redis.asyncio.Redis``.
            ValueError: On an invalid setting.
        """
        store = cls.__new__(cls)
        store._configure(
            prefix=prefix,
            timeout=timeout,
            on_error=on_error,
            idle_ttl=idle_ttl,
            closed_cache_ttl=closed_cache_ttl,
            max_errors=max_errors,
            reconnect_after=reconnect_after,
            connect_timeout=connect_timeout,
            record_timeout=record_timeout,
            max_connections=max_connections,
            max_queued_outcomes=max_queued_outcomes,
            clock=clock,
            clock_offset=clock_offset,
        )
        try:
            import redis.asyncio as redis_asyncio
        except ImportError as exc:
            raise ImportError(_INSTALL_HINT) from exc
        client_value: object = client
        if not isinstance(client_value, redis_asyncio.Redis):
            msg = f"client must be a redis.asyncio.Redis, got {type(client_value).__name__}"
            raise TypeError(msg)
        store._bind(client, owned=False)
        return store

    def _configure(
        self,
        *,
        prefix: str,
        timeout: float,
        on_error: OnError,
        idle_ttl: float,
        closed_cache_ttl: float,
        max_errors: int,
        reconnect_after: float,
        connect_timeout: float,
        record_timeout: float,
        max_connections: int,
        max_queued_outcomes: int,
        clock: Callable[[], float],
        clock_offset: Callable[[], float] | None,
    ) -> None:
        _check_settings(
            prefix,
            on_error,
            seconds={
                "timeout": timeout,
                "idle_ttl": idle_ttl,
                "reconnect_after": reconnect_after,
                "connect_timeout": connect_timeout,
                "record_timeout": record_timeout,
            },
            counts={
                "max_errors": max_errors,
                "max_connections": max_connections,
                "max_queued_outcomes": max_queued_outcomes,
            },
            closed_cache_ttl=closed_cache_ttl,
        )
        self._prefix = prefix
        self._timeout = timeout
        self._on_error: OnError = on_error
        self._idle_ms = max(1, round(min(idle_ttl, _MAX_SECONDS) * 1000))
        self._cache_ttl = closed_cache_ttl
        self._max_errors = max_errors
        self._reconnect_after = reconnect_after
        self._connect_timeout = max(connect_timeout, timeout)
        self._record_timeout = record_timeout
        self._max_connections = max_connections
        self._max_queued = max_queued_outcomes
        self._clock = clock
        self._clock_offset = clock_offset
        self._known: dict[str, Known] = {}
        # Outcomes per circuit posted to the outbox and not settled yet.
        self._unsent: dict[str, int] = {}
        # Probe leases to give back when Redis answers again (RELEASE arguments).
        self._orphans: deque[tuple[str, Sequence[str]]] = deque(maxlen=_MAX_ORPHANS)
        self._keys: dict[str, list[str]] = {}
        self._configs: dict[int, tuple[CircuitConfig, list[str]]] = {}
        self._probe_args: dict[int, tuple[CircuitConfig, list[str]]] = {}
        self._shadow = MemoryStore()
        self._seeded: set[str] = set()
        self._degraded = False
        self._round_trips = 0
        self._errors = 0
        self._fallbacks = 0
        self._cache_hits = 0
        self._dropped = 0
        self._overflowing = False
        self._owned = False
        self._closed = False

    def _bind(self, client: Redis, *, owned: bool) -> None:
        from redis.exceptions import RedisError

        self._client = client
        self._owned = owned
        self._link = Link(client, _SOURCES, max_connections=self._max_connections)
        self._outbox = Outbox(self._deliver, capacity=self._max_queued)
        self._failures: tuple[type[BaseException], ...] = (
            RedisError,
            OSError,
            TimeoutError,
            ValueError,
        )
        # Our own circuit breaker rules, around the Redis client: after max_errors errors
        # in a row nobody waits for Redis until one probe, reconnect_after later, finds it
        # back. The pure machine rather than a CircuitBreaker: that one logs every
        # transition, which would repeat a warning at every failed reconnect; this store
        # logs the outage once (circuit_store_fallback) and the return once.
        self._guard = LocalCircuit()
        self._guard_config = CircuitConfig(
            failure_threshold=self._max_errors,
            success_threshold=1,
            half_open_max_calls=1,
            reset_timeout=self._reconnect_after,
            probe_lease_ttl=max(1.0, 10 * self._timeout),
        )

    def __repr__(self) -> str:
        # Never the URL: it may carry a password.
        return f"RedisStore(prefix={self._prefix!r}, degraded={self._degraded})"

    # -- health -------------------------------------------------------------------------

    @property
    def degraded(self) -> bool:
        """Whether the last Redis operation failed, so circuits run on the fallback."""
        return self._degraded

    @property
    def round_trips(self) -> int:
        """Round trips to Redis: one per operation, one per batch of outcomes (a NOSCRIPT
        reload counts as one)."""
        return self._round_trips

    @property
    def errors(self) -> int:
        """Redis operations that failed or timed out."""
        return self._errors

    @property
    def fallbacks(self) -> int:
        """Times the store switched to its fallback (``circuit_store_fallback`` events)."""
        return self._fallbacks

    @property
    def dropped_outcomes(self) -> int:
        """Outcomes that never reached Redis: refused by a full queue or unsent at close."""
        return self._dropped

    @property
    def queued_outcomes(self) -> int:
        """Outcomes waiting to be sent to Redis right now."""
        return len(self._outbox)

    @property
    def cache_hits(self) -> int:
        """Admissions served by the closed-state cache without asking Redis."""
        return self._cache_hits

    # -- plumbing -----------------------------------------------------------------------

    def _keys_for(self, name: str) -> list[str]:
        keys = self._keys.get(name)
        if keys is None:
            tag = f"{{{self._prefix}:{name}}}"
            keys = self._keys[name] = [f"{tag}:s", f"{tag}:p", f"{tag}:w", f"{tag}:x"]
        return keys

    def _record_args(self, config: CircuitConfig) -> list[str]:
        entry = self._configs.get(id(config))
        if entry is None or entry[0] is not config:
            minimum = config.minimum_calls
            if config.window == "count":
                minimum = min(minimum, config.window_size)
            args = [
                config.mode,
                str(config.failure_threshold),
                str(config.success_threshold),
                _seconds(config.reset_timeout),
                repr(config.backoff_multiplier),
                _seconds(config.open_cap),
                repr(config.jitter),
                config.retry_after,
                _seconds(config.retry_after_trip_min),
                config.window,
                str(config.window_size),
                _seconds(config.window_seconds),
                str(config.window_buckets),
                str(minimum),
                repr(config.failure_rate_threshold),
                repr(config.slow_call_rate_threshold),
            ]
            entry = self._configs[id(config)] = (config, args)
        return entry[1]

    def _acquire_args(self, config: CircuitConfig) -> list[str]:
        entry = self._probe_args.get(id(config))
        if entry is None or entry[0] is not config:
            ttl = min(config.probe_lease_ttl, _MAX_SECONDS)
            args = [str(config.probe_budget), str(round(ttl * US))]
            entry = self._probe_args[id(config)] = (config, args)
        return entry[1]

    def _argv(self, name: str, args: Sequence[str], *, pending: int) -> list[str]:
        offset = self._clock_offset
        return [
            "0" if offset is None else str(round(offset() * US)),
            str(self._idle_ms),
            secrets.token_hex(8),
            str(pending),
            *args,
        ]

    def _setup_timeout(self) -> float:
        """Seconds to get ready: generous while Redis is healthy, ``timeout`` after an error."""
        guard = self._guard
        if guard.state is _CLOSED and not guard.failures and not self._degraded:
            return self._connect_timeout
        return self._timeout

    @staticmethod
    def _parse(raw: object) -> Reply:
        if isinstance(raw, Exception):
            raise raw  # a script error: a failure like any other
        return Reply.parse(raw)

    async def _run(
        self,
        name: str,
        script: int,
        args: Sequence[str],
        now: float | None,
        *,
        abandon: Sequence[str] | None = None,
    ) -> Reply | None:
        """Run one script under the guard and the timeout; ``None`` means "use the fallback".

        ``abandon``: arguments of the RELEASE that undoes this operation, queued when it
        fails after it may have reached Redis (it may still run there, late).
        """
        known = self._known.get(name)
        pending = 0 if known is None else known.pending
        keys = self._keys_for(name)
        permit = self._guard_permit()
        if not permit.admitted:
            return None  # Redis failed recently: the guard says not to wait for it now
        self._round_trips += 1
        try:
            raws = await self._link.run(
                lambda: [(script, keys, self._argv(name, args, pending=pending))],
                within=self._timeout,
                setup_within=self._setup_timeout(),
            )
            reply = self._parse(raws[0])
        except self._failures as exc:
            self._settle_guard(permit, Outcome.FAILURE)
            self._failed(exc)
            self._give_up(name, abandon)
            return None
        except BaseException:
            self._settle_guard(permit, Outcome.IGNORED)  # cancelled: no verdict on Redis
            self._give_up(name, abandon)
            raise
        self._settle_guard(permit, Outcome.SUCCESS)
        if pending and known is not None:
            known.pending -= pending
        self._answered(name, reply, now)
        return reply

    def _answered(self, name: str, reply: Reply, now: float | None) -> None:
        """What every answer from Redis teaches: health, corruption, the circuit's state."""
        if self._degraded and self._guard.state is _CLOSED:
            self._rejoined()
        if reply.corrupt:
            logger.warning(
                "circuit_store_reset",
                extra={
                    "breaker": name,
                    "part": _CORRUPT_PARTS[reply.corrupt][0],
                    "key": self._keys_for(name)[_CORRUPT_PARTS[reply.corrupt][1]],
                },
            )
        if now is not None:
            self._learn(name, reply, now)

    def _guard_permit(self) -> Admission:
        permit = self._guard.acquire(self._guard_config, self._clock())
        if not permit.admitted:
            self._fall_back(None)
        return permit

    def _settle_guard(self, permit: Admission, outcome: Outcome) -> None:
        guard = self._guard
        if not permit.admitted:
            return  # sent without the guard's leave (the outbox): no verdict to give
        # A success in the closed state with no error streak changes nothing: skip the lock.
        if outcome is Outcome.SUCCESS and guard.state is _CLOSED and not guard.failures:
            return
        ticket = Ticket(permit.generation, permit.lease)
        guard.record(self._guard_config, ticket, outcome, self._clock())

    def _learn(self, name: str, reply: Reply, now: float) -> None:
        known = self._known.get(name)
        if known is not None:
            last = known.reply
            if last.incarnation == reply.incarnation and last.generation > reply.generation:
                return  # an older answer overtaken by a newer one
        open_until = None
        if reply.remaining_us >= 0:
            open_until = now + reply.remaining_us / US
        pending = 0 if known is None else known.pending
        self._known[name] = Known(reply, now, open_until, pending)

    def _failed(self, exc: BaseException) -> None:
        self._errors += 1
        self._fall_back(exc)

    def _fall_back(self, exc: BaseException | None) -> None:
        """Calls are decided locally from now on, until Redis answers with the guard closed."""
        if not self._degraded:
            self._degraded = True
            self._fallbacks += 1
            logger.warning(
                "circuit_store_fallback",
                extra={"store": self._prefix, "on_error": self._on_error, "error": repr(exc)},
            )

    def _rejoined(self) -> None:
        self._degraded = False
        # Whatever happened locally stays local: the shared state is the truth again.
        self._shadow = MemoryStore()
        self._seeded.clear()
        logger.info("circuit_store_rejoined", extra={"store": self._prefix})
        orphans = list(self._orphans)
        self._orphans.clear()
        for name, release in orphans:
            self._give_up(name, release)

    def _seed(self, name: str) -> None:
        """Start the local copy of a circuit from the last state Redis reported."""
        if name in self._seeded:
            return
        self._seeded.add(name)
        known = self._known.get(name)
        if known is None:
            return
        reply = known.reply
        self._shadow.local_circuit(name).restore(
            reply.snapshot(known.stamp),
            admitted=reply.counts[0] + known.pending,
            open_count=reply.open_count,
            open_until=known.open_until,
        )

    # -- the CircuitStore operations ----------------------------------------------------

    async def acquire(self, name: str, config: CircuitConfig, now: float) -> Admission:
        known = self._known.get(name)
        if (
            self._cache_ttl
            and known is not None
            and not self._degraded
            and known.reply.state is _CLOSED
            and known.reply.incarnation
            and 0 <= now - known.stamp < self._cache_ttl
        ):
            known.pending += 1
            self._cache_hits += 1
            reply = known.reply
            return Admission(True, _CLOSED, reply.generation, incarnation=reply.incarnation)
        # The admission's token is ours, so that one we give up on can be given back.
        token = secrets.token_hex(8)
        args = [*self._acquire_args(config), token]
        abandon = ["", "0", token, args[1]]
        reply_or_none = await self._run(name, _ACQUIRE, args, now, abandon=abandon)
        if reply_or_none is not None:
            return reply_or_none.admission(now)
        if self._on_error == "fail_open":
            return Admission(True, _CLOSED, self._last_generation(name))
        if self._on_error == "fail_closed":
            return Admission(
                False,
                _OPEN,
                self._last_generation(name),
                retry_after=self._reconnect_after,
                reason="open",
            )
        self._seed(name)
        return await self._shadow.acquire(name, config, now)

    def _last_generation(self, name: str) -> int:
        known = self._known.get(name)
        return 1 if known is None else known.reply.generation

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
        locally = functools.partial(
            self._record_locally,
            name,
            config,
            ticket,
            outcome,
            now,
            duration=duration,
            retry_after=retry_after,
            u=u,
        )
        if self._degraded and not ticket.incarnation:
            # Admitted by the fallback while Redis was failing: recorded there too, so
            # one call never waits for Redis twice.
            return await locally()
        failed = outcome is Outcome.FAILURE
        slow = (
            config.slow_call_duration is not None
            and duration is not None
            and duration > config.slow_call_duration
        )
        known = self._known.get(name)
        if (
            not failed
            and not slow
            and not ticket.lease
            and config.mode == "consecutive"
            and not self._degraded
            and known is not None
            and known.reply.state is _CLOSED
            and known.reply.failures == 0
            and known.reply.generation == ticket.generation
            and known.reply.incarnation == ticket.incarnation != ""
            and name not in self._unsent
        ):
            # A closed-state success with no failure streak to reset changes nothing in
            # Redis, so it costs no round trip. A streak another process starts while
            # this call runs is not reset by it: the shared breaker errs towards tripping.
            # One of our own outcomes still on its way (a failure, maybe) is waited for.
            return None
        args = [
            ticket.incarnation,
            str(ticket.generation),
            str(ticket.lease),
            "1" if failed else "0",
            "1" if slow else "0",
            "" if retry_after is None else _seconds(retry_after),
            repr(u),
            *self._record_args(config),
        ]
        return await self._post(name, _RECORD, args, now, locally)

    async def _record_locally(
        self,
        name: str,
        config: CircuitConfig,
        ticket: Ticket,
        outcome: Outcome,
        now: float,
        *,
        duration: float | None,
        retry_after: float | None,
        u: float,
    ) -> Transition | None:
        if self._on_error != "local":
            return None
        self._seed(name)
        return await self._shadow.record(
            name, config, ticket, outcome, now, duration=duration, retry_after=retry_after, u=u
        )

    async def release(self, name: str, ticket: Ticket) -> None:
        if ticket.incarnation or not self._degraded:
            args = [ticket.incarnation, str(ticket.generation), str(ticket.lease)]
            await self._post(
                name, _RELEASE, args, None, lambda: self._release_locally(name, ticket)
            )
        else:
            await self._release_locally(name, ticket)

    async def _release_locally(self, name: str, ticket: Ticket) -> None:
        if self._on_error == "local":
            self._seed(name)
            await self._shadow.release(name, ticket)

    # -- outcomes, off the caller's path ------------------------------------------------

    async def _post(
        self,
        name: str,
        script: int,
        args: Sequence[str],
        now: float | None,
        fallback: Callable[[], Awaitable[Transition | None]],
    ) -> Transition | None:
        """Queue one outcome for Redis; wait for its answer at most ``timeout``."""
        parcel = Parcel(name, script, args, now, fallback)
        unsent = self._unsent
        unsent[name] = unsent.get(name, 0) + 1
        parcel.done.add_done_callback(lambda _: self._sent(name))
        if not self._outbox.put(parcel):
            # Redis is not keeping up: this outcome stays local, and the next ones until
            # the queue has room again (logged once per such episode).
            parcel.done.set_result(None)
            self._dropped += 1
            if not self._overflowing:
                self._overflowing = True
                logger.warning(
                    "circuit_store_queue_full",
                    extra={"store": self._prefix, "capacity": self._max_queued},
                )
            return await fallback()
        self._overflowing = False
        done, _ = await asyncio.wait((parcel.done,), timeout=self._timeout)
        if done:
            return parcel.done.result()
        # Not answered in time: the outcome still goes to Redis; this caller moves on.
        parcel.unwatched = True
        return None

    def _give_up(self, name: str, abandon: Sequence[str] | None) -> None:
        """Queue the undoing of an operation we stopped waiting for; nobody waits on it."""
        if abandon is None:
            return
        parcel = Parcel(name, _RELEASE, abandon, None)
        if not self._outbox.put(parcel):
            parcel.done.set_result(None)
            self._dropped += 1

    async def _deliver(self, batch: Sequence[Parcel]) -> None:
        """Send one batch in order, bounded by ``record_timeout``; settle every parcel."""
        permit = self._guard_permit_quiet()
        self._round_trips += 1
        try:
            raws = await self._link.run(
                lambda: [
                    (p.script, self._keys_for(p.name), self._argv(p.name, p.args, pending=0))
                    for p in batch
                ],
                within=self._record_timeout,
                setup_within=max(self._connect_timeout, self._record_timeout),
            )
        except self._failures as exc:
            self._settle_guard(permit, Outcome.FAILURE)
            self._errors += 1
            for parcel in batch:
                await self._settle_locally(parcel, exc)
            return
        except BaseException:
            self._settle_guard(permit, Outcome.IGNORED)
            raise
        self._settle_guard(permit, Outcome.SUCCESS)
        for parcel, raw in zip(batch, raws, strict=True):
            try:
                reply = self._parse(raw)
            except self._failures as exc:
                await self._settle_locally(parcel, exc)
                continue
            self._answered(parcel.name, reply, parcel.now)
            made = None if parcel.now is None else reply.made(parcel.now)
            if made is not None and parcel.unwatched:
                # No breaker will report this one: its caller moved on before it landed.
                logger.warning(
                    "circuit_store_late_transition",
                    extra={
                        "breaker": parcel.name,
                        "from_state": made.from_state.value,
                        "to_state": made.to_state.value,
                        "reason": made.reason,
                    },
                )
            if not parcel.done.done():
                parcel.done.set_result(made)

    def _sent(self, name: str) -> None:
        left = self._unsent[name] - 1
        if left:
            self._unsent[name] = left
        else:
            del self._unsent[name]

    def _guard_permit_quiet(self) -> Admission:
        """The guard's leave for a batch; a batch goes even without it (it waits for no one)."""
        return self._guard.acquire(self._guard_config, self._clock())

    async def _settle_locally(self, parcel: Parcel, exc: BaseException) -> None:
        # A probe lease this operation would have freed in Redis is given back once Redis
        # answers again (see _rejoined), not left to run out its probe_lease_ttl.
        args = parcel.args
        if (parcel.script == _RELEASE and (args[1] == "0" or args[2] != "0")) or (
            parcel.script == _RECORD and args[2] != "0"
        ):
            self._orphans.append((parcel.name, args[:4] if args[1] == "0" else args[:3]))
        transition = None
        if parcel.fallback is not None:
            self._fall_back(exc)
            transition = await parcel.fallback()
        if not parcel.done.done():
            parcel.done.set_result(transition)

    async def force(
        self,
        name: str,
        config: CircuitConfig,
        action: ManualAction,
        now: float,
        *,
        duration: float | None = None,
    ) -> Transition | None:
        seconds = config.reset_timeout if duration is None else duration
        if action == "open" and not (math.isfinite(seconds) and seconds > 0):
            msg = f"force_open duration must be a finite number of seconds > 0, got {seconds!r}"
            raise ValueError(msg)
        reply = await self._run(name, _FORCE, [action, _seconds(seconds)], now)
        if reply is not None:
            return reply.made(now)
        # Manual actions taken while Redis is away apply to this process only.
        self._seed(name)
        return await self._shadow.force(name, config, action, now, duration=duration)

    async def snapshot(self, name: str, config: CircuitConfig, now: float) -> Snapshot:
        reply = await self._run(name, _SNAPSHOT, (), now)
        if reply is not None:
            return reply.snapshot(now)
        self._seed(name)
        return await self._shadow.snapshot(name, config, now)

    # -- lifecycle ----------------------------------------------------------------------

    async def aclose(self) -> None:
        """Send the outcomes still queued (waiting up to ``record_timeout``), then close
        the client if this store made it (from a URL). Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        left = await self._outbox.aclose(self._record_timeout)
        for parcel in left:
            parcel.done.set_result(None)
        if left:
            self._dropped += len(left)
            logger.warning(
                "circuit_store_outcomes_unsent", extra={"store": self._prefix, "count": len(left)}
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


def _check_settings(
    prefix: str,
    on_error: OnError,
    *,
    seconds: dict[str, float],
    counts: dict[str, int],
    closed_cache_ttl: float,
) -> None:
    """Raise ``ValueError`` naming the first invalid ``RedisStore`` setting."""
    prefix_value: object = prefix
    if not isinstance(prefix_value, str) or not prefix:
        msg = f"RedisStore prefix must be a non-empty string, got {prefix!r}"
        raise ValueError(msg)
    for field, value in seconds.items():
        if not (math.isfinite(value) and value > 0):
            msg = f"RedisStore {field} must be a finite number of seconds > 0, got {value!r}"
            raise ValueError(msg)
    if not (math.isfinite(closed_cache_ttl) and closed_cache_ttl >= 0):
        msg = f"RedisStore closed_cache_ttl must be seconds >= 0, got {closed_cache_ttl!r}"
        raise ValueError(msg)
    if on_error not in ("local", "fail_open", "fail_closed"):
        msg = f"RedisStore on_error must be 'local', 'fail_open' or 'fail_closed', got {on_error!r}"
        raise ValueError(msg)
    for field, count in counts.items():
        count_value: object = count
        if isinstance(count_value, bool) or not isinstance(count_value, int) or count < 1:
            msg = f"RedisStore {field} must be an integer >= 1, got {count!r}"
            raise ValueError(msg)
