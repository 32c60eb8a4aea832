"""Input checks for faults and rules: each raises ``ValueError`` naming the field.

A fault the server cannot act on must fail when it is built (in Python) or posted (the
admin API answers 400), never when a request hits it: a status the server cannot send
(``101``), a header value with a line break, or ``after_chunks=1.5`` (a chunk index that
never comes) would otherwise crash or silently never fire.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from typing import Final

# RFC 9110 field values: visible ASCII, with single spaces or tabs inside. No CR, LF or
# NUL (header injection; h11 refuses them and the request dies), nothing outside ASCII.
_HEADER_VALUE: Final = re.compile(r"[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?")
HEADER_VALUE_MAX: Final = 256
"""Longest header value a fault may carry, in characters."""


def is_number(value: object) -> bool:
    """Whether ``value`` is an int or float (``bool`` is not a number here)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_seconds(owner: str, name: str, value: object, *, optional: bool = False) -> None:
    """A duration: a finite number of seconds >= 0 (or ``None`` when ``optional``)."""
    if value is None and optional:
        return
    if not (is_number(value) and math.isfinite(value) and value >= 0):  # type: ignore[arg-type,operator]  # is_number narrowed it
        msg = f"{owner} {name} must be a finite number of seconds >= 0, got {value!r}"
        raise ValueError(msg)


def check_count(owner: str, name: str, value: object, *, optional: bool = False) -> None:
    """A count: an integer >= 0 (or ``None`` when ``optional``)."""
    if value is None and optional:
        return
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        msg = f"{owner} {name} must be an integer >= 0, got {value!r}"
        raise ValueError(msg)


def check_probability(owner: str, name: str, value: object) -> None:
    """A probability: a number in [0, 1]."""
    if not (is_number(value) and 0.0 <= value <= 1.0):  # type: ignore[operator]  # is_number narrowed it
        msg = f"{owner} {name} must be a number in [0, 1], got {value!r}"
        raise ValueError(msg)


def check_status(owner: str, value: object, *, low: int, high: int, kind: str) -> None:
    """An HTTP status an answer of ``kind`` can carry: an integer in [low, high]."""
    if not (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high):
        msg = (
            f"{owner} status must be an integer HTTP status {low}-{high} for kind {kind!r}, "
            f"got {value!r}"
        )
        raise ValueError(msg)


def check_text(owner: str, name: str, value: object, *, optional: bool = True) -> None:
    """A string (or ``None`` when ``optional``)."""
    if value is None and optional:
        return
    if not isinstance(value, str):
        msg = f"{owner} {name} must be a string, got {value!r}"
        raise ValueError(msg)


def check_header_value(owner: str, name: str, value: str) -> None:
    """A string that is safe to send as one HTTP header value."""
    if len(value) > HEADER_VALUE_MAX or not _HEADER_VALUE.fullmatch(value):
        msg = (
            f"{owner} {name} must be a header value: 1-{HEADER_VALUE_MAX} printable ASCII "
            f"characters, no line breaks or control characters, got {value!r}"
        )
        raise ValueError(msg)


def check_choice(owner: str, name: str, value: object, choices: Collection[object]) -> None:
    """One of ``choices``, of the same type too (``1`` is not ``True``)."""
    if not any(type(c) is type(value) and c == value for c in choices):
        shown = ", ".join(repr(c) for c in choices)
        msg = f"{owner} {name} must be one of {shown}, got {value!r}"
        raise ValueError(msg)


def check_window(owner: str, value: object) -> tuple[float, float] | None:
    """An outage window ``(t0, t1)`` with ``0 <= t0 <= t1``, finite; as floats."""
    if value is None:
        return None
    if isinstance(value, tuple | list) and len(value) == 2 and all(map(is_number, value)):
        start, end = float(value[0]), float(value[1])
        if math.isfinite(start) and math.isfinite(end) and 0 <= start <= end:
            return (start, end)
    msg = f"{owner} between must be (t0, t1) seconds with 0 <= t0 <= t1, got {value!r}"
    raise ValueError(msg)
