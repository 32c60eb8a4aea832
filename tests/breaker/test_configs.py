"""Breakers built with equal configs share one config object (an idle breaker stays small)."""

from __future__ import annotations

from vex_llm import CircuitBreaker, CircuitConfig, Outcome


def test_equal_configs_are_shared_between_breakers() -> None:
    """Two breakers given equal but distinct configs keep one, equal to both."""
    first = CircuitBreaker(CircuitConfig(failure_threshold=3, reset_timeout=12.5))
    second = CircuitBreaker(CircuitConfig(failure_threshold=3, reset_timeout=12.5))
    assert first.config is second.config
    assert second.config == CircuitConfig(failure_threshold=3, reset_timeout=12.5)


def test_configs_that_differ_in_any_field_are_not_shared() -> None:
    """A different classifier (or any other field) keeps the config apart."""

    def never(exc: BaseException) -> Outcome:
        return Outcome.IGNORED

    plain = CircuitBreaker(CircuitConfig(failure_threshold=4))
    custom = CircuitBreaker(CircuitConfig(failure_threshold=4, classify=never))
    assert plain.config is not custom.config
    assert custom.config.classify is never
