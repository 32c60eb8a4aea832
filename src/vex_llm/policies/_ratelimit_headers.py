"""Reading the providers' rate-limit headers into hints for the limiter's buckets.

OpenAI (and compatibles): ``x-ratelimit-limit-{requests,tokens}``,
``x-ratelimit-remaining-{requests,tokens}``, ``x-ratelimit-reset-{requests,tokens}``, the
resets as Go durations (``6m0s``, ``1.5s``, ``12ms``: the time until the bucket is full
again). Anthropic: ``anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`` (and
``input-tokens-*``, used when ``tokens-*`` is absent), the resets as RFC 3339 times
(turned into seconds on our wall clock, so clock skew shifts them: they are capped at
``MAX_RESET``), remaining tokens rounded to the nearest thousand.

Garbage never breaks a call: a header that is missing, not a number, negative (Azure's
``-1``), non-finite or a limit of 0 is ignored, and so is its whole hint when
``remaining`` is unusable.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Final, Literal, NamedTuple

Kind = Literal["requests", "tokens"]

MAX_RESET: Final = 600.0
"""Seconds: the longest reset a header may impose (a skewed clock or a garbled date must
not stall a limiter for longer than ten minutes)."""

_GO_PART: Final = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|us|µs|ns|m|s)")
_GO_UNITS: Final = {
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,
    "ns": 1e-9,
}


class Hint(NamedTuple):
    """What a provider said about one of its buckets.

    Attributes:
        kind: ``"requests"`` or ``"tokens"``.
        remaining: Units left now (>= 0).
        limit: The limit (> 0), if said.
        reset: Seconds until the bucket is full again (in ``[0, MAX_RESET]``), if said.
    """

    kind: Kind
    remaining: float
    limit: float | None
    reset: float | None


def go_duration(text: str) -> float | None:
    """Seconds in a Go duration (``6m0s``, ``1h2m``, ``12ms``, ``0.5s``) or a plain number.

    Returns:
        Seconds, or ``None`` when ``text`` is not one.
    """
    text = text.strip()
    plain = _number(text)
    if plain is not None:
        return plain
    total, at = 0.0, 0
    for match in _GO_PART.finditer(text):
        if match.start() != at:
            return None
        total += float(match.group(1)) * _GO_UNITS[match.group(2)]
        at = match.end()
    if at == 0 or at != len(text) or not math.isfinite(total):
        return None
    return total


def rfc3339_wait(text: str, now: float) -> float | None:
    """Seconds from ``now`` (wall clock, epoch seconds) until an RFC 3339 time (>= 0)."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        return None  # a time without a zone cannot be placed
    return max(0.0, when.timestamp() - now)


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _hint(kind: Kind, remaining: str | None, limit: str | None, reset: float | None) -> Hint | None:
    left = _number(remaining)
    if left is None:
        return None
    most = _number(limit)
    if limit is not None and not most:
        return None  # a limit of 0 (or garbage) makes the whole set suspect (Azure)
    if reset is not None:
        reset = min(reset, MAX_RESET)
    return Hint(kind, left, most, reset)


def _get(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    return value if isinstance(value, str) else None


def read_hints(headers: Mapping[str, str], *, now: float) -> tuple[Hint, ...]:
    """The rate-limit hints in a response's headers (none when it has none).

    Args:
        headers: The response headers (``httpx2.Headers`` or a mapping with lower-case names).
        now: Wall-clock seconds since the epoch (``time.time()``), for Anthropic's times.

    Returns:
        At most one hint per kind.
    """
    hints: list[Hint] = []
    for kind in ("requests", "tokens"):
        prefix = f"x-ratelimit-{{}}-{kind}"
        remaining = _get(headers, prefix.format("remaining"))
        if remaining is not None:
            raw = _get(headers, prefix.format("reset"))
            reset = None if raw is None else go_duration(raw)
            hint = _hint(kind, remaining, _get(headers, prefix.format("limit")), reset)
        else:
            hint = _anthropic(headers, kind, now)
        if hint is not None:
            hints.append(hint)
    return tuple(hints)


def _anthropic(headers: Mapping[str, str], kind: Kind, now: float) -> Hint | None:
    names = ("tokens", "input-tokens") if kind == "tokens" else ("requests",)
    for name in names:
        prefix = f"anthropic-ratelimit-{name}-"
        remaining = _get(headers, prefix + "remaining")
        if remaining is None:
            continue
        raw = _get(headers, prefix + "reset")
        reset = None if raw is None else rfc3339_wait(raw, now)
        return _hint(kind, remaining, _get(headers, prefix + "limit"), reset)
    return None
