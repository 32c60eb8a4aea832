"""The pure backoff maths: no clock, no sleep, no global random state."""

from __future__ import annotations

import math
from typing import Protocol


class Random(Protocol):
    """Anything with ``random()`` returning a float in [0, 1) (``random.Random`` fits)."""

    def random(self) -> float: ...


def backoff(attempt: int, *, base: float, cap: float, rng: Random, jitter: float = 1.0) -> float:
    """The delay before retry number ``attempt``: capped exponential growth with jitter.

    The ceiling doubles per attempt, ``min(cap, base * 2 ** (attempt - 1))``, and the
    delay is drawn uniformly from ``[ceiling * (1 - jitter), ceiling]``. Full jitter
    (``jitter=1.0``, the default) spreads retrying clients best after a shared outage.

    Args:
        attempt: Which retry this is, counting from 1 (the first retry waits about ``base``).
        base: The first ceiling, seconds (>= 0).
        cap: The largest ceiling, seconds (>= 0).
        rng: The random source (tests pass a seeded ``random.Random``).
        jitter: Fraction of the ceiling that is randomised, in [0, 1].

    Returns:
        Seconds to wait, within ``[ceiling * (1 - jitter), ceiling]``.

    Raises:
        ValueError: On ``attempt < 1``, negative or non-finite delays, or ``jitter``
            outside [0, 1].
    """
    if attempt < 1:
        msg = f"backoff attempt must be >= 1, got {attempt}"
        raise ValueError(msg)
    for name, value in (("base", base), ("cap", cap)):
        if not (math.isfinite(value) and value >= 0):
            msg = f"backoff {name} must be a finite number of seconds >= 0, got {value}"
            raise ValueError(msg)
    if not (0.0 <= jitter <= 1.0):
        msg = f"backoff jitter must be in [0, 1], got {jitter}"
        raise ValueError(msg)
    # ldexp is the exact base * 2 ** (attempt - 1); past the float range it overflows, and
    # anything that large is over the cap anyway.
    try:
        grown = math.ldexp(base, attempt - 1)
    except OverflowError:
        grown = math.inf
    ceiling = min(cap, grown)
    low = ceiling * (1.0 - jitter)
    return low + (ceiling - low) * rng.random()
