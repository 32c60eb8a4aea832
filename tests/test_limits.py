"""Shared bounds: durations and counts are checked once, the same way, and never overflow."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vex_llm import (
    CircuitConfig,
    DeadlineProvider,
    HttpLimits,
    MockProvider,
    OpenAIProvider,
    RetryConfig,
    TimeoutConfig,
)
from vex_llm._limits import MAX_COUNT, MAX_SECONDS, check_count, check_seconds, show

NAN = math.nan
HUGE = 10**400

_DURATIONS = (
    "reset_timeout",
    "probe_lease_ttl",
    "window_seconds",
    "slow_call_duration",
    "max_reset_timeout",
    "retry_after_trip_min",
)


@pytest.mark.parametrize("value", [0, -1.0, NAN, math.inf, HUGE, MAX_SECONDS * 1.0001, True, "2"])
def test_check_seconds_refuses(value: object) -> None:
    """Zero, negatives, NaN, infinity, huge ints, values over the bound, bools and text fail."""
    with pytest.raises(ValueError, match="must be a number"):
        check_seconds(value)


def test_check_seconds_accepts_the_bounds() -> None:
    """The bound itself is allowed; zero only when asked for; ints come back as floats."""
    assert check_seconds(MAX_SECONDS) == MAX_SECONDS
    assert check_seconds(0, zero=True) == 0.0
    assert isinstance(check_seconds(3), float)


@pytest.mark.parametrize("value", [0, -3, 2.5, True, "3", MAX_COUNT + 1, HUGE])
def test_check_count_refuses(value: object) -> None:
    """Non-integers, bools and integers outside [1, MAX_COUNT] fail."""
    with pytest.raises(ValueError, match="must be an integer"):
        check_count(value)


@given(st.one_of(st.integers(), st.floats(), st.booleans(), st.text()))
def test_checks_only_raise_value_error(value: object) -> None:
    """Whatever the value, a check returns a bounded result or raises ValueError."""
    try:
        seconds = check_seconds(value)
    except ValueError:
        pass
    else:
        assert 0 < seconds <= MAX_SECONDS
    try:
        count = check_count(value)
    except ValueError:
        pass
    else:
        assert 1 <= count <= MAX_COUNT


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("20", '"20"'),
        ("a\nb\u2028c", '"a\\nb\\u2028c"'),
        (True, "true"),
        (HUGE, "an integer of about 401 digits"),
        (NAN, "nan"),
        ({"a": 1}, "a table"),
        ("x" * 100, '"' + "x" * 36 + "..."),
    ],
)
def test_show_is_one_short_line(value: object, shown: str) -> None:
    """Values are quoted TOML-like, escaped onto one line and cut when long."""
    assert show(value) == shown


@pytest.mark.parametrize("field", _DURATIONS)
def test_circuit_config_refuses_durations_beyond_the_bound(field: str) -> None:
    """No CircuitConfig duration can exceed MAX_SECONDS, so Redis microseconds never overflow."""
    with pytest.raises(ValueError, match=rf"CircuitConfig\.{field} must be a number of seconds"):
        CircuitConfig(**{field: 1e13})  # type: ignore[arg-type]  # parametrized field


@pytest.mark.parametrize("field", _DURATIONS)
def test_circuit_config_accepts_the_bound(field: str) -> None:
    """MAX_SECONDS itself is a valid duration for every field."""
    settings: dict[str, object] = {field: MAX_SECONDS}
    if field == "max_reset_timeout":
        settings["reset_timeout"] = 30.0
    CircuitConfig(**settings)  # type: ignore[arg-type]  # parametrized field


def test_circuit_config_refuses_a_huge_integer_count() -> None:
    """A 400-digit threshold is a ValueError naming the field, not an OverflowError."""
    with pytest.raises(ValueError, match=r"CircuitConfig\.failure_threshold must be an integer"):
        CircuitConfig(failure_threshold=HUGE)


@pytest.mark.parametrize(
    ("build", "what"),
    [
        (lambda v: RetryConfig(max_delay=v), "RetryConfig.max_delay"),
        (lambda v: TimeoutConfig(attempt_timeout=v), "TimeoutConfig.attempt_timeout"),
        (lambda v: HttpLimits(pool_timeout=v), "HttpLimits.pool_timeout"),
        (lambda v: OpenAIProvider("m", base_url="http://127.0.0.1:9/v1", timeout=v), "timeout"),
        (lambda v: DeadlineProvider(MockProvider.smart(), v), "DeadlineProvider.seconds"),
    ],
)
@pytest.mark.parametrize("value", [1e8, True, float("nan")])
def test_policy_and_provider_durations_share_the_bounded_check(
    build: Callable[[object], object], what: str, value: object
) -> None:
    """Durations set in code get the config file's check: bounded, finite, never a bool."""
    with pytest.raises(ValueError, match=what):
        build(value)
