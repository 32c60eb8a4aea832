"""The settings of a ``RedisStore``, validated once, and how durations reach the scripts."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal, TypedDict

from .._limits import check_count, check_seconds, checked_as

OnError = Literal["local", "fail_open", "fail_closed"]
"""What a ``RedisStore`` does while Redis cannot be reached (see ``RedisStore``)."""

MAX_SECONDS: Final = 1e9
"""The longest duration sent to a script (about 31 years): the scripts add durations in
microseconds to the server's time, and the sum must stay an exact integer in Lua's
doubles (below 2**53 us). Longer ones are clamped to this: open for 31 years is open."""


def seconds(value: float) -> str:
    """A duration for a script, clamped to ``MAX_SECONDS``."""
    return repr(min(float(value), MAX_SECONDS))


class StoreSettings(TypedDict, total=False):
    """The keyword arguments of ``RedisStore`` and ``RedisStore.from_client``."""

    prefix: str
    timeout: float
    on_error: OnError
    idle_ttl: float
    closed_cache_ttl: float
    max_errors: int
    reconnect_after: float
    connect_timeout: float
    record_timeout: float
    max_connections: int
    max_queued_outcomes: int
    clock: Callable[[], float]
    clock_offset: Callable[[], float] | None


_SECONDS: Final = ("timeout", "reconnect_after", "connect_timeout", "record_timeout")
_COUNTS: Final = ("max_errors", "max_connections", "max_queued_outcomes")
_DELAY: Final = functools.partial(check_seconds, zero=True)


def _idle_ttl(value: object) -> float:
    """Any finite number of seconds > 0: a TTL past what the scripts hold is clamped to it."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = value if value == math.inf else min(value, MAX_SECONDS)
    return check_seconds(value, maximum=MAX_SECONDS)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """A ``RedisStore``'s settings (see its docstring for each one and its default).

    Raises:
        ValueError: Naming the first invalid setting.
    """

    prefix: str = "vex"
    timeout: float = 0.05
    on_error: OnError = "local"
    idle_ttl: float = 7 * 86400.0
    closed_cache_ttl: float = 0.0
    max_errors: int = 3
    reconnect_after: float = 1.0
    connect_timeout: float = 1.0
    record_timeout: float = 1.0
    max_connections: int = 16
    max_queued_outcomes: int = 1000
    clock: Callable[[], float] = time.monotonic
    clock_offset: Callable[[], float] | None = None
    setup_timeout: float = field(init=False, repr=False)
    """Seconds to get ready while Redis is healthy (never below ``timeout``)."""
    idle_ms: int = field(init=False, repr=False)
    """``idle_ttl`` in whole milliseconds, clamped, as the scripts take it."""

    def __post_init__(self) -> None:
        prefix: object = self.prefix
        if not isinstance(prefix, str) or not prefix:
            msg = f"RedisStore prefix must be a non-empty string, got {self.prefix!r}"
            raise ValueError(msg)
        for name in _SECONDS:
            checked_as(f"RedisStore {name}", check_seconds, getattr(self, name))
        checked_as("RedisStore idle_ttl", _idle_ttl, self.idle_ttl)
        checked_as("RedisStore closed_cache_ttl", _DELAY, self.closed_cache_ttl)
        if self.on_error not in ("local", "fail_open", "fail_closed"):
            msg = (
                "RedisStore on_error must be 'local', 'fail_open' or 'fail_closed', "
                f"got {self.on_error!r}"
            )
            raise ValueError(msg)
        for name in _COUNTS:
            checked_as(f"RedisStore {name}", check_count, getattr(self, name))
        object.__setattr__(self, "setup_timeout", max(self.connect_timeout, self.timeout))
        idle_ms = max(1, round(min(self.idle_ttl, MAX_SECONDS) * 1000))
        object.__setattr__(self, "idle_ms", idle_ms)
