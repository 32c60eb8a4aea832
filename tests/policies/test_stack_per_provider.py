"""stack(): a provider's own timeouts, retries and circuit rules (what a config file gives)."""

from __future__ import annotations

import random

import pytest
from _policies import drive, request

from vex_llm import (
    AllProvidersFailed,
    CircuitConfig,
    CircuitState,
    MockProvider,
    RetryConfig,
    ServerError,
    TimeoutConfig,
    stack,
)
from vex_llm.testing import ManualClock


async def test_each_provider_gets_its_own_retry_and_circuit_rules() -> None:
    """provider_retry and provider_circuits replace the stack-wide settings for one provider."""
    clock = ManualClock()
    one, two = (MockProvider.failing(ServerError("down"), name=n) for n in ("one", "two"))
    llm = stack(
        [one, two],
        retry=RetryConfig(attempts=3, base_delay=0.01, budget=1.0),
        circuit=CircuitConfig(failure_threshold=100),
        clock=clock,
        sleep=clock.sleep,
        rng=random.Random(3),
        provider_retry={one: RetryConfig(attempts=1)},
        provider_circuits={two: CircuitConfig(failure_threshold=1, reset_timeout=60.0)},
    )
    with pytest.raises(AllProvidersFailed):
        await drive(clock, llm.complete(request()))
    assert one.calls == 1  # its own single attempt
    assert two.calls == 1  # three attempts allowed, but its own circuit opened on the first
    assert llm.circuits["one"].circuit_state is CircuitState.CLOSED
    assert llm.circuits["two"].circuit_state is CircuitState.OPEN


@pytest.mark.parametrize("keyword", ["provider_timeouts", "provider_retry", "provider_circuits"])
def test_settings_for_a_provider_not_in_the_list_are_refused(keyword: str) -> None:
    """A per-provider mapping naming a provider outside the stack is a ValueError."""
    stranger = MockProvider.smart(name="stranger")
    value = {"provider_timeouts": TimeoutConfig(), "provider_retry": RetryConfig()}.get(
        keyword, CircuitConfig()
    )
    with pytest.raises(ValueError, match=keyword):
        stack([MockProvider.smart()], **{keyword: {stranger: value}})  # type: ignore[arg-type]  # the keyword is a parameter
