"""Interning of breaker configs: equal configs share one object.

A ``CircuitConfig`` is frozen and slotted but has some twenty fields, bigger than an
idle breaker itself; services build many breakers with configs that are equal but not
the same object (one per provider, from settings). A breaker therefore keeps the first
equal config it saw instead of its own. Safe because a config is immutable and equality
covers every field that changes behaviour (``classify`` by its own equality).

The table is the one piece of module-level state of the breaker package: it only grows
to ``_MAX_CONFIGS`` distinct configs (then new ones are kept as given), never changes
behaviour, and holds nothing mutable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from ..circuit import CircuitConfig

_MAX_CONFIGS: Final = 1024
_CONFIGS: Final[dict[CircuitConfig, CircuitConfig]] = {}


def interned(config: CircuitConfig) -> CircuitConfig:
    """The shared config equal to ``config`` (``config`` itself the first time).

    Args:
        config: A validated config.

    Returns:
        An equal config, possibly another object.
    """
    try:
        known = _CONFIGS.get(config)
    except TypeError:
        return config  # an unhashable classify: keep the config as it is
    if known is not None:
        return known
    if len(_CONFIGS) < _MAX_CONFIGS:
        return _CONFIGS.setdefault(config, config)
    return config
