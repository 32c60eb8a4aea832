"""Finish reasons and usage of the OpenAI wire (shared by answers and streams)."""

from __future__ import annotations

from typing import Final

from .._response import Usage
from ._fields import Fields

FINISH: Final = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}
FINISH_OUT: Final = {r: r for r in ("stop", "length", "tool_calls", "content_filter")}


def usage_from_wire(usage: Fields | None) -> Usage | None:
    """Read a ``usage`` object (``None`` when absent)."""
    if usage is None:
        return None
    prompt = usage.integer("prompt_tokens") or 0
    completion = usage.integer("completion_tokens") or 0
    prompt_details = usage.obj("prompt_tokens_details")
    completion_details = usage.obj("completion_tokens_details")
    return Usage(
        prompt,
        completion,
        usage.integer("total_tokens") or prompt + completion,
        cached_input_tokens=(prompt_details.integer("cached_tokens") or 0) if prompt_details else 0,
        reasoning_tokens=(
            (completion_details.integer("reasoning_tokens") or 0) if completion_details else 0
        ),
    )


def usage_to_wire(usage: Usage) -> dict[str, object]:
    """Write a ``usage`` object (details only when non-zero)."""
    out: dict[str, object] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }
    if usage.cached_input_tokens:
        out["prompt_tokens_details"] = {"cached_tokens": usage.cached_input_tokens}
    if usage.reasoning_tokens:
        out["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    return out
