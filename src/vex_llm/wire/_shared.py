"""What both wires share: finish reasons, reasoning tables and how extras are merged."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from .._tools import Effort, Reasoning

FINISH_REASONS: Final = ("stop", "length", "tool_calls", "content_filter")
"""The normalised ``finish_reason`` values, the same on every wire."""

EFFORT_BUDGETS: Final[Mapping[str, int]] = MappingProxyType(
    {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384}
)
"""Thinking budget (tokens) sent to Anthropic for a ``Reasoning`` with an effort only."""


def normalise_finish(table: Mapping[str, str], raw: str | None) -> str | None:
    """The normalised finish reason of a wire's own value (unknown values count as stop)."""
    if raw is None:
        return None
    return table.get(raw, "stop")


def wire_finish(
    table: Mapping[str, str], default: Mapping[str, str], finish: str | None, own: str | None
) -> str | None:
    """The wire's own finish value: the provider's value when it belongs to this wire and
    means the same, else the wire's usual value for the normalised one."""
    if own is not None and table.get(own) == finish:
        return own
    if finish is None:
        return None
    return default.get(finish, default["stop"])


def effort_of(reasoning: Reasoning) -> Effort:
    """The effort to send where the wire takes an effort."""
    if reasoning.effort is not None:
        return reasoning.effort
    budget = reasoning.budget_tokens or 0
    if budget <= EFFORT_BUDGETS["low"]:
        return "low"
    return "medium" if budget <= EFFORT_BUDGETS["medium"] else "high"


def budget_of(reasoning: Reasoning) -> int | None:
    """The thinking budget to send where the wire takes a budget (``None``: thinking off)."""
    if reasoning.budget_tokens is not None:
        return reasoning.budget_tokens
    if reasoning.effort is None or reasoning.effort == "none":
        return None
    return EFFORT_BUDGETS[reasoning.effort]


def merge_extra(body: dict[str, object], extra: Mapping[str, object]) -> dict[str, object]:
    """Put the caller's extra fields on ``body``: they win, and an object field that both
    have (e.g. Anthropic ``output_config``) is merged one level deep."""
    for key, value in extra.items():
        mine = body.get(key)
        if isinstance(mine, dict) and isinstance(value, Mapping):
            body[key] = {**mine, **value}
        else:
            body[key] = value
    return body


def with_extra(
    out: dict[str, object], extra: Mapping[str, Mapping[str, object]] | None, wire: str
) -> dict[str, object]:
    """``out`` with an object's own extra fields for ``wire`` merged in."""
    return merge_extra(out, extra[wire]) if extra and wire in extra else out


def extras(unknown: dict[str, object], wire: str) -> dict[str, dict[str, object]] | None:
    """The ``extra`` of a request read from ``wire`` (``None`` when nothing was unknown)."""
    return {wire: unknown} if unknown else None
