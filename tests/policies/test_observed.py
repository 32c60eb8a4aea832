"""The observer seam on a stack's stream: chunk gaps reach observers in batches."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest

import vex_llm
from vex_llm import LlmRequest, MockProvider
from vex_llm._observe import Call, Observer, observe
from vex_llm.testing import ManualClock


class GapRecorder(Observer):
    """Keeps every batch of chunk gaps, and the clock reading when it arrived."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.batches: list[tuple[float, list[float]]] = []
        self.ended_at: float | None = None

    def chunks(self, call: Call, gaps: Sequence[float]) -> None:
        self.batches.append((self.clock(), list(gaps)))

    def call_ended(self, call: Call, outcome: str) -> None:
        self.ended_at = self.clock()


async def test_chunk_gaps_arrive_in_order_at_least_once_a_second_and_at_the_end() -> None:
    """Every gap but the first chunk's is reported once, in order, within a second of it."""
    clock = ManualClock()
    recorder = GapRecorder(clock)
    llm = vex_llm.stack([MockProvider.smart()], deadline=None, clock=clock)
    request = LlmRequest.from_prompt("tell me a long story about rivers and mountains")
    chunks = 0
    with observe(recorder):
        stream = llm.stream(request)
        async for _ in stream:
            chunks += 1
            clock.advance(0.4)
    assert chunks >= 4
    gaps = [gap for _, batch in recorder.batches for gap in batch]
    assert gaps == pytest.approx([0.4] * (chunks - 1))
    assert len(recorder.batches) >= 2  # not only at the end
    arrivals = [at for at, _ in recorder.batches]
    # A batch goes out with the first chunk a second or more after the last one went.
    assert all(later - earlier <= 1.0 + 0.4 for earlier, later in itertools.pairwise(arrivals))
    assert all(sum(batch) >= 1.0 for _, batch in recorder.batches[:-1])
    assert arrivals[-1] == recorder.ended_at
