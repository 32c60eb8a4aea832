"""What both wires' stream readers share: converted events become the stream's state.

A reader (``openai._ChatStream``, ``anthropic._MessageStream``) reads the common event,
a plain text delta, itself (no per-field checks: the hot path); every other event goes
through the wire module's converter (``vex_llm.wire``), and ``WireStream.note`` keeps
what the converted chunk says about the whole stream (model, usage, finish reason, the
tool calls so far) and returns what it adds for the consumer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from .._collect import ToolCallParts
from .._errors import LlmError
from .._types import StreamChunk
from ._http import Boundary
from ._sse import StreamReader

_T = TypeVar("_T")


class WireStream(StreamReader):
    """A ``StreamReader`` over a wire module's event converters.

    ``calls`` assembles the tool-call pieces seen so far: a stream that breaks reports
    them on its ``StreamInterrupted`` (``partial_tool_calls``).
    """

    __slots__ = ("calls",)

    def __init__(self, model: str, boundary: Boundary) -> None:
        super().__init__(model, boundary)
        self.calls = ToolCallParts()

    def convert(self, read: Callable[[Mapping[str, object]], _T], data: dict[str, object]) -> _T:
        """Run a wire converter on an event.

        Raises:
            InvalidResponse: The event breaks the wire format (the wire's message names
                the field), with this provider's name.
        """
        try:
            return read(data)
        except LlmError as exc:
            boundary = self._boundary
            what = f"an event that breaks the wire format: {exc.message}"
            raise self._invalid(what) from boundary.cause(exc)

    def note(self, chunk: StreamChunk) -> str | StreamChunk:
        """Keep what a converted event says about the stream; return what it adds.

        Returns:
            The text it adds, or a chunk when it adds more than text (tool-call pieces,
            a refusal, thinking). Model, usage and finish reason stay here: the stream's
            first and last chunks carry them.
        """
        if chunk.model and chunk.model != self.model:
            self.model = chunk.model
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.finish_reason is not None:
            self.finish_reason = chunk.finish_reason
            self.provider_finish_reason = chunk.provider_finish_reason
        text = chunk.delta
        if text:
            self.parts.append(text)
        if not (chunk.tool_calls or chunk.refusal is not None or chunk.thinking is not None):
            return text
        if chunk.tool_calls:
            self.calls.add(chunk.tool_calls)
        return StreamChunk(
            text, tool_calls=chunk.tool_calls, refusal=chunk.refusal, thinking=chunk.thinking
        )

    def terminate(self) -> None:
        """The terminator arrived (``[DONE]``, ``message_stop``): nothing more to read.

        Without a finish reason before it, the answer is whole ("stop", or "tool_calls"
        after tool-call pieces), unless a tool call's arguments are cut short: then the
        finish reason stays unset, and the stream is ``StreamInterrupted``.
        """
        self.done = True
        if self.finish_reason is None and self.calls.parse():
            self.finish_reason = "tool_calls" if self.calls else "stop"

    def event_error(self, data: object) -> LlmError:
        """The error an error event stands for (``StreamInterrupted`` once the answer began)."""
        return self._boundary.event_error(
            data, model=self.model, partial=self.partial, started=bool(self.calls)
        )
