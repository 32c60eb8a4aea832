"""CircuitConfig and classify_error (``breaker/_config.py``).

Named ``test_circuit_config.py``: ``tests/test_config.py`` (the TOML settings) already has
the plain basename, and test modules here are not packages.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math

import pytest

from vex_llm import (
    AuthenticationFailed,
    CircuitBreaker,
    CircuitConfig,
    CircuitOpenError,
    ConnectionFailed,
    ContextLengthExceeded,
    InvalidRequest,
    InvalidResponse,
    LlmError,
    NotAvailable,
    Outcome,
    RateLimited,
    ServerError,
    StreamInterrupted,
    Timeout,
    classify_error,
)

NAN, INF = math.nan, math.inf


def test_defaults_are_the_seeds() -> None:
    """Defaults: 5 failures, 2 successes, 30 s; probe budget = success_threshold; extras off."""
    config = CircuitConfig()
    assert (config.failure_threshold, config.success_threshold, config.reset_timeout) == (
        5,
        2,
        30.0,
    )
    assert config.half_open_max_calls is None
    assert config.probe_budget == 2
    assert (config.mode, config.backoff_multiplier, config.jitter) == ("consecutive", 1.0, 0.0)
    assert config.slow_call_duration is None
    assert config.retry_after == "extend"
    assert config.classify is classify_error
    assert config.open_cap == 300.0


def test_conservative_preset() -> None:
    """The seed's production preset is 3 / 3 / 60 s."""
    config = CircuitConfig.conservative()
    assert (config.failure_threshold, config.success_threshold, config.reset_timeout) == (
        3,
        3,
        60.0,
    )
    assert config.probe_budget == 3


@pytest.mark.parametrize(
    ("settings", "budget", "cap"),
    [
        ({"success_threshold": 4}, 4, 300.0),
        ({"success_threshold": 2, "half_open_max_calls": 5}, 5, 300.0),
        ({"success_threshold": 3, "half_open_max_calls": 1}, 1, 300.0),
        ({"reset_timeout": 900.0}, 2, 900.0),
        ({"reset_timeout": 10.0, "max_reset_timeout": 10.0}, 2, 10.0),
        ({"reset_timeout": 10.0, "max_reset_timeout": 45.0}, 2, 45.0),
    ],
)
def test_resolved_budget_and_cap(settings: dict[str, float], budget: int, cap: float) -> None:
    """half_open_max_calls defaults to success_threshold; the cap defaults to max(300, reset)."""
    config = CircuitConfig(**settings)  # type: ignore[arg-type]  # parametrized settings
    assert (config.probe_budget, config.open_cap) == (budget, cap)


def test_settings_are_frozen_and_keyword_only() -> None:
    """Settings are frozen, slotted and keyword-only."""
    config = CircuitConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.failure_threshold = 1  # type: ignore[misc]  # the misuse under test
    with pytest.raises(TypeError):
        CircuitConfig(3)  # type: ignore[misc]  # the misuse under test
    assert not hasattr(config, "__dict__")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("failure_threshold", 0),
        ("failure_threshold", -1),
        ("failure_threshold", 1.5),
        ("failure_threshold", True),
        ("failure_threshold", "3"),
        ("success_threshold", 0),
        ("success_threshold", -2),
        ("half_open_max_calls", 0),
        ("half_open_max_calls", -1),
        ("reset_timeout", 0.0),
        ("reset_timeout", -1.0),
        ("reset_timeout", NAN),
        ("reset_timeout", INF),
        ("probe_lease_ttl", 0.0),
        ("probe_lease_ttl", -5.0),
        ("mode", "tumbling"),
        ("window", "sliding"),
        ("window_size", 0),
        ("window_seconds", 0.0),
        ("window_seconds", -60.0),
        ("window_buckets", 0),
        ("minimum_calls", 0),
        ("failure_rate_threshold", 0.0),
        ("failure_rate_threshold", -0.1),
        ("failure_rate_threshold", 1.01),
        ("failure_rate_threshold", NAN),
        ("slow_call_duration", 0.0),
        ("slow_call_duration", -1.0),
        ("slow_call_rate_threshold", 0.0),
        ("slow_call_rate_threshold", 1.5),
        ("backoff_multiplier", 0.5),
        ("backoff_multiplier", NAN),
        ("backoff_multiplier", INF),
        ("max_reset_timeout", 0.0),
        ("max_reset_timeout", -1.0),
        ("max_reset_timeout", 10.0),  # below reset_timeout (30 s)
        ("jitter", -0.1),
        ("jitter", 1.0),
        ("jitter", NAN),
        ("retry_after", "sometimes"),
        ("retry_after_trip_min", 0.0),
        ("classify", "not callable"),
    ],
)
def test_bad_settings_raise_naming_the_field(field: str, value: object) -> None:
    """Invalid settings fail at construction with a ValueError that names the field."""
    with pytest.raises(ValueError, match=field):
        CircuitConfig(**{field: value})  # type: ignore[arg-type]  # the misuse under test


@pytest.mark.parametrize(
    "settings",
    [
        {"failure_threshold": 1, "success_threshold": 1},
        {"failure_rate_threshold": 1.0, "slow_call_rate_threshold": 1.0},
        {"jitter": 0.0},
        {"jitter": 0.999},
        {"backoff_multiplier": 1.0},
        {"reset_timeout": 0.001},
        {"slow_call_duration": 0.5},
        {"mode": "ratio", "window": "time", "minimum_calls": 1000, "window_size": 1},
    ],
)
def test_boundary_settings_are_accepted(settings: dict[str, object]) -> None:
    """The inclusive ends of every range are valid settings."""
    CircuitConfig(**settings)  # type: ignore[arg-type]  # parametrized settings


def test_breaker_checks_its_arguments() -> None:
    """CircuitBreaker takes a CircuitConfig and a CircuitStore, nothing else."""
    with pytest.raises(TypeError, match="CircuitConfig"):
        CircuitBreaker({"failure_threshold": 3})  # type: ignore[arg-type]  # misuse
    with pytest.raises(TypeError, match="CircuitStore"):
        CircuitBreaker(store={})  # type: ignore[arg-type]  # misuse


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (ConnectionFailed("refused"), Outcome.FAILURE),
        (NotAvailable("down"), Outcome.FAILURE),
        (RateLimited("slow down", retry_after=3.0), Outcome.FAILURE),
        (Timeout("late"), Outcome.FAILURE),
        (ServerError("boom", status=502), Outcome.FAILURE),
        (StreamInterrupted("cut"), Outcome.FAILURE),
        (OSError("socket"), Outcome.FAILURE),
        (ConnectionRefusedError("refused"), Outcome.FAILURE),
        (TimeoutError("raw"), Outcome.FAILURE),
        (CircuitOpenError("inner", breaker="inner"), Outcome.IGNORED),
        (InvalidRequest("bad"), Outcome.IGNORED),
        (ContextLengthExceeded("long"), Outcome.IGNORED),
        (AuthenticationFailed("key"), Outcome.IGNORED),
        (InvalidResponse("garbage"), Outcome.IGNORED),
        (LlmError("other"), Outcome.IGNORED),
        (ValueError("bug"), Outcome.IGNORED),
        (asyncio.CancelledError(), Outcome.IGNORED),
        (KeyboardInterrupt(), Outcome.IGNORED),
        (SystemExit(1), Outcome.IGNORED),
        (GeneratorExit(), Outcome.IGNORED),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else v.value,
)
def test_default_classification(error: BaseException, outcome: Outcome) -> None:
    """classify_error: provider trouble fails, caller errors / rejections / exits are ignored."""
    assert classify_error(error) is outcome
