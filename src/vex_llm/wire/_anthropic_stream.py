"""Anthropic stream events <-> ``StreamChunk``.

Anthropic streams are stateful (a message, then content blocks opened, filled and
closed, then the stop reason), so each direction is a small object fed one event or
chunk at a time. Tool-use blocks are numbered 0, 1, ... in order of appearance: that
number is ``ToolCallDelta.index``, as on the OpenAI wire.
"""

from __future__ import annotations

from collections.abc import Mapping

from .._content import ThinkingPart
from .._errors import InvalidResponse
from .._response import StreamChunk, Usage
from .._tools import ToolCallDelta
from ._anthropic_common import FINISH, FINISH_OUT, usage_from_wire, usage_to_wire
from ._anthropic_messages import thinking_from_block
from ._fields import Fields
from ._shared import normalise_finish, wire_finish


class StreamDecoder:
    """Turn Anthropic stream events (decoded ``data:`` JSON) into chunks.

    ``feed`` returns the chunk an event adds, or ``None`` for events that add nothing
    (``ping``, ``content_block_stop``, ``message_stop``, thinking, unknown types). The
    chunk of ``message_start`` names the model; the chunk of ``message_delta`` carries
    the finish reason and the usage (input counts from ``message_start``, updated by
    whatever ``message_delta`` reports).

    Raises:
        InvalidResponse: From ``feed``, on a malformed event (naming the field) or an
            ``error`` event (``.code`` is the error's type). Providers translate error
            events themselves before feeding, to pick the right error class.
    """

    __slots__ = ("_blocks", "_model", "_usage")

    def __init__(self) -> None:
        self._model: str | None = None
        self._usage: dict[str, object] = {}
        self._blocks: dict[int, int] = {}  # content block index -> tool call index

    @property
    def usage(self) -> Usage | None:
        """The usage reported so far (``message_start``, updated by ``message_delta``)."""
        if not self._usage:
            return None
        return usage_from_wire(Fields(self._usage, "usage", InvalidResponse))

    def feed(self, event: Mapping[str, object]) -> StreamChunk | None:
        """Read one event; return the chunk it adds, if any."""
        fields = Fields.response(event)
        kind = fields.need_text("type")
        if kind == "message_start":
            message = fields.need_obj("message")
            self._model = message.text("model")
            self._usage.update(
                (message.obj("usage") or fields).data if message.has("usage") else {}
            )
            return StreamChunk("", model=self._model)
        if kind == "content_block_start":
            return self._start(fields)
        if kind == "content_block_delta":
            return self._delta(fields)
        if kind == "message_delta":
            return self._finish(fields)
        if kind == "error":
            error = fields.need_obj("error")
            msg = f"the stream sent an error: {error.text('message') or ''}"
            raise fields.error(msg, code=error.text("type"))
        return None

    def _start(self, fields: Fields) -> StreamChunk | None:
        block = fields.need_obj("content_block")
        kind = block.need_text("type")
        if kind == "text":
            text = block.text("text") or ""
            return StreamChunk(text) if text else None
        if kind in ("thinking", "redacted_thinking"):
            return StreamChunk("", thinking=thinking_from_block(block))
        if kind != "tool_use":
            return None
        index = fields.integer("index")
        if index is None:
            fields.fail("index", "an integer (required)")
        tool = self._blocks.setdefault(index, len(self._blocks))
        piece = ToolCallDelta(tool, id=block.need_text("id"), name=block.need_text("name"))
        return StreamChunk("", tool_calls=(piece,))

    def _delta(self, fields: Fields) -> StreamChunk | None:
        delta = fields.need_obj("delta")
        kind = delta.need_text("type")
        if kind == "text_delta":
            return StreamChunk(delta.need_text("text"))
        if kind == "thinking_delta":
            return StreamChunk("", thinking=ThinkingPart(delta.need_text("thinking")))
        if kind == "signature_delta":
            signature = delta.need_text("signature")
            return StreamChunk("", thinking=ThinkingPart(signature=signature))
        if kind != "input_json_delta":
            return None
        index = fields.integer("index")
        tool = self._blocks.get(index if index is not None else -1)
        if tool is None:
            fields.fail("index", "the index of a tool_use block that was started")
        piece = ToolCallDelta(tool, arguments_delta=delta.need_text("partial_json"))
        return StreamChunk("", tool_calls=(piece,))

    def _finish(self, fields: Fields) -> StreamChunk:
        delta = fields.need_obj("delta")
        raw = delta.text("stop_reason")
        usage = fields.obj("usage")
        if usage is not None:
            self._usage.update({k: v for k, v in usage.data.items() if v is not None})
        return StreamChunk(
            "",
            finish_reason=normalise_finish(FINISH, raw),
            usage=usage_from_wire(Fields(self._usage, "usage", fields.error)),
            model=self._model,
            provider_finish_reason=raw,
        )


class StreamEncoder:
    """Turn chunks into Anthropic stream events (each the JSON of one ``data:`` line).

    The first chunk opens the message (``message_start``). Text opens a text block,
    a tool-call delta with an id opens a ``tool_use`` block and argument pieces become
    ``input_json_delta`` events. The finish reason closes the open block; the
    ``message_delta`` (stop reason and usage) and ``message_stop`` follow as soon as the
    usage is known (OpenAI sends it in a chunk after the finish) or at ``close()``.

    Args:
        id: The message id to write.
        model: The model to name when the first chunk names none.
    """

    __slots__ = ("_id", "_model", "_next", "_open", "_open_kind", "_started", "_stop", "_tools")

    def __init__(self, *, id: str = "", model: str = "") -> None:
        self._id = id
        self._model = model
        self._started = False
        self._open: int | None = None  # the index of the open content block
        self._open_kind = ""
        self._next = 0  # the index of the next content block
        self._tools: dict[int, int] = {}  # tool call index -> content block index
        self._stop: str | None = None  # a stop reason waiting for its usage

    def encode(self, chunk: StreamChunk) -> list[dict[str, object]]:
        """The events for one chunk (possibly none)."""
        events: list[dict[str, object]] = []
        if not self._started:
            self._started = True
            events.append(self._message_start(chunk))
        if chunk.thinking is not None:
            events += self._think(chunk.thinking)
        if chunk.delta:
            if self._open_kind != "text":
                events += self._open_block({"type": "text", "text": ""}, "text")
            events.append(self._block_delta({"type": "text_delta", "text": chunk.delta}))
        for piece in chunk.tool_calls:
            if piece.id is not None or piece.index not in self._tools:
                block: dict[str, object] = {
                    "type": "tool_use",
                    "id": piece.id or "",
                    "name": piece.name or "",
                    "input": {},
                }
                events += self._open_block(block, "tool_use")
                self._tools[piece.index] = self._next - 1
            if piece.arguments_delta:
                delta = {"type": "input_json_delta", "partial_json": piece.arguments_delta}
                events.append(
                    {
                        "type": "content_block_delta",
                        "index": self._tools[piece.index],
                        "delta": delta,
                    }
                )
        if chunk.finish_reason is not None:
            events += self._close_block()
            self._stop = wire_finish(
                FINISH, FINISH_OUT, chunk.finish_reason, chunk.provider_finish_reason
            )
        if self._stop is not None and chunk.usage is not None:
            events += self._message_end(chunk.usage)
        return events

    def close(self) -> list[dict[str, object]]:
        """The events still owed at the end of the stream (a stop reason without usage)."""
        return self._message_end(None) if self._stop is not None else []

    def _think(self, piece: ThinkingPart) -> list[dict[str, object]]:
        """A thinking block runs until its signature; a redacted block comes whole."""
        if piece.redacted is not None:
            block: dict[str, object] = {"type": "redacted_thinking", "data": piece.redacted}
            return self._open_block(block, "redacted_thinking") + self._close_block()
        events: list[dict[str, object]] = []
        if self._open_kind != "thinking":
            events += self._open_block({"type": "thinking", "thinking": ""}, "thinking")
        if piece.text:
            events.append(self._block_delta({"type": "thinking_delta", "thinking": piece.text}))
        if piece.signature is not None:
            events.append(
                self._block_delta({"type": "signature_delta", "signature": piece.signature})
            )
            events += self._close_block()
        return events

    def _message_start(self, chunk: StreamChunk) -> dict[str, object]:
        message: dict[str, object] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": chunk.model or self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return {"type": "message_start", "message": message}

    def _open_block(self, block: dict[str, object], kind: str) -> list[dict[str, object]]:
        events = self._close_block()
        self._open, self._open_kind = self._next, kind
        self._next += 1
        events.append({"type": "content_block_start", "index": self._open, "content_block": block})
        return events

    def _block_delta(self, delta: dict[str, object]) -> dict[str, object]:
        return {"type": "content_block_delta", "index": self._open, "delta": delta}

    def _close_block(self) -> list[dict[str, object]]:
        if self._open is None:
            return []
        index, self._open, self._open_kind = self._open, None, ""
        return [{"type": "content_block_stop", "index": index}]

    def _message_end(self, usage: Usage | None) -> list[dict[str, object]]:
        stop, self._stop = self._stop, None
        return [
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": usage_to_wire(usage) if usage else {"output_tokens": 0},
            },
            {"type": "message_stop"},
        ]
