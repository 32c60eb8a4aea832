"""What each key of a config file may hold: one check per key, a problem text on failure.

``config.py`` reads a file and puts the file and the key in front of a problem; this
module only knows values. Every check takes what TOML produced (any type) and returns the
value to use or raises ``ValueError`` with ``must be ..., got ...``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Final

from .._limits import MAX_COUNT, check_count, check_seconds, quote, show
from .._urls import mask_url as masked_url
from .._urls import url_problem

Check = Callable[[object], object]
"""Validates one value: returns it (normalised) or raises ``ValueError`` with the problem."""

MAX_BACKOFF_MULTIPLIER: Final = 1000.0
"""The largest ``breaker.backoff_multiplier``: beyond it the cap is reached at once anyway."""

_BARE_KEY: Final = re.compile(r"[A-Za-z0-9_-]+")
_ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def seconds(value: object) -> object:
    """A duration > 0, at most ``MAX_SECONDS``."""
    return check_seconds(value)


def delay(value: object) -> object:
    """A duration >= 0 (a delay or a rate may be zero), at most ``MAX_SECONDS``."""
    return check_seconds(value, zero=True)


def count(value: object) -> object:
    """An integer in [1, ``MAX_COUNT``]."""
    return check_count(value)


def number(low: float, high: float, *, open_low: bool = False, open_high: bool = False) -> Check:
    """A check for a number in a range (ends included unless ``open_*``)."""

    def check(value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int | float):
            msg = f"must be a number, got {show(value)}"
            raise ValueError(msg)
        # Compared before float(): a 400-digit int would overflow the conversion.
        above = value > low if open_low else value >= low
        below = value < high if open_high else value <= high
        if not (above and below):  # NaN fails both
            span = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
            msg = f"must be in {span}, got {show(value)}"
            raise ValueError(msg)
        return float(value)

    return check


def choice(*options: str) -> Check:
    """A check for one of some strings."""

    def check(value: object) -> object:
        if value not in options:
            msg = f"must be one of {', '.join(map(quote, options))}, got {show(value)}"
            raise ValueError(msg)
        return value

    return check


def flag(value: object) -> object:
    """A boolean (``true`` or ``false``)."""
    if not isinstance(value, bool):
        msg = f"must be true or false, got {show(value)}"
        raise ValueError(msg)
    return value


def text(value: object) -> object:
    """A non-empty one-line string (names and models end up in messages and Redis keys)."""
    if not isinstance(value, str) or not value or not value.isprintable():
        msg = f"must be a non-empty string on one line, got {show(value)}"
        raise ValueError(msg)
    return value


def names(value: object) -> object:
    """A non-empty array of distinct one-line strings (provider names, in order)."""
    if not isinstance(value, list) or not value:
        msg = f"must be a non-empty array of names, got {show(value)}"
        raise ValueError(msg)
    for item in value:
        try:
            text(item)
        except ValueError:
            msg = f"must be a non-empty array of names, got {show(item)} in it"
            raise ValueError(msg) from None
    if len(set(value)) != len(value):
        twice = next(item for item in value if value.count(item) > 1)
        msg = f"{show(twice)} is listed twice"
        raise ValueError(msg)
    return tuple(value)


def env_name(value: object) -> object:
    """The NAME of an environment variable, never a key itself."""
    if not isinstance(value, str) or not _ENV_NAME.fullmatch(value):
        # The value is not quoted: it may be the key the user pasted by mistake.
        msg = "give the NAME of an environment variable (like OPENAI_API_KEY), never the key itself"
        raise ValueError(msg)
    return value


def mask_url(url: str) -> str:
    """``url`` with any user, password and secret query values replaced by ``***``, quoted."""
    return show(masked_url(url))


def url(schemes: tuple[str, ...], *, host: bool = True) -> Check:
    """A check for a URL with one of ``schemes``, a host (unless ``host=False``) and a port
    in 1-65535 if it names one; the value quoted in a problem has its credentials masked."""
    *first, last = schemes
    names = f"{', '.join(first)} or {last}" if first else last
    wanted = f"must be a URL with scheme {names}" + (
        ", a host and a port in 1-65535" if host else ""
    )

    def check(value: object) -> object:
        if not isinstance(value, str):
            msg = f"{wanted}, got {show(value)}"
            raise ValueError(msg)
        if url_problem(value, schemes, host=host) is not None:
            msg = f"{wanted}, got {mask_url(value)}"
            raise ValueError(msg)
        return value

    return check


def key_path(key: str, name: str) -> str:
    """``key.name``, the name quoted when it is not a bare TOML key (one line, always)."""
    part = name if _BARE_KEY.fullmatch(name) else quote(name)
    return f"{key}.{part}" if key else part


TOP: Final[Mapping[str, Check]] = {
    "deadline": seconds,
    "redis": url(("redis", "rediss", "unix"), host=False),
}
"""Top-level scalar keys (``breaker``, ``retry``, ``provider`` and ``model`` are tables)."""

PROVIDER: Final[Mapping[str, Check]] = {
    "name": text,
    "kind": text,
    "model": text,
    "base_url": url(("http", "https")),
    "api_key_env": env_name,
    "max_context_tokens": count,
}
"""A provider's scalar keys (the timeouts are in ``TIMEOUTS``)."""

TIMEOUTS: Final[Mapping[str, Check]] = {
    "attempt_timeout": seconds,
    "first_token_timeout": seconds,
    "idle_timeout": seconds,
}

CIRCUIT: Final[Mapping[str, Check]] = {
    "failure_threshold": count,
    "success_threshold": count,
    "reset_timeout": seconds,
    "half_open_max_calls": count,
    "probe_lease_ttl": seconds,
    "mode": choice("consecutive", "ratio"),
    "window": choice("count", "time"),
    "window_size": count,
    "window_seconds": seconds,
    "window_buckets": count,
    "minimum_calls": count,
    "failure_rate_threshold": number(0, 1, open_low=True),
    "slow_call_duration": seconds,
    "slow_call_rate_threshold": number(0, 1, open_low=True),
    "backoff_multiplier": number(1, MAX_BACKOFF_MULTIPLIER),
    "max_reset_timeout": seconds,
    "jitter": number(0, 1, open_high=True),
    "retry_after": choice("extend", "trip", "ignore"),
    "retry_after_trip_min": seconds,
}
"""``[breaker]`` keys: every ``CircuitConfig`` setting but ``classify`` (code, not data)."""

RETRY: Final[Mapping[str, Check]] = {
    "attempts": count,
    "base_delay": delay,
    "max_delay": delay,
    "jitter": number(0, 1),
    "deadline": seconds,
    "max_retry_after": delay,
    "budget": number(0, 1),
    "budget_floor": number(0, MAX_COUNT),
    "retry_timeouts": flag,
}
"""``[retry]`` keys: every ``RetryConfig`` setting."""

CAPABILITIES: Final[Mapping[str, Check]] = {
    "vision": flag,
    "documents": flag,
    "json_schema": flag,
    "tools": flag,
    "prefill": flag,
}
"""A provider's ``capabilities`` keys: every ``Capabilities`` field (unset: the kind's default)."""

STREAM_BREAKS: Final = ("raise", "restart", "continue")
"""Values of a model's ``stream_break``; ``"continue"`` is the gateway's (``"raise"`` elsewhere)."""

MODEL: Final[Mapping[str, Check]] = {
    "name": text,
    "providers": names,
    "deadline": seconds,
    "stream_break": choice(*STREAM_BREAKS),
}
"""A ``[[model]]`` table's scalar keys (``hedge`` is a table)."""

HEDGE: Final[Mapping[str, Check]] = {
    "delay": delay,
    "quantile": number(0, 1, open_low=True, open_high=True),
    "window": count,
    "min_samples": count,
}
"""A model's ``hedge`` keys: every ``HedgeConfig`` setting."""
