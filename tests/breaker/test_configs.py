"""Breakers built with equal configs share one config object (an idle breaker stays small)."""

from __future__ import annotations

from vex_llm import CircuitBreaker, CircuitConfig, Outcome


def test_equal_configs_are_shared_and_different_ones_kept_apart() -> None:
    """Equal but distinct configs end up as one object; any differing field keeps it apart."""

    def never(exc: BaseException) -> Outcome:
        return Outcome.IGNORED

    first = CircuitBreaker(CircuitConfig(failure_threshold=3, reset_timeout=12.5))
    second = CircuitBreaker(CircuitConfig(failure_threshold=3, reset_timeout=12.5))
    custom = CircuitBreaker(CircuitConfig(failure_threshold=3, reset_timeout=12.5, classify=never))
    assert first.config is second.config
    assert second.config == CircuitConfig(failure_threshold=3, reset_timeout=12.5)
    assert custom.config is not first.config
    assert custom.config.classify is never
