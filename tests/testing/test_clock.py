"""ManualClock: time that moves only when the test says."""

from __future__ import annotations

import asyncio

import pytest

from vex_llm.testing import ManualClock


async def test_sleepers_wake_when_time_passes_their_deadline() -> None:
    """A task sleeping 60 s wakes when the clock is advanced 60 s, not before."""
    clock = ManualClock(10.0)
    task = asyncio.create_task(clock.sleep(60.0))
    await asyncio.sleep(0)
    clock.advance(59.0)
    await asyncio.sleep(0)
    assert not task.done()
    assert clock.sleepers == 1
    clock.advance(1.0)
    await asyncio.wait_for(task, 1.0)
    assert clock() == 70.0


async def test_auto_advance_moves_time_on_sleep() -> None:
    """With auto_advance, sleep moves the clock and returns at once."""
    clock = ManualClock(auto_advance=True)
    await clock.sleep(3.0)
    await clock.sleep(0.5)
    assert clock.now == 3.5
    assert clock.sleeps == [3.0, 0.5]


def test_time_never_goes_backwards() -> None:
    """advance rejects negative steps; set never moves backwards."""
    clock = ManualClock(5.0)
    with pytest.raises(ValueError, match="advance"):
        clock.advance(-1.0)
    clock.set(3.0)
    assert clock() == 5.0
