"""Interning of breaker configs: equal configs share one object.

A ``CircuitConfig`` is frozen and slotted but has some twenty fields, bigger than an
idle breaker itself; services build many breakers with configs that are equal but not
the same object (one per provider, from settings). A breaker therefore keeps the first
equal config it saw instead of its own. Safe because a config is immutable and equality
covers every field that changes behaviour (``classify`` by its own equality, which
for a function is identity).

The table is the one piece of module-level state of the breaker package: it only grows
to ``_MAX_CONFIGS`` distinct configs (then new ones are kept as given), never changes
behaviour, and holds nothing mutable.
"""

from __future__ import annotations

import dataclasses
from typing import Final

from ..circuit import CircuitConfig

_MAX_CONFIGS: Final = 1024
_COMPARED: Final = tuple(f.name for f in dataclasses.fields(CircuitConfig) if f.compare)
# Configs by failure_threshold, each list scanned field by field. Not a dict keyed by the
# config: hashing a config builds a 20-field tuple per breaker built, and comparing
# field by field allocates nothing.
_CONFIGS: Final[dict[int, list[CircuitConfig]]] = {}
_count = [0]


def _same(a: CircuitConfig, b: CircuitConfig) -> bool:
    return all(getattr(a, name) == getattr(b, name) for name in _COMPARED)


def interned(config: CircuitConfig) -> CircuitConfig:
    """The shared config equal to ``config`` (``config`` itself the first time).

    Args:
        config: A validated config.

    Returns:
        An equal config, possibly another object.
    """
    bucket = _CONFIGS.get(config.failure_threshold)
    if bucket is not None:
        for known in bucket:
            if known is config or _same(known, config):
                return known
    if _count[0] >= _MAX_CONFIGS:
        return config
    _count[0] += 1
    # Racing threads may both add an equal config: harmless, later ones find the first.
    _CONFIGS.setdefault(config.failure_threshold, []).append(config)
    return config
