"""MockProvider: deterministic answers, scripted failures, streams and simulated latency."""

from __future__ import annotations

import pytest

from vex_llm import LlmRequest, MockProvider, NotAvailable, ServerError, StreamChunk
from vex_llm.testing import ManualClock


async def test_smart_answers_deterministically() -> None:
    """smart() answers the same prompt the same way, and does arithmetic."""
    provider = MockProvider.smart()
    assert await provider.ask("what is 2 + 3?") == "5"
    assert await provider.ask("zebra") == await MockProvider.smart().ask("zebra")
    response = await provider.complete(LlmRequest.from_prompt("hello"))
    assert response.provider == "mock"
    assert response.finish_reason == "stop"
    assert response.usage is not None
    assert response.usage.total_tokens == response.usage.prompt_tokens + (
        response.usage.completion_tokens
    )


async def test_failing_raises_a_fresh_copy_each_time() -> None:
    """failing() raises a copy of the error, with the provider name set."""
    provider = MockProvider.failing(ServerError("boom", status=503), name="p")
    errors = []
    for _ in range(2):
        with pytest.raises(ServerError) as info:
            await provider.ask("x")
        errors.append(info.value)
    assert errors[0] is not errors[1]
    assert errors[0].provider == "p"
    assert errors[0].status == 503
    assert provider.calls == 2


async def test_scripted_plays_outcomes_then_answers() -> None:
    """scripted() plays its outcomes in order, then answers like smart()."""
    provider = MockProvider.scripted([NotAvailable("down"), "first"])
    with pytest.raises(NotAvailable):
        await provider.ask("x")
    assert await provider.ask("x") == "first"
    assert await provider.ask("what is 1 + 1") == "2"


async def test_scripted_cycle_repeats() -> None:
    """scripted(cycle=True) starts the script over."""
    provider = MockProvider.scripted(["a", "b"], cycle=True)
    assert [await provider.ask("x") for _ in range(5)] == ["a", "b", "a", "b", "a"]


async def test_flaky_is_seeded() -> None:
    """flaky() fails at the given rate, reproducibly for a seed."""

    async def run() -> list[bool]:
        provider = MockProvider.flaky(0.3, seed=7)
        results = []
        for _ in range(200):
            try:
                await provider.ask("x")
                results.append(True)
            except NotAvailable:
                results.append(False)
        return results

    first, second = await run(), await run()
    assert first == second
    assert 30 <= first.count(False) <= 90


async def test_stream_carries_model_and_provider_on_first_and_last_chunk() -> None:
    """A mock stream joins to the complete answer and marks its first and last chunk."""
    provider = MockProvider.smart()
    request = LlmRequest.from_prompt("tell me about a circuit breaker")
    chunks: list[StreamChunk] = [chunk async for chunk in provider.stream(request)]
    assert "".join(c.delta for c in chunks) == (await provider.complete(request)).content
    assert chunks[0].provider == "mock"
    assert chunks[-1].finish_reason == "stop"
    assert chunks[-1].provider == "mock"
    assert chunks[-1].usage is not None


async def test_latency_uses_the_injected_sleep() -> None:
    """latency sleeps through the injected sleep, so tests never wait for real."""
    clock = ManualClock(auto_advance=True)
    provider = MockProvider.smart(latency=2.5, sleep=clock.sleep)
    await provider.ask("x")
    assert clock.sleeps == [2.5]
    assert clock() == 2.5


@pytest.mark.parametrize(
    ("kwargs", "field"), [({"failure_rate": 1.5}, "failure_rate"), ({"latency": -1.0}, "latency")]
)
def test_bad_settings(kwargs: dict[str, float], field: str) -> None:
    """Out-of-range mock settings raise ValueError naming the field."""
    with pytest.raises(ValueError, match=field):
        MockProvider(**kwargs)  # type: ignore[arg-type]  # built from a dict on purpose
