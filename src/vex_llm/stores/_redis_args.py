"""The keys and arguments of the store's scripts, cached per circuit and per config."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._redis_reply import US
from ._redis_settings import MAX_SECONDS, Settings, seconds

if TYPE_CHECKING:
    from ..circuit import CircuitConfig


class Arguments:
    """Builds what each script is called with (see ``_redis_scripts`` for the order)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._keys: dict[str, list[str]] = {}
        self._records: dict[int, tuple[CircuitConfig, list[str]]] = {}
        self._probes: dict[int, tuple[CircuitConfig, list[str]]] = {}

    def keys(self, name: str) -> list[str]:
        """The circuit's keys: state, probe leases, window, incarnation marker.

        One hash tag per circuit, so Redis Cluster keeps a circuit on one slot.
        """
        keys = self._keys.get(name)
        if keys is None:
            tag = f"{{{self._settings.prefix}:{name}}}"
            keys = self._keys[name] = [f"{tag}:s", f"{tag}:p", f"{tag}:w", f"{tag}:x"]
        return keys

    def record(self, config: CircuitConfig) -> list[str]:
        """The rules RECORD applies, from the config."""
        entry = self._records.get(id(config))
        if entry is None or entry[0] is not config:
            minimum = config.minimum_calls
            if config.window == "count":
                minimum = min(minimum, config.window_size)
            args = [
                config.mode,
                str(config.failure_threshold),
                str(config.success_threshold),
                seconds(config.reset_timeout),
                repr(config.backoff_multiplier),
                seconds(config.open_cap),
                repr(config.jitter),
                config.retry_after,
                seconds(config.retry_after_trip_min),
                config.window,
                str(config.window_size),
                seconds(config.window_seconds),
                str(config.window_buckets),
                str(minimum),
                repr(config.failure_rate_threshold),
                repr(config.slow_call_rate_threshold),
            ]
            entry = self._records[id(config)] = (config, args)
        return entry[1]

    def acquire(self, config: CircuitConfig) -> list[str]:
        """The probe budget and lease time ACQUIRE applies, from the config."""
        entry = self._probes.get(id(config))
        if entry is None or entry[0] is not config:
            ttl = min(config.probe_lease_ttl, MAX_SECONDS)
            args = [str(config.probe_budget), str(round(ttl * US))]
            entry = self._probes[id(config)] = (config, args)
        return entry[1]

    def argv(self, args: Sequence[str], *, pending: int) -> list[str]:
        """Every script's leading arguments (clock offset, idle time, a fresh token, the
        admissions the closed-state cache made meanwhile), then ``args``."""
        offset = self._settings.clock_offset
        return [
            "0" if offset is None else str(round(offset() * US)),
            str(self._settings.idle_ms),
            secrets.token_hex(8),
            str(pending),
            *args,
        ]
