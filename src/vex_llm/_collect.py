"""``collect``: read a stream to its end and assemble the answer a consumer would get.

``ToolCallParts`` is the one assembly of streamed tool-call pieces: ``collect`` builds the
answer's calls with it, and the stream bookkeeping (``_stream.ChunkStream``, the HTTP
providers' readers) the partial calls a ``StreamInterrupted`` carries.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass, field

from ._content import ThinkingPart
from ._errors import InvalidResponse
from ._response import LlmResponse, StreamChunk, StreamReset, Usage
from ._tools import ToolCall, ToolCallDelta


@dataclass(slots=True)
class _PendingCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ToolCallParts:
    """Tool calls assembled from a stream's ``ToolCallDelta`` pieces, per ``index``.

    The first piece with an id or a name sets it; arguments pieces are joined in order.
    """

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: dict[int, _PendingCall] = {}

    def __bool__(self) -> bool:
        return bool(self._calls)

    def add(self, pieces: Iterable[ToolCallDelta]) -> None:
        """Take the pieces of one chunk."""
        for piece in pieces:
            call = self._calls.get(piece.index)
            if call is None:
                call = self._calls[piece.index] = _PendingCall()
            call.id = call.id or (piece.id or "")
            call.name = call.name or (piece.name or "")
            call.arguments.append(piece.arguments_delta)

    def unnamed(self) -> int | None:
        """The index of a call that never said its id and name (``None``: every call did)."""
        return next((i for i, call in self._calls.items() if not (call.id and call.name)), None)

    def partial(self) -> tuple[ToolCall, ...]:
        """The calls so far, in index order (those with an id and a name); arguments as
        received, possibly incomplete JSON."""
        return tuple(
            ToolCall(call.id, call.name, "".join(call.arguments))
            for _, call in sorted(self._calls.items())
            if call.id and call.name
        )

    def whole(self) -> tuple[ToolCall, ...]:
        """The finished calls, in index order (arguments ``"{}"`` when none came)."""
        return tuple(
            ToolCall(call.id, call.name, "".join(call.arguments) or "{}")
            for _, call in sorted(self._calls.items())
        )

    def parse(self) -> bool:
        """Whether every call's arguments are whole JSON (or absent): a body cut in the
        middle of a call's arguments leaves them unparseable."""
        for call in self._calls.values():
            text = "".join(call.arguments)
            if text:
                try:
                    json.loads(text)
                except ValueError:
                    return False
        return True


@dataclass(slots=True)
class _Answer:
    """What the chunks so far add up to."""

    texts: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    calls: ToolCallParts = field(default_factory=ToolCallParts)
    thinking: list[ThinkingPart] = field(default_factory=list)
    thought: list[str] | None = None  # the text of a thinking block not yet signed
    last: StreamChunk = field(default_factory=lambda: StreamChunk(""))
    model: str = ""
    provider: str = ""
    usage: Usage | None = None

    def add(self, chunk: StreamChunk) -> None:
        self.texts.append(chunk.delta)
        if chunk.refusal is not None:
            self.refusals.append(chunk.refusal)
        if chunk.tool_calls:
            self.calls.add(chunk.tool_calls)
        if chunk.thinking is not None:
            self._think(chunk.thinking)
        self.model = chunk.model or self.model
        self.provider = chunk.provider or self.provider
        self.usage = chunk.usage or self.usage
        if chunk.finish_reason is not None:
            self.last = chunk

    def _think(self, piece: ThinkingPart) -> None:
        """Thinking text runs until its signature closes the block; redacted blocks come whole."""
        if piece.redacted is not None:
            self._close_thought(None)
            self.thinking.append(piece)
            return
        self.thought = [*(self.thought or []), piece.text]
        if piece.signature is not None:
            self._close_thought(piece.signature)

    def _close_thought(self, signature: str | None) -> None:
        if self.thought is not None:
            self.thinking.append(ThinkingPart("".join(self.thought), signature=signature))
            self.thought = None

    def response(self) -> LlmResponse:
        self._close_thought(None)
        index = self.calls.unnamed()
        if index is not None:
            msg = f"the stream's tool call {index} never said its id and name"
            raise InvalidResponse(msg, provider=self.provider or None, model=self.model or None)
        return LlmResponse(
            "".join(self.texts),
            model=self.model,
            provider=self.provider,
            usage=self.usage,
            finish_reason=self.last.finish_reason,
            tool_calls=self.calls.whole(),
            provider_finish_reason=self.last.provider_finish_reason,
            refusal="".join(self.refusals) if self.refusals else None,
            thinking=self.thinking,
        )


async def collect(stream: AsyncIterable[StreamChunk]) -> LlmResponse:
    """Read a stream to its end and assemble the answer.

    Text deltas are joined, and so are refusal pieces; tool-call pieces are joined per
    ``index`` (the first piece with an id or name sets it); thinking pieces are joined
    per block (a signature closes one); usage, model and provider come from the chunks
    that carry them (the last one wins); a ``StreamReset`` drops everything before it.

    Args:
        stream: A provider's ``stream(request)``.

    Returns:
        The response; ``finish_reason`` is ``None`` if the stream ended without one.

    Raises:
        InvalidResponse: If a tool call never got its id and name.
        LlmError: Whatever the stream raises.
    """
    answer = _Answer()
    async for chunk in stream:
        if isinstance(chunk, StreamReset):
            # A reset starts a new answer; the next chunk names the new provider.
            answer = _Answer(model=answer.model, provider=answer.provider)
            continue
        answer.add(chunk)
    return answer.response()
