"""``EventReader``, the public base of a stream's event reader: converted events become the
stream's state.

A reader (``openai._ChatStream``, ``anthropic._MessageStream``) reads the common event,
a plain text delta, itself (no per-field checks: the hot path); every other event goes
through the wire module's converter (``vex_llm.wire``), and ``EventReader.note`` keeps
what the converted chunk says about the whole stream (model, usage, finish reason, the
tool calls so far) and returns what it adds for the consumer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TypeVar

from .._collect import ToolCallParts
from .._errors import LlmError
from .._types import StreamChunk
from ._sse import StreamReader

if TYPE_CHECKING:
    from ._base import HttpProvider

_T = TypeVar("_T")


class EventReader(StreamReader):
    """Reads one stream's Server-Sent Events for an ``HttpProvider`` (one per stream).

    A subclass implements ``feed(event)``: it takes one ``SseEvent`` (``.event``, the
    type; ``.data``, the text) and returns the text it adds (``""`` for none) or, when
    it adds more than text, a ``StreamChunk``. The helpers do the rest: ``parse`` reads
    the data as a JSON object, ``note`` keeps what a ``StreamChunk`` says about the whole
    stream (model, usage, finish reason, tool calls so far) and returns what it adds,
    ``terminate`` marks the terminator, and ``event_error`` turns an error event into its
    error. The provider's loop handles time, the first and last chunks, and a body that
    ends before the finish reason (``StreamInterrupted``, with ``partial`` text and
    ``calls.partial()`` as the error's ``partial_tool_calls``).

    Args:
        model: The model asked for (updated when the stream names another).
        provider: The provider reading (its name goes on every error).
    """

    __slots__ = ("calls",)

    def __init__(self, model: str, provider: HttpProvider) -> None:
        super().__init__(model, provider._boundary)
        self.calls = ToolCallParts()

    def parse(self, data: str) -> dict[str, object]:
        """An event's data as a JSON object.

        Raises:
            InvalidResponse: The data is not JSON, or not an object.
        """
        return self._object(data)

    def convert(self, read: Callable[[Mapping[str, object]], _T], data: dict[str, object]) -> _T:
        """Run a wire converter (``vex_llm.wire.openai.chunk_from_event``, ...) on an event.

        Args:
            read: The converter.
            data: The event's JSON object.

        Returns:
            What the converter returns.

        Raises:
            InvalidResponse: The event breaks the wire format (the wire's message names
                the field), with this provider's name.
        """
        try:
            return read(data)
        except (LlmError, ValueError) as exc:
            # ValueError: a value the types refuse that the converter let through.
            boundary = self._boundary
            what = f"an event that breaks the wire format: {exc}"
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
