"""RedisBuckets: rate-limit buckets shared by every process and host over one Redis."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Final

from ._buckets_lua import RESERVE, SETTLE
from ._redis_link import Call, Link
from ._redis_settings import Settings
from .buckets import Adjustment, BucketKey, BucketStore, Charge, MemoryBuckets, Reservation
from .redis import RedisStore

logger: Final = logging.getLogger("vex_llm")

_RESERVE, _SETTLE = 0, 1
_MAX_PENDING: Final = 10_000
"""Settlements kept for the next round trip, at most (the oldest are dropped beyond)."""


class RedisBuckets(BucketStore):
    """Rate-limit buckets in Redis, over the connection of an existing ``RedisStore``.

    Limiters in K processes sharing one limit of N per window admit at most N
    cluster-wide (not N x K): every reservation is one atomic Lua script that charges all
    of a call's buckets or none, on the Redis server's clock. Settlements (refunds,
    debits and header floors) ride with the next reservation of this process in the
    same round trip, so a call costs one round trip; ``flush()`` (and ``aclose()``)
    sends what is pending now. Keys are ``{<prefix>:rl:<group>}:<name>`` (one hash tag
    per provider: Redis Cluster and Valkey safe) and expire once their bucket is full.

    When Redis does not answer within the store's ``timeout`` (or fails), the call is
    decided on a local ``MemoryBuckets`` that grants ``local_share`` of every limit
    (set it to 1 / the number of processes sharing the limit, so together they stay
    near it), the event is logged once as ``rate_limit_store_fallback`` and
    ``degraded`` turns true; after the store's ``reconnect_after`` seconds the next
    call tries Redis again (``rate_limit_store_rejoined`` when it answers). Settlements
    that could not be sent are dropped (``dropped_settlements``): the shared buckets
    then err on the safe side for a refund, on the generous side for a debit.

    Args:
        store: The ``RedisStore`` whose client, prefix, timeouts and clock are used.
        local_share: The fraction of each limit this process grants itself while Redis
            is away, in (0, 1] (default 1.0: a single process keeps its whole limit;
            K processes may then admit up to K times the limit until Redis is back).

    Raises:
        ValueError: On a share outside (0, 1].
    """

    def __init__(self, store: RedisStore, *, local_share: float = 1.0) -> None:
        from redis.exceptions import RedisError

        self._failures = (RedisError, OSError, TimeoutError, ValueError)
        settings: Settings = store._settings
        self._settings = settings
        self._prefix = settings.prefix
        self._link = Link(
            store._client, (RESERVE, SETTLE), max_connections=settings.max_connections
        )
        self._local = MemoryBuckets(clock=settings.clock, share=local_share)
        self._pending: list[tuple[list[str], list[str]]] = []
        """Settlements to send: keys and arguments (the time shift is added when sent)."""
        self._down_until: float | None = None
        self.degraded = False
        """Whether the last operation was decided locally (Redis failed or was skipped)."""
        self.round_trips = 0
        """Round trips to Redis (a reservation with its settlements is one)."""
        self.fallbacks = 0
        """Times the buckets switched to the local share (``rate_limit_store_fallback``)."""
        self.dropped_settlements = 0
        """Settlements never sent to Redis (an outage, or too many pending)."""

    def __repr__(self) -> str:
        return f"RedisBuckets(prefix={self._prefix!r}, degraded={self.degraded})"

    def _key(self, key: BucketKey) -> str:
        return f"{{{self._prefix}:rl:{key.group}}}:{key.name}"

    def _shift(self) -> str:
        offset = self._settings.clock_offset
        return "0" if offset is None else str(round(offset() * 1_000_000))

    async def reserve(self, charges: Sequence[Charge], *, max_wait: float) -> Reservation:
        if not charges:
            return Reservation(True, 0.0)
        if not self._ready():
            return self._local.reserve_now(charges, max_wait=max_wait)._replace(local=True)
        keys = [self._key(c.key) for c in charges]
        cells = [repr(float(x)) for c in charges for x in c.cell]
        pending, self._pending = self._pending, []

        def calls() -> list[Call]:
            shift = self._shift()
            return [
                *((_SETTLE, k, [shift, *a]) for k, a in pending),
                (_RESERVE, keys, [shift, repr(float(max_wait)), *cells]),
            ]

        replies = await self._run(calls, dropped=len(pending))
        if replies is None:
            return self._local.reserve_now(charges, max_wait=max_wait)._replace(local=True)
        reply = replies[-1]
        if not isinstance(reply, list) or len(reply) != 2:
            self._fail(ValueError(f"unexpected reply {reply!r}"))
            return self._local.reserve_now(charges, max_wait=max_wait)._replace(local=True)
        admitted, wait = reply
        return Reservation(int(admitted) == 1, max(0.0, float(wait)))

    async def settle(self, adjustments: Sequence[Adjustment]) -> None:
        if not self._ready():  # Redis is being skipped: the call was decided locally
            self._local.settle_now(adjustments)
            return
        by_group: defaultdict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
        for key, _cell, delta, floor in adjustments:
            keys, args = by_group[key.group]
            keys.append(self._key(key))
            args += [repr(delta * _cell.interval), "" if floor is None else repr(float(floor))]
        self._pending.extend(by_group.values())
        if len(self._pending) > _MAX_PENDING:
            extra = len(self._pending) - _MAX_PENDING
            del self._pending[:extra]
            self.dropped_settlements += extra

    async def flush(self) -> None:
        """Send the pending settlements now (one round trip), if any."""
        pending, self._pending = self._pending, []
        if pending and self._ready():
            await self._run(
                lambda: [(_SETTLE, k, [self._shift(), *a]) for k, a in pending],
                dropped=len(pending),
            )
        elif pending:
            self.dropped_settlements += len(pending)

    async def aclose(self) -> None:
        """Send the pending settlements; the ``RedisStore`` keeps its client."""
        await self.flush()

    # -- the guard ----------------------------------------------------------------------

    def _ready(self) -> bool:
        """Whether to ask Redis now (not while an outage's ``reconnect_after`` runs)."""
        if self._down_until is None:
            return True
        if self._settings.clock() >= self._down_until:
            self._down_until = None
            return True
        return False

    async def _run(
        self, calls: Callable[[], Sequence[Call]], *, dropped: int
    ) -> list[object] | None:
        self.round_trips += 1
        try:
            replies = await self._link.run(
                calls,
                within=self._settings.timeout,
                setup_within=self._settings.setup_timeout,
            )
        except self._failures as exc:
            self.dropped_settlements += dropped
            self._fail(exc)
            return None
        error = next((r for r in replies if isinstance(r, Exception)), None)
        if error is not None:
            self._fail(error)
            return None
        if self.degraded:
            self.degraded = False
            logger.info("rate_limit_store_rejoined", extra={"store": self._prefix})
        return replies

    def _fail(self, exc: BaseException) -> None:
        self._down_until = self._settings.clock() + self._settings.reconnect_after
        if not self.degraded:
            self.degraded = True
            self.fallbacks += 1
            logger.warning(
                "rate_limit_store_fallback",
                extra={"store": self._prefix, "error": repr(exc)},
            )
