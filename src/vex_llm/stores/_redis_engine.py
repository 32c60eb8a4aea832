"""The machinery under ``RedisStore``: scripts run under the guard, answers learned,
outcomes sent off the callers' path, and the local copy used while Redis is away."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Final

from ..circuit import Admission, CircuitState, Outcome, Transition
from . import _redis_scripts as scripts
from ._redis_args import Arguments
from ._redis_health import Health
from ._redis_link import Link
from ._redis_outbox import Outbox, Parcel
from ._redis_reply import US, Known, Reply
from .memory import MemoryStore

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from ..circuit import CircuitConfig, Ticket
    from ._redis_settings import Settings

logger: Final = logging.getLogger("vex_llm")

_CLOSED: Final = CircuitState.CLOSED

ACQUIRE, RECORD, RELEASE, FORCE, SNAPSHOT = range(5)
"""Script ids, in the order of ``_SOURCES``."""
_SOURCES: Final = (
    scripts.ACQUIRE,
    scripts.RECORD,
    scripts.RELEASE,
    scripts.FORCE,
    scripts.SNAPSHOT,
)
_CORRUPT_PARTS: Final = {1: ("state", 0), 2: ("window", 2), 3: ("leases", 1)}
"""What a script reset (its ``corrupt`` code): the part's name and its key's index."""
_MAX_ORPHANS: Final = 1000
"""Probe leases remembered for giving back after an outage, at most (the oldest go)."""

Fallback = Callable[[], Awaitable[Transition | None]]


class Engine:
    """Runs the store's scripts and keeps what this process learned from them."""

    def __init__(
        self,
        settings: Settings,
        client: Redis,
        failures: tuple[type[BaseException], ...],
    ) -> None:
        self.settings = settings
        self.args = Arguments(settings)
        self.health = Health(settings)
        self.failures = failures
        self.link = Link(client, _SOURCES, max_connections=settings.max_connections)
        self.outbox = Outbox(self._deliver, capacity=settings.max_queued_outcomes)
        self.known: dict[str, Known] = {}
        # Outcomes per circuit posted to the outbox and not settled yet.
        self.unsent: dict[str, int] = {}
        # Probe leases to give back when Redis answers again (RELEASE arguments).
        self._orphans: deque[tuple[str, Sequence[str]]] = deque(maxlen=_MAX_ORPHANS)
        self.shadow = MemoryStore()
        self._seeded: set[str] = set()
        self.round_trips = 0
        self.cache_hits = 0
        self.dropped = 0
        self._overflowing = False

    def _parse(self, raw: object) -> Reply:
        if isinstance(raw, Exception):
            raise raw  # a script error: a failure like any other
        return Reply.parse(raw)

    async def run(
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
        known = self.known.get(name)
        pending = 0 if known is None else known.pending
        keys = self.args.keys(name)
        health = self.health
        permit = health.permit()
        if not permit.admitted:
            return None  # Redis failed recently: the guard says not to wait for it now
        self.round_trips += 1
        try:
            raws = await self.link.run(
                lambda: [(script, keys, self.args.argv(args, pending=pending))],
                within=self.settings.timeout,
                setup_within=health.setup_timeout(),
            )
            reply = self._parse(raws[0])
        except self.failures as exc:
            health.settle(permit, Outcome.FAILURE)
            health.failed(exc)
            self.give_up(name, abandon)
            return None
        except BaseException:
            health.settle(permit, Outcome.IGNORED)  # cancelled: no verdict on Redis
            self.give_up(name, abandon)
            raise
        health.settle(permit, Outcome.SUCCESS)
        if pending and known is not None:
            known.pending -= pending
        self._answered(name, reply, now)
        return reply

    def _answered(self, name: str, reply: Reply, now: float | None) -> None:
        """What every answer from Redis teaches: health, corruption, the circuit's state."""
        if self.health.rejoins():
            self._rejoined()
        if reply.corrupt:
            part, key = _CORRUPT_PARTS[reply.corrupt]
            logger.warning(
                "circuit_store_reset",
                extra={"breaker": name, "part": part, "key": self.args.keys(name)[key]},
            )
        if now is not None:
            self._learn(name, reply, now)

    def _learn(self, name: str, reply: Reply, now: float) -> None:
        known = self.known.get(name)
        if known is not None:
            last = known.reply
            if last.incarnation == reply.incarnation and last.generation > reply.generation:
                return  # an older answer overtaken by a newer one
        open_until = None
        if reply.remaining_us >= 0:
            open_until = now + reply.remaining_us / US
        pending = 0 if known is None else known.pending
        self.known[name] = Known(reply, now, open_until, pending)

    def _rejoined(self) -> None:
        # Whatever happened locally stays local: the shared state is the truth again.
        self.shadow = MemoryStore()
        self._seeded.clear()
        logger.info("circuit_store_rejoined", extra={"store": self.settings.prefix})
        orphans = list(self._orphans)
        self._orphans.clear()
        for name, release in orphans:
            self.give_up(name, release)

    def seed(self, name: str) -> MemoryStore:
        """The local copy, with the circuit started from the last state Redis reported."""
        if name not in self._seeded:
            self._seeded.add(name)
            known = self.known.get(name)
            if known is not None:
                reply = known.reply
                self.shadow.local_circuit(name).restore(
                    reply.snapshot(known.stamp),
                    admitted=reply.counts[0] + known.pending,
                    open_count=reply.open_count,
                    open_until=known.open_until,
                )
        return self.shadow

    def cached_admission(self, name: str, now: float) -> Admission | None:
        """A closed state learned less than ``closed_cache_ttl`` ago admits by itself."""
        known = self.known.get(name)
        ttl = self.settings.closed_cache_ttl
        if (
            not ttl
            or known is None
            or self.health.degraded
            or known.reply.state is not _CLOSED
            or not known.reply.incarnation
            or not 0 <= now - known.stamp < ttl
        ):
            return None
        known.pending += 1
        self.cache_hits += 1
        reply = known.reply
        return Admission(True, _CLOSED, reply.generation, incarnation=reply.incarnation)

    def last_generation(self, name: str) -> int:
        """The generation Redis last reported for the circuit (1 if none)."""
        known = self.known.get(name)
        return 1 if known is None else known.reply.generation

    def changes_nothing(self, name: str, config: CircuitConfig, ticket: Ticket) -> bool:
        """Whether a plain success (fast, no probe) would leave Redis as it is.

        A closed-state success with no failure streak to reset changes nothing in Redis,
        so it costs no round trip. A streak another process starts while this call runs
        is not reset by it: the shared breaker errs towards tripping. One of our own
        outcomes still on its way (a failure, maybe) is waited for.
        """
        known = self.known.get(name)
        return (
            not ticket.lease
            and config.mode == "consecutive"
            and not self.health.degraded
            and known is not None
            and known.reply.state is _CLOSED
            and known.reply.failures == 0
            and known.reply.generation == ticket.generation
            and known.reply.incarnation == ticket.incarnation != ""
            and name not in self.unsent
        )

    async def record_locally(
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
        """Record an outcome on the local copy (only with ``on_error="local"``)."""
        if self.settings.on_error != "local":
            return None
        return await self.seed(name).record(
            name, config, ticket, outcome, now, duration=duration, retry_after=retry_after, u=u
        )

    async def release_locally(self, name: str, ticket: Ticket) -> None:
        """Give a lease back on the local copy (only with ``on_error="local"``)."""
        if self.settings.on_error == "local":
            await self.seed(name).release(name, ticket)

    # -- outcomes, off the caller's path ------------------------------------------------

    async def post(
        self,
        name: str,
        script: int,
        args: Sequence[str],
        now: float | None,
        fallback: Fallback,
    ) -> Transition | None:
        """Queue one outcome for Redis; wait for its answer at most ``timeout``."""
        parcel = Parcel(name, script, args, now, fallback)
        unsent = self.unsent
        unsent[name] = unsent.get(name, 0) + 1
        parcel.done.add_done_callback(lambda _: self._sent(name))
        if not self.outbox.put(parcel):
            # Redis is not keeping up: this outcome stays local, and the next ones until
            # the queue has room again (logged once per such episode).
            parcel.done.set_result(None)
            self.dropped += 1
            if not self._overflowing:
                self._overflowing = True
                logger.warning(
                    "circuit_store_queue_full",
                    extra={
                        "store": self.settings.prefix,
                        "capacity": self.settings.max_queued_outcomes,
                    },
                )
            return await fallback()
        self._overflowing = False
        done, _ = await asyncio.wait((parcel.done,), timeout=self.settings.timeout)
        if done:
            return parcel.done.result()
        # Not answered in time: the outcome still goes to Redis; this caller moves on.
        parcel.unwatched = True
        return None

    def give_up(self, name: str, abandon: Sequence[str] | None) -> None:
        """Queue the undoing of an operation we stopped waiting for; nobody waits on it."""
        if abandon is None:
            return
        parcel = Parcel(name, RELEASE, abandon, None)
        if not self.outbox.put(parcel):
            parcel.done.set_result(None)
            self.dropped += 1

    async def _deliver(self, batch: Sequence[Parcel]) -> None:
        """Send one batch in order, bounded by ``record_timeout``; settle every parcel."""
        health = self.health
        permit = health.permit(quiet=True)
        self.round_trips += 1
        settings = self.settings
        try:
            raws = await self.link.run(
                lambda: [
                    (p.script, self.args.keys(p.name), self.args.argv(p.args, pending=0))
                    for p in batch
                ],
                within=settings.record_timeout,
                setup_within=max(settings.setup_timeout, settings.record_timeout),
            )
        except self.failures as exc:
            health.settle(permit, Outcome.FAILURE)
            health.errors += 1
            for parcel in batch:
                await self._settle_locally(parcel, exc)
            return
        except BaseException:
            health.settle(permit, Outcome.IGNORED)
            raise
        health.settle(permit, Outcome.SUCCESS)
        for parcel, raw in zip(batch, raws, strict=True):
            await self._delivered(parcel, raw)

    async def _delivered(self, parcel: Parcel, raw: object) -> None:
        try:
            reply = self._parse(raw)
        except self.failures as exc:
            await self._settle_locally(parcel, exc)
            return
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
        left = self.unsent[name] - 1
        if left:
            self.unsent[name] = left
        else:
            del self.unsent[name]

    async def _settle_locally(self, parcel: Parcel, exc: BaseException) -> None:
        # A probe lease this operation would have freed in Redis is given back once Redis
        # answers again (see _rejoined), not left to run out its probe_lease_ttl.
        args = parcel.args
        if (parcel.script == RELEASE and (args[1] == "0" or args[2] != "0")) or (
            parcel.script == RECORD and args[2] != "0"
        ):
            self._orphans.append((parcel.name, args[:4] if args[1] == "0" else args[:3]))
        transition = None
        if parcel.fallback is not None:
            self.health.fall_back(exc)
            transition = await parcel.fallback()
        if not parcel.done.done():
            parcel.done.set_result(transition)
