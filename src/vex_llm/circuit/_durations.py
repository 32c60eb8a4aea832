"""How long an open period lasts: reset timeout, backoff, cap, jitter and Retry-After."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._config import CircuitConfig


def open_duration(
    config: CircuitConfig, open_count: int, u: float, retry_after: float | None
) -> float:
    """How long the ``open_count``-th open of an episode lasts (seconds).

    ``reset_timeout * backoff_multiplier ** (open_count - 1)``, capped first, then
    jittered downwards (so jitter survives the cap), then stretched to a Retry-After hint
    (itself capped).

    Args:
        config: The breaker's settings.
        open_count: 1 for the first open since the circuit last closed.
        u: A uniform sample in [0, 1) for the jitter.
        retry_after: The provider's hint, if the tripping failure carried one.

    Returns:
        The open duration in seconds, never above ``config.open_cap``.
    """
    cap = config.open_cap
    exponent = max(0, open_count - 1)
    multiplier = config.backoff_multiplier
    if multiplier == 1.0 or exponent == 0:
        base = config.reset_timeout
    elif exponent * math.log(multiplier) >= math.log(cap / config.reset_timeout):
        base = cap  # computing the power would only overflow; the cap wins anyway
    else:
        base = config.reset_timeout * multiplier**exponent
    duration = min(base, cap) * (1.0 - config.jitter * u)
    if retry_after is not None and config.retry_after != "ignore":
        duration = max(duration, min(retry_after, cap))
    return duration
