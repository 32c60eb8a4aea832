"""HedgeProvider: when the hedge starts, who wins, and what happens to the loser."""

from __future__ import annotations

import pytest
from _policies import collect, drive, request

from vex_llm import (
    AllProvidersFailed,
    CircuitConfig,
    HedgeConfig,
    HedgeProvider,
    InvalidRequest,
    MockProvider,
    ResilientProvider,
    ServerError,
    trace,
)
from vex_llm.testing import ManualClock


def _mock(name: str, latency: float, clock: ManualClock) -> MockProvider:
    return MockProvider.smart(name=name, latency=latency, sleep=clock.sleep)


async def test_a_fast_primary_is_never_hedged() -> None:
    """An answer before the delay: the secondary is never asked."""
    clock = ManualClock()
    secondary = _mock("b", 0.1, clock)
    hedge = HedgeProvider(
        [_mock("a", 0.5, clock), secondary], HedgeConfig(delay=1.0), clock=clock, sleep=clock.sleep
    )
    response = await drive(clock, hedge.complete(request()))
    assert response.provider == "a"
    assert secondary.calls == 0
    assert clock.sleepers == 0


async def test_a_slow_primary_is_hedged_and_the_loser_released() -> None:
    """After the delay the secondary starts, wins, and the primary's permit is released."""
    clock = ManualClock()
    primary = ResilientProvider(_mock("a", 100.0, clock), CircuitConfig(), clock=clock)
    hedge = HedgeProvider(
        [primary, _mock("b", 0.2, clock)], HedgeConfig(delay=1.0), clock=clock, sleep=clock.sleep
    )
    with trace(clock=clock) as events:
        response = await drive(clock, hedge.complete(request()))
    assert response.provider == "b"
    assert clock.now == pytest.approx(1.2, abs=0.03)
    assert [e.provider for e in events.of_kind("hedge")] == ["b"]
    assert [e.provider for e in events.of_kind("cancelled")] == ["a"]
    stats = primary.stats()
    assert stats.total_failures == 0  # cancellation is no evidence against the provider
    assert clock.sleepers == 0  # the loser's sleep is gone too


async def test_an_early_failure_starts_the_next_at_once() -> None:
    """A primary that fails before the delay hands over without waiting for it."""
    clock = ManualClock()
    hedge = HedgeProvider(
        [MockProvider.failing(ServerError("x"), name="a"), _mock("b", 0.1, clock)],
        HedgeConfig(delay=5.0),
        clock=clock,
        sleep=clock.sleep,
    )
    response = await drive(clock, hedge.complete(request()))
    assert response.provider == "b"
    assert clock.now < 1.0


async def test_all_failing_raises_the_group() -> None:
    """Every hedged provider failed: AllProvidersFailed with both errors."""
    hedge = HedgeProvider(
        [MockProvider.failing(ServerError("x"), name=n) for n in ("a", "b")],
        HedgeConfig(delay=0.0),
    )
    with pytest.raises(AllProvidersFailed) as caught:
        await hedge.complete(request())
    assert len(caught.value.exceptions) == 2


async def test_caller_errors_are_raised_at_once() -> None:
    """InvalidRequest from any provider is raised as it is."""
    clock = ManualClock()
    secondary = _mock("b", 0.1, clock)
    hedge = HedgeProvider(
        [MockProvider.failing(InvalidRequest("bad"), name="a"), secondary],
        clock=clock,
        sleep=clock.sleep,
    )
    with pytest.raises(InvalidRequest):
        await drive(clock, hedge.complete(request()))
    assert secondary.calls == 0


async def test_open_circuits_are_not_asked() -> None:
    """A provider whose circuit is open is skipped; the next one starts at once."""
    clock = ManualClock()
    primary = ResilientProvider(_mock("a", 0.1, clock), clock=clock)
    primary.breaker.force_open()
    hedge = HedgeProvider(
        [primary, _mock("b", 0.1, clock)], HedgeConfig(delay=5.0), clock=clock, sleep=clock.sleep
    )
    response = await drive(clock, hedge.complete(request()))
    assert response.provider == "b"
    assert primary.stats().rejected == 0


async def test_adaptive_delay_follows_recent_latencies() -> None:
    """With a quantile set, the delay becomes that quantile of recent answer times."""
    clock = ManualClock()
    hedge = HedgeProvider(
        [_mock("a", 0.3, clock), _mock("b", 0.3, clock)],
        HedgeConfig(delay=5.0, quantile=0.9, min_samples=5),
        clock=clock,
        sleep=clock.sleep,
    )
    assert hedge.delay == 5.0
    for _ in range(5):
        await drive(clock, hedge.complete(request()))
    assert hedge.delay == pytest.approx(0.3, abs=0.03)


async def test_streams_are_hedged_on_their_first_chunk() -> None:
    """The first provider to produce a chunk serves the whole stream; the other is closed."""
    clock = ManualClock()
    hedge = HedgeProvider(
        [_mock("a", 50.0, clock), _mock("b", 0.1, clock)],
        HedgeConfig(delay=0.5),
        clock=clock,
        sleep=clock.sleep,
    )
    chunks = await drive(clock, collect(hedge.stream(request("capital of france"))))
    assert "".join(c.delta for c in chunks) == "Paris."
    assert chunks[0].provider == "b"
    assert clock.sleepers == 0


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"delay": -1.0}, "delay"),
        ({"quantile": 1.0}, "quantile"),
        ({"window": 0}, "window"),
        ({"min_samples": 0}, "min_samples"),
    ],
)
def test_bad_settings_fail_at_construction(settings: dict[str, float], field: str) -> None:
    """Bad hedge settings raise ValueError naming the field; one provider is not a hedge."""
    with pytest.raises(ValueError, match=f"HedgeConfig.{field}"):
        HedgeConfig(**settings)  # type: ignore[arg-type]  # deliberately bad values
    with pytest.raises(ValueError, match="at least two"):
        HedgeProvider([MockProvider.smart()])
