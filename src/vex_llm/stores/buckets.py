"""Where rate limiters keep their buckets: ``BucketStore``, and ``MemoryBuckets`` (this
process). ``RedisBuckets`` (``redis_buckets.py``) shares them across processes.

A bucket is named by a ``BucketKey``: a *group* (one provider: every bucket a call
charges shares it, so Redis Cluster keeps them on one slot and one script charges them
atomically) and a name inside it. The maths is GCRA (``_gcra``): one number per bucket.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Final, NamedTuple

from .._clock import Clock
from ._gcra import Cell, adjust, header_floor, reserve_each, reserve_one

__all__ = [
    "Adjustment",
    "BucketKey",
    "BucketStore",
    "Cell",
    "Charge",
    "MemoryBuckets",
    "Reservation",
    "header_floor",
]

_SWEEP_AT: Final = 10_000
"""Records kept before full buckets (whose record says nothing) are swept out."""


class BucketKey(NamedTuple):
    """A bucket's name: ``group`` (the provider: one hash tag in Redis) and ``name``."""

    group: str
    name: str


class Charge(NamedTuple):
    """What a call takes from one bucket: the bucket, its limit and the cost."""

    key: BucketKey
    cell: Cell


class Reservation(NamedTuple):
    """A store's answer to a reservation.

    Attributes:
        admitted: Whether every bucket was charged.
        wait: Seconds the call must wait before it goes (when admitted), or would have
            had to (when refused: the ``retry_after``).
        local: Whether the answer came from a local fallback instead of the shared store.
    """

    admitted: bool
    wait: float
    local: bool = False


class Adjustment(NamedTuple):
    """A settlement of one bucket after the call.

    Attributes:
        key: The bucket.
        cell: Its limit (the ``cost`` is not used).
        delta: Units to give back (negative: the estimate was too high) or take (positive).
        floor: Seconds after now before which the bucket cannot be full again (from the
            provider's rate-limit headers), or ``None``.
    """

    key: BucketKey
    cell: Cell
    delta: float
    floor: float | None = None


class BucketStore(ABC):
    """Rate-limit buckets: a reservation charges several buckets atomically (or none), a
    settlement corrects them after the call."""

    @abstractmethod
    async def reserve(self, charges: Sequence[Charge], *, max_wait: float) -> Reservation:
        """Charge every bucket if the longest wait is at most ``max_wait`` seconds.

        Args:
            charges: The buckets and the call's cost in each.
            max_wait: The longest wait the caller accepts, seconds.

        Returns:
            Whether the call was admitted and the wait.
        """

    @abstractmethod
    async def settle(self, adjustments: Sequence[Adjustment]) -> None:
        """Refund or debit buckets and apply header floors (may be sent later).

        Args:
            adjustments: One per bucket to correct.
        """

    async def aclose(self) -> None:  # noqa: B027 - a no-op default is the point
        """Send what is pending and release resources. Safe to call twice."""


class MemoryBuckets(BucketStore):
    """Buckets in a dict in this process, on an injected clock.

    Share one between limiters to make limiters of the same provider one budget in a
    process. Operations never await anything, so each is atomic under asyncio.

    Args:
        clock: Monotonic seconds (tests pass a ``ManualClock``).
        share: Fraction of every limit this store grants (default 1.0; a ``RedisBuckets``
            falls back on a ``MemoryBuckets`` with its ``local_share``).

    Raises:
        ValueError: On a share outside (0, 1].
    """

    def __init__(self, *, clock: Clock = time.monotonic, share: float = 1.0) -> None:
        if not 0.0 < share <= 1.0:
            msg = f"MemoryBuckets share must be in (0, 1], got {share!r}"
            raise ValueError(msg)
        self._clock = clock
        self._share = share
        self._tats: dict[BucketKey, float] = {}

    def __repr__(self) -> str:
        return f"MemoryBuckets(buckets={len(self._tats)}, share={self._share})"

    async def reserve(self, charges: Sequence[Charge], *, max_wait: float) -> Reservation:
        return self.reserve_now(charges, max_wait=max_wait)

    def reserve_now(self, charges: Sequence[Charge], *, max_wait: float) -> Reservation:
        """``reserve`` without the coroutine."""
        cells = [charge.cell for charge in charges]
        admitted, wait = self.take(
            [charge.key for charge in charges],
            [cell.interval for cell in cells],
            [cell.burst for cell in cells],
            [cell.cost for cell in cells],
            max_wait,
        )
        return Reservation(admitted, wait)

    def take(
        self,
        keys: Sequence[BucketKey],
        intervals: Sequence[float],
        bursts: Sequence[float],
        costs: Sequence[float],
        max_wait: float,
    ) -> tuple[bool, float]:
        """``reserve`` with the charges given field by field (the limiter's hot path).

        Returns:
            ``(admitted, wait)``.
        """
        now = self._clock()
        tats = self._tats
        share = self._share
        if share != 1.0:
            intervals = [i / share for i in intervals]
            bursts = [b * share for b in bursts]
        elif len(keys) == 1:  # the common case of one bucket, without the lists
            key = keys[0]
            admitted, wait, end = reserve_one(
                tats.get(key), now, intervals[0], bursts[0], costs[0], max_wait
            )
            if admitted:
                tats[key] = end
            return admitted, wait
        admitted, wait, charged = reserve_each(
            [tats.get(k) for k in keys], now, intervals, bursts, costs, max_wait
        )
        if admitted:
            if len(tats) > _SWEEP_AT:
                self._sweep(now)
            tats.update(zip(keys, charged, strict=True))
        return admitted, wait

    async def settle(self, adjustments: Sequence[Adjustment]) -> None:
        self.settle_now(adjustments)

    def settle_now(self, adjustments: Sequence[Adjustment]) -> None:
        """``settle`` without the coroutine."""
        self.give(
            [a.key for a in adjustments],
            [a.cell.interval for a in adjustments],
            [a.delta for a in adjustments],
            [a.floor for a in adjustments],
        )

    def give(
        self,
        keys: Sequence[BucketKey],
        intervals: Sequence[float],
        deltas: Sequence[float],
        floors: Sequence[float | None] | None,
    ) -> None:
        """``settle`` field by field (the limiter's hot path): ``deltas`` in units,
        ``floors`` in seconds after now (``None``: no floors)."""
        now = self._clock()
        tats = self._tats
        share = self._share
        for index, key in enumerate(keys):
            delta = deltas[index]
            floor = None if floors is None else floors[index]
            if not delta and floor is None:
                continue
            new = adjust(tats.get(key), now, delta * intervals[index] / share, floor)
            if new > now:
                tats[key] = new
            else:
                tats.pop(key, None)  # full: the record says nothing

    def tat(self, key: BucketKey) -> float | None:
        """A bucket's theoretical arrival time (``None``: no record, full); for tests."""
        return self._tats.get(key)

    def _sweep(self, now: float) -> None:
        for key in [k for k, t in self._tats.items() if t <= now]:
            del self._tats[key]
