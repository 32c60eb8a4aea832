"""The one clock: every layer reads time and waits through it, so tests can drive it.

A clock is any zero-argument callable returning monotonic seconds (the public contract:
``time.monotonic`` is one). A clock that also has an async ``sleep(seconds)`` method waits
on its own time: ``ManualClock`` is such a clock, and ``sleep_for(clock)`` hands out the
sleep that belongs to a clock, so a component that takes only ``clock=`` waits, times out
and backs off on the time the test moves by hand.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
"""Monotonic seconds: ``time.monotonic``, a ``ManualClock``."""

Sleep = Callable[[float], Awaitable[None]]
"""An awaitable wait of so many seconds: ``asyncio.sleep``, ``ManualClock.sleep``."""


def sleep_for(clock: Clock) -> Sleep:
    """The sleep that belongs to ``clock``: its own ``sleep`` method, else ``asyncio.sleep``.

    Args:
        clock: Any clock.

    Returns:
        The awaitable sleep to wait on that clock's time.
    """
    own = getattr(clock, "sleep", None)
    return own if callable(own) else asyncio.sleep


class ManualClock:
    """Monotonic time that only moves when a test says so.

    Call the instance to read the time (it fits every ``clock=`` parameter), ``advance()``
    to move it, and pass ``clock.sleep`` wherever a component takes a ``sleep=`` callable:
    a sleeping task wakes when the clock is advanced past its deadline, so a test can
    wait out a 60-second reset timeout in microseconds.

    Args:
        start: The initial reading, in seconds.
        auto_advance: When true, ``sleep(d)`` moves the clock forward by ``d`` at once and
            returns (handy for retry loops driven by one task); when false, sleepers wait
            for ``advance()``.
    """

    def __init__(self, start: float = 0.0, *, auto_advance: bool = False) -> None:
        if not math.isfinite(start):
            msg = f"ManualClock start must be finite, got {start}"
            raise ValueError(msg)
        self._now = float(start)
        self._auto_advance = auto_advance
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self.sleeps: list[float] = []
        """Every duration passed to ``sleep()``, in order (for assertions)."""

    def __call__(self) -> float:
        return self._now

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now})"

    @property
    def now(self) -> float:
        """The current reading, in seconds."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has come.

        Args:
            seconds: How far to move (>= 0).

        Raises:
            ValueError: On a negative or non-finite step.
        """
        if not (math.isfinite(seconds) and seconds >= 0):
            msg = f"ManualClock.advance takes a finite number >= 0, got {seconds}"
            raise ValueError(msg)
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    def set(self, now: float) -> None:
        """Move time forward to an absolute reading (never backwards)."""
        self.advance(max(0.0, now - self._now))

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock has moved ``seconds`` forward (see ``auto_advance``)."""
        self.sleeps.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        if self._auto_advance:
            self.advance(seconds)
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._order), future))
        await future

    @property
    def sleepers(self) -> int:
        """How many tasks are waiting in ``sleep()`` right now."""
        return sum(1 for _, _, future in self._sleepers if not future.done())
