"""The observer seam: scoped to a context, isolated from failures, absent when unused."""

from __future__ import annotations

import asyncio
import logging

import pytest

from vex_llm import LlmRequest, MockProvider, ServerError, stack
from vex_llm._observe import Attempt, Call, Observer, observe, observers


class Recorder(Observer):
    """Keeps the name of every event it gets, with its outcome where there is one."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def call_started(self, call: Call) -> None:
        self.seen.append("call_started")

    def call_ended(self, call: Call, outcome: str) -> None:
        self.seen.append(f"call_ended:{outcome}")

    def attempt_started(self, attempt: Attempt) -> None:
        self.seen.append(f"attempt_started:{attempt.provider}")

    def attempt_ended(self, attempt: Attempt, outcome: str) -> None:
        self.seen.append(f"attempt_ended:{outcome}")


class Broken(Observer):
    """An observer whose every call-level hook raises."""

    def call_started(self, call: Call) -> None:
        raise RuntimeError("broken observer")

    def call_ended(self, call: Call, outcome: str) -> None:
        raise RuntimeError("broken observer")


def request() -> LlmRequest:
    """A short prompt."""
    return LlmRequest.from_prompt("hello")


async def test_a_stack_reports_its_call_and_each_attempt() -> None:
    """One call, its attempts in order, and how each ended (the failed one is retried)."""
    recorder = Recorder()
    flaky = MockProvider.scripted([ServerError("down", status=500), "fine"], name="m")
    llm = stack([flaky], deadline=None)
    with observe(recorder):
        await llm.complete(request())
    assert recorder.seen[0] == "call_started"
    assert recorder.seen[-1] == "call_ended:success"
    assert recorder.seen[1:-1] == [
        "attempt_started:m",
        "attempt_ended:error",
        "attempt_started:m",
        "attempt_ended:success",
    ]


async def test_a_stream_closed_before_its_finish_reason_is_abandoned() -> None:
    """Closing a stream early ends both the attempt and the call as abandoned."""
    recorder = Recorder()
    llm = stack([MockProvider.smart()], deadline=None)
    with observe(recorder):
        chunks = llm.stream(request())
        await anext(aiter(chunks))
        await chunks.aclose()  # type: ignore[attr-defined] - a ChunkStream has aclose()
    assert recorder.seen[-2:] == ["attempt_ended:abandoned", "call_ended:abandoned"]


async def test_an_observer_that_raises_is_logged_and_never_breaks_the_call(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The call answers; the failure is logged as observer_failed."""
    llm = stack([MockProvider.smart()], deadline=None)
    with caplog.at_level(logging.ERROR, logger="vex_llm"), observe(Broken()):
        response = await llm.complete(request())
    assert response.content
    assert [r.getMessage() for r in caplog.records if "observer_failed" in r.getMessage()]


async def test_observers_follow_the_context_not_the_process() -> None:
    """A task started before observe() does not see the observer; one started after does."""
    seen: dict[str, int] = {}
    started = asyncio.Event()
    release = asyncio.Event()

    async def count(label: str, wait: bool) -> None:
        if wait:
            started.set()
            await release.wait()
        seen[label] = len(observers())

    before = asyncio.create_task(count("before", True))
    await started.wait()
    with observe(Recorder()):
        after = asyncio.create_task(count("after", False))
        release.set()
        await asyncio.gather(before, after)
    assert seen == {"before": 0, "after": 1}
    assert observers() == ()


async def test_nothing_observed_leaves_the_stack_stream_untouched() -> None:
    """With no observer the stack hands back its outer layer's own stream (no extra stage)."""
    llm = stack([MockProvider.smart()], deadline=None)
    chunks = llm.stream(request())
    assert type(chunks) is type(llm.outer.stream(request()))
    with observe(Recorder()):
        observed = llm.stream(request())
    assert type(observed) is not type(chunks)
    for stream in (chunks, observed):
        await stream.aclose()  # type: ignore[attr-defined] - a ChunkStream has aclose()


def test_observe_takes_only_observers() -> None:
    """Anything else is a TypeError naming the type."""
    with pytest.raises(TypeError, match="Observer"):
        observe(object())  # type: ignore[arg-type] - the point of the test
