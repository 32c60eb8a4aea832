"""``collect``: read a stream to its end and assemble the answer a consumer would get."""

from __future__ import annotations

from collections.abc import AsyncIterable
from dataclasses import dataclass, field

from ._errors import InvalidResponse
from ._response import LlmResponse, StreamChunk, StreamReset, Usage
from ._tools import ToolCall


@dataclass(slots=True)
class _PendingCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


async def collect(stream: AsyncIterable[StreamChunk]) -> LlmResponse:
    """Read a stream to its end and assemble the answer.

    Text deltas are joined, and so are refusal pieces; tool-call pieces are joined per
    ``index`` (the first piece with an id or name sets it); usage, model and provider come
    from the chunks that carry them (the last one wins); a ``StreamReset`` drops
    everything before it.

    Args:
        stream: A provider's ``stream(request)``.

    Returns:
        The response; ``finish_reason`` is ``None`` if the stream ended without one.

    Raises:
        InvalidResponse: If a tool call never got its id and name.
        LlmError: Whatever the stream raises.
    """
    texts: list[str] = []
    refusals: list[str] = []
    calls: dict[int, _PendingCall] = {}
    last = StreamChunk("")
    model = provider = ""
    usage: Usage | None = None
    async for chunk in stream:
        if isinstance(chunk, StreamReset):
            texts, refusals, calls, usage, last = [], [], {}, None, StreamChunk("")
            continue
        texts.append(chunk.delta)
        if chunk.refusal is not None:
            refusals.append(chunk.refusal)
        for piece in chunk.tool_calls:
            call = calls.setdefault(piece.index, _PendingCall())
            call.id = call.id or (piece.id or "")
            call.name = call.name or (piece.name or "")
            call.arguments.append(piece.arguments_delta)
        model = chunk.model or model
        provider = chunk.provider or provider
        usage = chunk.usage or usage
        if chunk.finish_reason is not None:
            last = chunk
    for index, call in calls.items():
        if not (call.id and call.name):
            msg = f"the stream's tool call {index} never said its id and name"
            raise InvalidResponse(msg, provider=provider or None, model=model or None)
    tool_calls = tuple(
        ToolCall(call.id, call.name, "".join(call.arguments) or "{}")
        for _, call in sorted(calls.items())
    )
    return LlmResponse(
        "".join(texts),
        model=model,
        provider=provider,
        usage=usage,
        finish_reason=last.finish_reason,
        tool_calls=tool_calls,
        provider_finish_reason=last.provider_finish_reason,
        refusal="".join(refusals) if refusals else None,
    )
