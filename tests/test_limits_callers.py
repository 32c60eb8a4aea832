"""Hedge delays, mock latency and Redis store settings go through the one shared check."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from vex_llm import HedgeConfig, MockProvider
from vex_llm.stores import RedisStore

URL = "redis://127.0.0.1:1"  # never connected to: settings fail at construction


@pytest.mark.parametrize(
    ("build", "what"),
    [
        (lambda v: HedgeConfig(delay=v), "HedgeConfig.delay"),
        (lambda v: MockProvider(latency=v), "MockProvider latency"),
        (lambda v: RedisStore(URL, timeout=v), "RedisStore timeout"),
        (lambda v: RedisStore(URL, closed_cache_ttl=v), "RedisStore closed_cache_ttl"),
        (lambda v: RedisStore(URL, reconnect_after=v), "RedisStore reconnect_after"),
    ],
)
@pytest.mark.parametrize("value", [1e8, True, float("nan"), -1.0, "2"])
def test_durations_share_the_bounded_check(
    build: Callable[[object], object], what: str, value: object
) -> None:
    """Each duration is bounded (1e7 s), finite, never a bool or text, and named."""
    with pytest.raises(ValueError, match=f"^{what} must be a number"):
        build(value)


@pytest.mark.parametrize(
    ("build", "what"),
    [
        (lambda v: HedgeConfig(window=v), "HedgeConfig.window"),
        (lambda v: RedisStore(URL, max_errors=v), "RedisStore max_errors"),
        (lambda v: RedisStore(URL, max_connections=v), "RedisStore max_connections"),
    ],
)
@pytest.mark.parametrize("value", [0, True, 2.5, 10**10])
def test_counts_share_the_bounded_check(
    build: Callable[[object], object], what: str, value: object
) -> None:
    """Each count is an integer in [1, 1e9], never a bool, and named."""
    with pytest.raises(ValueError, match=f"^{what} must be an integer"):
        build(value)


@pytest.mark.parametrize("build", [lambda: HedgeConfig(delay=0), lambda: MockProvider(latency=0)])
def test_a_zero_delay_is_still_allowed(build: Callable[[], object]) -> None:
    """Delays may be 0 (hedge at once, no simulated latency), as before."""
    build()


@pytest.mark.parametrize("value", [True, float("nan"), float("inf"), 0, "2"])
def test_idle_ttl_shares_the_check_but_takes_any_finite_ttl(value: object) -> None:
    """idle_ttl refuses what every duration refuses; a huge finite TTL is clamped, not refused."""
    RedisStore(URL, idle_ttl=1e300)
    RedisStore(URL, idle_ttl=10**400)
    with pytest.raises(ValueError, match=r"^RedisStore idle_ttl must be a number"):
        RedisStore(URL, idle_ttl=value)  # type: ignore[arg-type]  # bad on purpose
