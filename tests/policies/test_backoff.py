"""The pure backoff maths: bounds, growth, cap, jitter, validation."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vex_llm.policies import backoff


class _Fixed:
    """A random source that always returns the same value."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


@given(
    attempt=st.integers(min_value=1, max_value=5000),
    base=st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
    cap=st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
    jitter=st.floats(min_value=0, max_value=1),
    seed=st.integers(),
)
def test_delay_stays_within_the_jittered_ceiling(
    attempt: int, base: float, cap: float, jitter: float, seed: int
) -> None:
    """Every delay lies in [ceiling * (1 - jitter), ceiling], ceiling = min(cap, base * 2^(n-1))."""
    delay = backoff(attempt, base=base, cap=cap, rng=random.Random(seed), jitter=jitter)
    ceiling = float(min(Fraction(cap), Fraction(base) * 2 ** (attempt - 1)))
    assert 0.0 <= delay <= ceiling * (1 + 1e-12)
    assert delay >= ceiling * (1.0 - jitter) * (1 - 1e-12)


@given(attempt=st.integers(min_value=1, max_value=60))
def test_ceiling_doubles_until_the_cap(attempt: int) -> None:
    """With no jitter the delay is exactly base * 2^(attempt-1), capped."""
    delay = backoff(attempt, base=0.5, cap=8.0, rng=_Fixed(0.0), jitter=0.0)
    assert delay == min(8.0, 0.5 * 2 ** (attempt - 1))


def test_full_jitter_spans_zero_to_the_ceiling() -> None:
    """Full jitter maps the random draw linearly onto [0, ceiling]."""
    assert backoff(3, base=1.0, cap=10.0, rng=_Fixed(0.0)) == 0.0
    assert backoff(3, base=1.0, cap=10.0, rng=_Fixed(0.5)) == 2.0


def test_same_seed_same_delays() -> None:
    """The maths is pure: the same rng state gives the same delays."""
    first = [backoff(n, base=0.5, cap=8, rng=r) for r in [random.Random(7)] for n in range(1, 6)]
    again = [backoff(n, base=0.5, cap=8, rng=r) for r in [random.Random(7)] for n in range(1, 6)]
    assert first == again


@pytest.mark.parametrize(
    ("attempt", "base", "cap", "jitter"),
    [(0, 1.0, 1.0, 1.0), (1, -1.0, 1.0, 1.0), (1, 1.0, float("inf"), 1.0), (1, 1.0, 1.0, 1.5)],
)
def test_bad_arguments_raise(attempt: int, base: float, cap: float, jitter: float) -> None:
    """Attempt < 1, negative or infinite delays and jitter outside [0, 1] raise ValueError."""
    with pytest.raises(ValueError, match="backoff"):
        backoff(attempt, base=base, cap=cap, rng=_Fixed(0.5), jitter=jitter)
