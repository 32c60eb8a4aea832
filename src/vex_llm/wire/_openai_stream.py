"""OpenAI ``chat.completion.chunk`` events <-> ``StreamChunk``."""

from __future__ import annotations

from collections.abc import Mapping

from .._response import StreamChunk
from .._tools import ToolCallDelta
from ._fields import Fields
from ._openai_common import FINISH, FINISH_OUT, usage_from_wire, usage_to_wire
from ._shared import normalise_finish, wire_finish


def _delta_from_wire(call: Fields) -> ToolCallDelta:
    function = call.obj("function")
    index = call.integer("index")
    if index is None:
        call.fail("index", "an integer (required)")
    return call.build(
        ToolCallDelta,
        index,
        id=call.text("id"),
        name=function.text("name") if function else None,
        arguments_delta=(function.text("arguments") or "") if function else "",
    )


def chunk_from_event(event: Mapping[str, object]) -> StreamChunk:
    """Read one ``chat.completion.chunk`` event (the JSON of one SSE ``data:`` line).

    An event without choices (the usage event at the end of a stream) gives a chunk
    with only ``usage``.

    Raises:
        InvalidResponse: On a malformed event; the message names the field.
    """
    fields = Fields.response(event)
    usage = usage_from_wire(fields.obj("usage"))
    model = fields.text("model")
    choices = fields.objs("choices")
    if not choices:
        return StreamChunk("", usage=usage, model=model)
    delta = choices[0].obj("delta")
    raw = choices[0].text("finish_reason")
    return StreamChunk(
        (delta.text("content") or "") if delta else "",
        finish_reason=normalise_finish(FINISH, raw),
        usage=usage,
        model=model,
        tool_calls=[_delta_from_wire(c) for c in delta.objs("tool_calls")] if delta else (),
        provider_finish_reason=raw,
        refusal=delta.text("refusal") if delta else None,
    )


def _delta_to_wire(piece: ToolCallDelta) -> dict[str, object]:
    out: dict[str, object] = {"index": piece.index}
    function: dict[str, object] = {}
    if piece.id is not None:
        out["id"] = piece.id
        out["type"] = "function"
    if piece.name is not None:
        function["name"] = piece.name
    function["arguments"] = piece.arguments_delta
    out["function"] = function
    return out


def events_from_chunk(
    chunk: StreamChunk, *, id: str = "", model: str = "", created: int = 0, first: bool = False
) -> list[dict[str, object]]:
    """Write the ``chat.completion.chunk`` events for one chunk.

    A chunk with usage gives a second event with no choices and the usage, as OpenAI
    sends it when asked for ``stream_options.include_usage``.

    Args:
        chunk: The chunk.
        id: The stream's id (the same on every event).
        model: The model to name when the chunk names none.
        created: The ``created`` Unix timestamp to write.
        first: Mark the first event (its delta carries ``"role": "assistant"``).

    Returns:
        The events, each the JSON of one SSE ``data:`` line.
    """
    head: dict[str, object] = {
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": chunk.model or model,
    }
    events: list[dict[str, object]] = []
    if (
        chunk.delta
        or chunk.tool_calls
        or chunk.finish_reason
        or chunk.refusal
        or first
        or (chunk.usage is None and chunk.thinking is None)
    ):
        delta: dict[str, object] = {"role": "assistant"} if first else {}
        if chunk.delta or first:
            delta["content"] = chunk.delta
        if chunk.refusal is not None:
            delta["refusal"] = chunk.refusal
        if chunk.tool_calls:
            delta["tool_calls"] = [_delta_to_wire(piece) for piece in chunk.tool_calls]
        finish = wire_finish(FINISH, FINISH_OUT, chunk.finish_reason, chunk.provider_finish_reason)
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        events.append({**head, "choices": [choice]})
    if chunk.usage is not None:
        events.append({**head, "choices": [], "usage": usage_to_wire(chunk.usage)})
    return events
