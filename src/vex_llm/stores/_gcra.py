"""The rate-limit maths: GCRA (the generic cell rate algorithm), pure.

A limit of ``burst`` units per ``burst * interval`` seconds is one number per bucket, its
*theoretical arrival time* ``tat``: the moment the bucket would be full again if nothing
else arrived. ``tat <= now`` (or no record at all) is a full bucket; a bucket never holds
more than ``burst`` units, whatever happened before, because admission starts from
``max(tat, now)``. Taking ``cost`` units moves ``tat`` forward by ``cost * interval``; a
call that would push ``tat`` more than ``burst * interval`` past ``now`` waits the
difference. Refunds and debits move ``tat`` back or forward the same way, and a floor
learned from a provider's rate-limit headers moves it forward only.

Nothing here reads a clock or sleeps: ``now`` is an argument, results are values. The
Lua scripts of ``RedisBuckets`` compute the same formulas on the server's clock (a test
keeps them in step).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final, NamedTuple

EPSILON: Final = 1e-9
"""Seconds of rounding forgiven: ``(burst - 1) * interval + interval`` may land a hair past
``burst * interval`` in floating point, and a call on the boundary must not be refused."""


class Cell(NamedTuple):
    """One GCRA limit as a call charges it.

    Attributes:
        interval: Seconds to earn back one unit (``window / amount``).
        burst: Units the bucket holds when full (the amount per window).
        cost: Units this call takes (1 for a request, the estimate for tokens).
    """

    interval: float
    burst: float
    cost: float


def wait_for(tat: float | None, now: float, cell: Cell) -> float:
    """Seconds until ``cell.cost`` units fit in a bucket (0 when they fit now).

    Args:
        tat: The bucket's theoretical arrival time (``None``: no record, full).
        now: The current time, seconds.
        cell: The limit and the cost.

    Returns:
        The wait, seconds (>= 0).
    """
    start = now if tat is None or tat < now else tat
    return max(0.0, start + cell.cost * cell.interval - cell.burst * cell.interval - now)


def reserve(
    tats: Sequence[float | None], now: float, cells: Sequence[Cell], max_wait: float
) -> tuple[bool, float, list[float]]:
    """Reserve a call in every bucket at once, or in none.

    The call is admitted when its longest wait is at most ``max_wait``: every bucket is
    then charged at once (a call that must wait holds its place, so waiting callers are
    served in order and none is starved), and the caller sleeps the wait.

    Args:
        tats: Each bucket's theoretical arrival time (``None``: full), as ``cells``.
        now: The current time, seconds.
        cells: Each bucket's limit and this call's cost there.
        max_wait: The longest wait the caller accepts, seconds.

    Returns:
        ``(admitted, wait, new_tats)``: ``wait`` is the wait the call needs (also when
        refused: the caller's ``retry_after``); ``new_tats`` are the buckets' times after
        the charge (empty when refused: nothing changes).
    """
    return reserve_each(
        tats,
        now,
        [c.interval for c in cells],
        [c.burst for c in cells],
        [c.cost for c in cells],
        max_wait,
    )


def reserve_each(
    tats: Sequence[float | None],
    now: float,
    intervals: Sequence[float],
    bursts: Sequence[float],
    costs: Sequence[float],
    max_wait: float,
) -> tuple[bool, float, list[float]]:
    """``reserve`` with the cells given field by field (the in-process hot path)."""
    # Plain loops, no generators or tuples per bucket: this runs once per call.
    wait = 0.0
    charged: list[float] = []
    for tat, interval, burst, cost in zip(tats, intervals, bursts, costs, strict=True):
        end = (tat if tat is not None and tat > now else now) + cost * interval
        needed = end - burst * interval - now
        if needed > wait:
            wait = needed
        charged.append(end)
    if wait > max_wait + EPSILON:
        return False, wait, []
    return True, wait if wait > EPSILON else 0.0, charged


def reserve_one(
    tat: float | None, now: float, interval: float, burst: float, cost: float, max_wait: float
) -> tuple[bool, float, float]:
    """``reserve`` for one bucket: ``(admitted, wait, new_tat)`` (``new_tat`` unused when
    refused). The same formula as ``reserve_each``, without the lists."""
    end = (tat if tat is not None and tat > now else now) + cost * interval
    wait = end - burst * interval - now
    if wait > max_wait + EPSILON:
        return False, wait, end
    return True, wait if wait > EPSILON else 0.0, end


def adjust(tat: float | None, now: float, delta_seconds: float, floor: float | None) -> float:
    """A bucket's time after a settlement: a refund or a debit, and a floor.

    Args:
        tat: The bucket's theoretical arrival time (``None``: full).
        now: The current time, seconds.
        delta_seconds: ``(real - reserved units) * interval``: negative refunds, positive
            debits. A refund into a bucket that has filled up meanwhile changes nothing
            (``max(tat, now)`` at the next admission), so no bucket grows past full.
        floor: Seconds after ``now`` before which the bucket cannot be full again (from
            the provider's headers), or ``None``. It only ever tightens.

    Returns:
        The new time (at or below ``now`` means full: the record may be dropped).
    """
    base = now if tat is None else tat
    new = base + delta_seconds if delta_seconds else base
    if floor is not None and now + floor > new:
        new = now + floor
    return new


def header_floor(
    remaining: float, limit: float | None, reset: float | None, cell: Cell
) -> float | None:
    """The floor a provider's rate-limit headers put on a bucket, seconds after now.

    ``remaining`` units left means the bucket holds at most that many now: its time is at
    least ``(burst - remaining) * interval`` ahead. With nothing left and a ``reset`` (the
    seconds until the provider's bucket is full again) the next unit comes back after
    ``reset / limit`` (``reset`` when the limit is unknown), if that is later.

    Args:
        remaining: Units the provider says are left (finite, >= 0).
        limit: The provider's limit (> 0), if it said.
        reset: Seconds until the provider's bucket is full again (>= 0), if it said.
        cell: Our bucket (its ``cost`` is not used).

    Returns:
        Seconds, or ``None`` when the headers allow more than our own bucket does.
    """
    floor: float | None = None
    if remaining < cell.burst:
        floor = (cell.burst - remaining) * cell.interval
    if remaining < 1 and reset is not None:
        one = reset / limit if limit else reset
        floor = max(floor or 0.0, one + (cell.burst - 1) * cell.interval)
    if floor is not None and not math.isfinite(floor):
        return None
    return floor


def available(tat: float | None, now: float, cell: Cell) -> float:
    """Units a bucket holds now (between 0 and ``burst``; negative while in debt).

    Args:
        tat: The bucket's theoretical arrival time (``None``: full).
        now: The current time, seconds.
        cell: The limit (its ``cost`` is not used).

    Returns:
        Units.
    """
    if tat is None or tat <= now:
        return cell.burst
    return cell.burst - (tat - now) / cell.interval
