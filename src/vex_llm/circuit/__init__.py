"""The pure circuit-breaker core: the state machine, its config, outcome classification and
the store protocol.

No I/O and no clock reads: every operation takes ``now`` as an argument. ``stores/`` keeps
records of this machine (in-process, or as Lua scripts in Redis) and ``breaker/`` drives it
around a guarded call. ``machine`` is the state machine itself (pure functions over a
``CircuitRecord``); ``LocalCircuit`` is a record with those functions applied under its
lock, the unit in-process stores hand to breakers; the rest is re-exported here.
"""

from __future__ import annotations

from . import machine
from ._config import CircuitConfig, CircuitState, Outcome, classify_error
from ._local import LocalCircuit
from ._record import CircuitRecord
from ._results import (
    Admission,
    ManualAction,
    Snapshot,
    Ticket,
    Transition,
    TransitionReason,
)
from ._store import CircuitStore

__all__ = [
    "Admission",
    "CircuitConfig",
    "CircuitRecord",
    "CircuitState",
    "CircuitStore",
    "LocalCircuit",
    "ManualAction",
    "Outcome",
    "Snapshot",
    "Ticket",
    "Transition",
    "TransitionReason",
    "classify_error",
    "machine",
]
