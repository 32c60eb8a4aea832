"""The circuit breaker: a pure state machine (``_machine``) and ``CircuitBreaker`` over it."""

from __future__ import annotations

from ._config import CircuitConfig, CircuitState, Outcome, classify_error
from .breaker import CircuitBreaker, CircuitStats, Permit, StateChange

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
