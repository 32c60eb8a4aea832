"""The fake server's answers in both wire formats: whole bodies and stream events.

Written from the public API descriptions, independently of ``vex_llm.wire`` and
``vex_llm.providers``: a provider bug must not be mirrored by the server it is tested
against. ``Answer`` says what to send (text and tool calls); this module says how.
"""

from __future__ import annotations

import json
from typing import Final

from ._script import Answer
from ._wire import Call, count_tokens, default_status, dumps, error_body, split_words, sse

_CREATED: Final = 1_700_000_000


def _call_id(call: Call, serial: int, index: int, given: str | None) -> str:
    if given is not None:
        return given
    prefix = "toolu" if call.wire == "anthropic" else "call"
    return f"{prefix}_{serial:08d}_{index}"


def completion_tokens(answer: Answer) -> int:
    """About one token per word of the text and of each call's name and arguments."""
    words = count_tokens(answer.text or "")
    return words + sum(count_tokens(f"{c.name} {c.arguments}") for c in answer.tool_calls)


def complete_body(call: Call, answer: Answer, serial: int) -> bytes:
    """A finished, non-streamed answer (``answer.text`` is resolved: not ``None`` unless
    the answer has tool calls)."""
    completion = completion_tokens(answer)
    if call.wire == "anthropic":
        return dumps(
            {
                "id": f"msg_{serial:08d}",
                "type": "message",
                "role": "assistant",
                "model": call.model,
                "content": _anthropic_blocks(call, answer, serial),
                "stop_reason": "tool_use" if answer.tool_calls else "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": call.prompt_tokens, "output_tokens": completion},
            }
        )
    message: dict[str, object] = {"role": "assistant", "content": answer.text}
    if answer.tool_calls:
        message["tool_calls"] = [
            {
                "id": _call_id(call, serial, i, c.id),
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for i, c in enumerate(answer.tool_calls)
        ]
    return dumps(
        {
            "id": f"chatcmpl-{serial:08d}",
            "object": "chat.completion",
            "created": _CREATED,
            "model": call.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if answer.tool_calls else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": call.prompt_tokens,
                "completion_tokens": completion,
                "total_tokens": call.prompt_tokens + completion,
            },
        }
    )


def _anthropic_blocks(call: Call, answer: Answer, serial: int) -> list[dict[str, object]]:
    blocks: list[dict[str, object]] = []
    if answer.text or not answer.tool_calls:
        blocks.append({"type": "text", "text": answer.text or ""})
    for i, c in enumerate(answer.tool_calls):
        blocks.append(
            {
                "type": "tool_use",
                "id": _call_id(call, serial, i, c.id),
                "name": c.name,
                "input": json.loads(c.arguments),
            }
        )
    return blocks


class StreamEncoder:
    """The events of one streamed answer: ``head`` once, then ``pieces()`` (the unit
    stream faults count), then ``tail``."""

    __slots__ = ("_answer", "_call", "_has_text", "_id", "_serial")

    def __init__(self, call: Call, answer: Answer, serial: int) -> None:
        self._call = call
        self._answer = answer
        self._serial = serial
        self._has_text = bool(answer.text) or not answer.tool_calls
        self._id = f"msg_{serial:08d}" if call.wire == "anthropic" else f"chatcmpl-{serial:08d}"

    def _chunk(self, delta: dict[str, object], finish: str | None) -> bytes:
        return sse(
            {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": _CREATED,
                "model": self._call.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
        )

    def head(self) -> bytes:
        """What comes before the first piece."""
        if self._call.wire == "openai":
            return self._chunk({"role": "assistant", "content": ""}, None)
        message: dict[str, object] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._call.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self._call.prompt_tokens, "output_tokens": 1},
        }
        out = sse({"type": "message_start", "message": message}, "message_start")
        if self._has_text:
            block = {"type": "content_block_start", "index": 0, "content_block": _EMPTY_TEXT}
            out += sse(block, "content_block_start")
        return out + sse({"type": "ping"}, "ping")

    def pieces(self) -> list[bytes]:
        """Every piece: one per word of the text, then per tool call its opening and one
        per arguments piece."""
        out = [self._text(word) for word in split_words(self._answer.text or "")]
        if not self._has_text:
            out = []
        for i in range(len(self._answer.tool_calls)):
            out.append(self._opening(i))
            out += [self._arguments(i, part) for part in self._answer.argument_pieces(i)]
        return out

    def _text(self, text: str) -> bytes:
        if self._call.wire == "openai":
            return self._chunk({"content": text}, None)
        delta = {"type": "text_delta", "text": text}
        return sse({"type": "content_block_delta", "index": 0, "delta": delta}, _DELTA)

    def _block(self, i: int) -> int:
        """The Anthropic content block index of tool call ``i``."""
        return i + 1 if self._has_text else i

    def _opening(self, i: int) -> bytes:
        c = self._answer.tool_calls[i]
        call_id = _call_id(self._call, self._serial, i, c.id)
        if self._call.wire == "openai":
            function = {"name": c.name, "arguments": ""}
            entry = {"index": i, "id": call_id, "type": "function", "function": function}
            return self._chunk({"tool_calls": [entry]}, None)
        index = self._block(i)
        out = sse({"type": "content_block_stop", "index": index - 1}, _STOP) if index else b""
        block = {"type": "tool_use", "id": call_id, "name": c.name, "input": {}}
        start = {"type": "content_block_start", "index": index, "content_block": block}
        return out + sse(start, "content_block_start")

    def _arguments(self, i: int, part: str) -> bytes:
        if self._call.wire == "openai":
            entry = {"index": i, "function": {"arguments": part}}
            return self._chunk({"tool_calls": [entry]}, None)
        delta = {"type": "input_json_delta", "partial_json": part}
        return sse({"type": "content_block_delta", "index": self._block(i), "delta": delta}, _DELTA)

    def tail(self) -> bytes:
        """The finish reason, the usage and the terminator."""
        call, tools = self._call, bool(self._answer.tool_calls)
        completion = completion_tokens(self._answer)
        if call.wire == "openai":
            out = self._chunk({}, "tool_calls" if tools else "stop")
            if call.include_usage:
                usage = {
                    "prompt_tokens": call.prompt_tokens,
                    "completion_tokens": completion,
                    "total_tokens": call.prompt_tokens + completion,
                }
                out += sse(
                    {
                        "id": self._id,
                        "object": "chat.completion.chunk",
                        "created": _CREATED,
                        "model": call.model,
                        "choices": [],
                        "usage": usage,
                    }
                )
            return out + b"data: [DONE]\n\n"
        last = self._block(len(self._answer.tool_calls) - 1) if tools else 0
        stop = {"stop_reason": "tool_use" if tools else "end_turn", "stop_sequence": None}
        return (
            sse({"type": "content_block_stop", "index": last}, _STOP)
            + sse(
                {"type": "message_delta", "delta": stop, "usage": {"output_tokens": completion}},
                "message_delta",
            )
            + sse({"type": "message_stop"}, "message_stop")
        )

    def error(self, code: str | None, message: str | None) -> bytes:
        """An error event inside a stream (Anthropic: ``event: error``; OpenAI: ``{"error"}``)."""
        status = default_status(self._call.wire, code)
        body = error_body(self._call.wire, status, code, message)
        if self._call.wire == "anthropic":
            return b"event: error\ndata: " + body + b"\n\n"
        return b"data: " + body + b"\n\n"

    @staticmethod
    def malformed() -> bytes:
        """A ``data:`` event that is not JSON."""
        return b'data: {"choices": [{"delta": {"content": "unterminated\n\n'

    @staticmethod
    def noise() -> bytes:
        """Things a client must skip: comments, an unknown event, unknown fields, CRLF lines."""
        return (
            b": keep-alive\n\n"
            b": OPENROUTER PROCESSING\r\n\r\n"
            b'event: vendor_heartbeat\ndata: {"type": "vendor_heartbeat"}\n\n'
            b"id: 42\nretry: 1000\n\n"
        )


_EMPTY_TEXT: Final = {"type": "text", "text": ""}
_DELTA: Final = "content_block_delta"
_STOP: Final = "content_block_stop"
