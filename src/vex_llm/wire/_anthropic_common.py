"""Finish reasons and usage of the Anthropic wire (shared by answers and streams)."""

from __future__ import annotations

import json
from typing import Final

from .._errors import LlmError
from .._response import Usage
from .._tools import ToolCall
from ._fields import Fields

FINISH: Final = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
FINISH_OUT: Final = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


def usage_from_wire(usage: Fields | None) -> Usage | None:
    """Read a ``usage`` object; ``prompt_tokens`` includes cache reads and writes."""
    if usage is None:
        return None
    fresh = usage.integer("input_tokens") or 0
    read = usage.integer("cache_read_input_tokens") or 0
    written = usage.integer("cache_creation_input_tokens") or 0
    output = usage.integer("output_tokens") or 0
    prompt = fresh + read + written
    return Usage(
        prompt,
        output,
        prompt + output,
        cached_input_tokens=read,
        cache_write_tokens=written,
    )


def usage_to_wire(usage: Usage) -> dict[str, object]:
    """Write a ``usage`` object (cache fields only when non-zero)."""
    fresh = usage.prompt_tokens - usage.cached_input_tokens - usage.cache_write_tokens
    out: dict[str, object] = {
        "input_tokens": max(0, fresh),
        "output_tokens": usage.completion_tokens,
    }
    if usage.cache_write_tokens:
        out["cache_creation_input_tokens"] = usage.cache_write_tokens
    if usage.cached_input_tokens:
        out["cache_read_input_tokens"] = usage.cached_input_tokens
    return out


def tool_call_from_block(block: Fields) -> ToolCall:
    """A ``tool_use`` block as a call (its ``input`` object becomes JSON text)."""
    arguments = block.data.get("input", {})
    if not isinstance(arguments, dict):
        block.fail("input", "an object")
    return block.build(
        ToolCall, block.need_text("id"), block.need_text("name"), json.dumps(arguments)
    )


def tool_use_block(call: ToolCall, where: str, error: type[LlmError]) -> dict[str, object]:
    """A call as a ``tool_use`` block: its JSON text must be an object (Anthropic's ``input``).

    Raises:
        LlmError: ``error`` (``InvalidRequest`` or ``InvalidResponse``) naming ``where``.
    """
    try:
        arguments = json.loads(call.arguments or "{}")
    except json.JSONDecodeError:
        arguments = None
    if not isinstance(arguments, dict):
        msg = f"{where}.arguments: expected a JSON object, got {call.arguments[:80]!r}"
        raise error(msg, code="invalid_body")
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": arguments}
