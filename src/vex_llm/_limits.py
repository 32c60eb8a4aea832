"""The bounds every setting shares: durations in seconds, and counts.

One check per kind of value, so a circuit's ``reset_timeout`` and a config file's
``deadline`` are held to the same rule and say the same thing when they break it. Each
check raises with the problem only (``must be ..., got ...``); the caller puts the owner
in front (``CircuitConfig.reset_timeout`` or ``vex.toml: provider[1].attempt_timeout``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Final, TypeVar

_T = TypeVar("_T")

MAX_SECONDS: Final = 10_000_000.0
"""The longest duration any setting takes: 10 million seconds, about 115 days.

No timeout, open period or window is useful beyond a few days; a bigger value is a unit
mistake (milliseconds written as seconds). The bound also keeps every duration exact and
far from overflow where it is turned into integer microseconds: in Redis an open period
ends at ``server time (us) + duration (us)``, about 1.8e15 + 1e13, well inside the 2**53
(9.0e15) that a Lua number holds exactly (and the int64 that Redis stores).
"""

MAX_COUNT: Final = 1_000_000_000
"""The largest count any setting takes (thresholds, window sizes, attempts, tokens):
one billion fits a 32-bit integer and any count a resilience setting needs."""

_SHOWN: Final = 40
"""Characters of a bad value quoted in a message (a 400-digit number is cut)."""


def show(value: object) -> str:
    """A value as one short line for an error message, TOML-like: ``"20"``, ``true``, ``1e400``.

    Strings are double-quoted with every control or line-breaking character escaped, so a
    message is always one line; long values are cut with ``...``.

    Args:
        value: What the user wrote.

    Returns:
        The text to quote.
    """
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = quote(value)
    elif isinstance(value, int) and value.bit_length() > 128:
        # repr() refuses ints over 4300 digits; the size is what the reader needs anyway.
        text = f"an integer of about {math.ceil(value.bit_length() * math.log10(2))} digits"
    elif isinstance(value, int | float):
        text = repr(value)
    elif isinstance(value, dict):
        text = "a table"
    elif isinstance(value, list):
        text = "an array"
    else:
        text = type(value).__name__
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def quote(text: str) -> str:
    """``text`` double-quoted on one line: JSON escapes plus every non-printable character.

    Args:
        text: Any string (a key, a name, a value).

    Returns:
        The quoted string, free of line breaks.
    """
    quoted = json.dumps(text, ensure_ascii=False)
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in quoted)


def check_seconds(value: object, *, zero: bool = False, maximum: float = MAX_SECONDS) -> float:
    """A duration setting: a finite number of seconds in ``(0, maximum]`` (``[0, ...]``
    with ``zero``); booleans are not numbers.

    Args:
        value: The setting as given (any type: config files hold anything).
        zero: Whether 0 is allowed (a delay may be 0; a timeout may not).
        maximum: The largest value allowed (default ``MAX_SECONDS``).

    Returns:
        The value as a float.

    Raises:
        ValueError: ``must be a number, got ...`` for a non-number (``"20"``, ``true``);
            ``must be a number of seconds in ...`` for a negative, zero, NaN, infinite or
            too large value.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"must be a number, got {show(value)}"
        raise ValueError(msg)
    # Compared before any float(): an int of 400 digits would overflow the conversion.
    low_ok = value >= 0 if zero else value > 0
    if not (low_ok and value <= maximum):  # NaN fails both comparisons
        low = "[0" if zero else "(0"
        msg = f"must be a number of seconds in {low}, {maximum:.0f}], got {show(value)}"
        raise ValueError(msg)
    return float(value)


def checked_as(what: str, check: Callable[[object], _T], value: object) -> _T:
    """Run a shared check (``check_seconds``, ``check_count``, ...), naming the setting.

    Args:
        what: The setting, as the message should start (``"RetryConfig.max_delay"``).
        check: The check.
        value: The value as given.

    Returns:
        What the check returns.

    Raises:
        ValueError: ``"<what> <the check's reason>"``.
    """
    try:
        return check(value)
    except ValueError as exc:
        msg = f"{what} {exc}"
        raise ValueError(msg) from None


def check_count(value: object, *, minimum: int = 1, maximum: int = MAX_COUNT) -> int:
    """A count setting: an integer in ``[minimum, maximum]``; booleans are not integers.

    Args:
        value: The setting as given.
        minimum: The smallest value allowed (default 1).
        maximum: The largest value allowed (default ``MAX_COUNT``).

    Returns:
        The value.

    Raises:
        ValueError: ``must be an integer, got ...`` for a non-integer (``2.5``, ``"3"``);
            ``must be an integer >= 1 and <= ..., got ...`` out of range.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"must be an integer, got {show(value)}"
        raise ValueError(msg)
    if not minimum <= value <= maximum:
        msg = f"must be an integer >= {minimum} and <= {maximum}, got {show(value)}"
        raise ValueError(msg)
    return value
