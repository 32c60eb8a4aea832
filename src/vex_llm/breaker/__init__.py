"""``CircuitBreaker`` and ``Permit``: the pure machine of ``circuit/`` driven around a call.

``breaker`` holds the call paths (the lock-free closed-state path, the open-state fast
rejection, the sync decorator); ``_backends`` the one interface it delegates to, chosen
at construction (``LOCAL`` for an in-process ``LocalCircuit``, ``SharedBackend`` for a
store that keeps the state elsewhere); ``_events`` the state-change events, log lines,
rejections and stats; ``_permit`` the hand-reported permit; ``_guarded`` what ``@breaker``
returns; ``_configs`` the sharing of equal configs between breakers.
"""

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
