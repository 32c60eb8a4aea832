"""The sliding windows of ratio mode: the last N calls, or the last N seconds."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._config import CircuitConfig


class CountWindow:
    """The last ``size`` outcomes, with running totals (subtract on evict)."""

    __slots__ = ("codes", "failed", "position", "size", "slow", "total")

    def __init__(self, size: int) -> None:
        self.size = size
        self.codes: list[int] = []
        self.position = 0
        self.total = 0
        self.failed = 0
        self.slow = 0

    def add(self, failed: bool, slow: bool, now: float) -> None:
        code = int(failed) | (int(slow) << 1)
        if len(self.codes) < self.size:
            self.codes.append(code)
            self.total += 1
        else:
            old = self.codes[self.position]
            self.failed -= old & 1
            self.slow -= old >> 1
            self.codes[self.position] = code
            self.position = (self.position + 1) % self.size
        self.failed += code & 1
        self.slow += code >> 1

    def totals(self, now: float) -> tuple[int, int, int]:
        return self.total, self.failed, self.slow


class TimeWindow:
    """Outcomes of the last ``seconds``, in ``buckets`` rolling buckets.

    An outcome lands in the bucket ``floor(now / bucket_length)``; a bucket counts while
    it is newer than ``now - seconds``, so an outcome recorded at ``t0`` is gone at the
    latest at exactly ``t0 + seconds``.
    """

    __slots__ = ("buckets", "length", "slots")

    def __init__(self, seconds: float, buckets: int) -> None:
        self.buckets = buckets
        self.length = seconds / buckets
        # Each slot: [bucket index, calls, failed, slow].
        self.slots: list[list[int]] = [[-1, 0, 0, 0] for _ in range(buckets)]

    def _index(self, now: float) -> int:
        return math.floor(now / self.length)

    def add(self, failed: bool, slow: bool, now: float) -> None:
        index = self._index(now)
        slot = self.slots[index % self.buckets]
        if slot[0] != index:
            slot[:] = [index, 0, 0, 0]
        slot[1] += 1
        slot[2] += int(failed)
        slot[3] += int(slow)

    def totals(self, now: float) -> tuple[int, int, int]:
        oldest = self._index(now) - self.buckets + 1
        calls = failed = slow = 0
        for index, c, f, s in self.slots:
            if index >= oldest:
                calls += c
                failed += f
                slow += s
        return calls, failed, slow


Window = CountWindow | TimeWindow


def new_window(config: CircuitConfig) -> Window:
    if config.window == "count":
        return CountWindow(config.window_size)
    return TimeWindow(config.window_seconds, config.window_buckets)


def minimum_calls(config: CircuitConfig) -> int:
    if config.window == "count":
        return min(config.minimum_calls, config.window_size)
    return config.minimum_calls
