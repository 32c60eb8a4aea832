"""The stream guard: the tightest of several limits per wait, under one timer."""

from __future__ import annotations

import asyncio
import math

from vex_llm import Timeout
from vex_llm._guard import Guard, Limit


class _Deadline(Limit):
    """A limit ending at a fixed loop time that counts how often it is asked."""

    def __init__(self, due: float) -> None:
        super().__init__(asyncio.sleep)
        self.due = due
        self.asked = 0

    def remaining(self) -> float:
        self.asked += 1
        return self.due - asyncio.get_running_loop().time()

    def fixed_due(self) -> float | None:
        return self.due

    def expired(self) -> Timeout:
        return Timeout("the deadline passed")


class _Idle(Limit):
    """A limit of ``seconds`` per wait."""

    def __init__(self, seconds: float) -> None:
        super().__init__(asyncio.sleep)
        self.seconds = seconds

    def remaining(self) -> float:
        return self.seconds

    def expired(self) -> Timeout:
        return Timeout("idle")


async def test_a_fixed_deadline_is_not_asked_on_each_wait() -> None:
    """A limit that ends at a fixed loop time is read once per guard, not per wait."""
    deadline = _Deadline(asyncio.get_running_loop().time() + 60.0)
    guard = Guard((_Idle(30.0), deadline), asyncio.get_running_loop())
    for _ in range(100):
        guard.arm()
        guard.disarm()
    guard.close()
    assert deadline.asked == 0


async def test_a_fixed_deadline_still_ends_a_wait_that_outlasts_it() -> None:
    """A wait still running at the fixed deadline ends with the deadline's error, and the
    deadline was not asked for its time left."""
    deadline = _Deadline(asyncio.get_running_loop().time() + 0.01)
    guard = Guard((_Idle(math.inf), deadline), asyncio.get_running_loop())
    error: BaseException | None = None
    guard.arm()
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError as exc:
        error = guard.convert(exc)
    finally:
        guard.disarm()
        guard.close()
    assert isinstance(error, Timeout)
    assert str(error) == "the deadline passed"
    assert deadline.asked == 0
