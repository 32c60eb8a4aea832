"""``CircuitBreaker`` and ``Permit``: the pure machine of ``circuit/`` driven around a call."""

from __future__ import annotations

from ..circuit import CircuitConfig, CircuitState, Outcome, classify_error
from ._events import CircuitStats, StateChange
from ._permit import Permit
from .breaker import CircuitBreaker

__all__ = [
    "CircuitBreaker",
    "CircuitConfig",
    "CircuitState",
    "CircuitStats",
    "Outcome",
    "Permit",
    "StateChange",
    "classify_error",
]
