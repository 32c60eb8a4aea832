"""Server-Sent Events, decoded incrementally in bounded memory and linear time, and the
reader a wire format implements for its events."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

from .._types import StreamChunk, Usage
from ._body import WireViolation

if TYPE_CHECKING:
    from .._errors import LlmError
    from ._http import Boundary


_decode = json.JSONDecoder().raw_decode


class SseEvent(NamedTuple):
    """One Server-Sent Event: its type (``"message"`` when unnamed) and its data."""

    event: str
    data: str


# ``SseEvent._make`` without its Python frame and length check (one event per read).
_message: Callable[[tuple[str, str]], SseEvent] = partial(tuple.__new__, SseEvent)


class SseDecoder:
    """Decodes a Server-Sent Events byte stream fed in chunks of any size.

    Follows the WHATWG rules that matter here: lines end in CRLF, LF or CR (a CRLF may be
    split across chunks, and so may a UTF-8 character); ``:`` lines are comments;
    ``data`` lines of one event are joined with newlines; an event is dispatched at a
    blank line; unknown fields, ``id`` and ``retry`` are ignored; an event not closed by
    a blank line when the body ends is dropped.

    Lines are split as bytes (CR and LF never occur inside a UTF-8 character) and the
    complete lines of each chunk are decoded strictly: invalid UTF-8 anywhere in the
    stream is a ``WireViolation``, never text silently replaced with U+FFFD. An
    unfinished line is kept as a list of pieces, so a long line costs linear time.

    Args:
        max_line: Longest line in bytes; a longer one is a ``WireViolation``.
        max_event: Largest data of one event in bytes (its lines joined).
    """

    __slots__ = (
        "_after_cr",
        "_data",
        "_data_size",
        "_event",
        "_max_event",
        "_max_line",
        "_tail",
        "_tail_size",
    )

    def __init__(self, *, max_line: int = 1024 * 1024, max_event: int = 4 * 1024 * 1024) -> None:
        self._max_line = max_line
        self._max_event = max_event
        self._tail: list[bytes] = []
        self._tail_size = 0
        self._event = ""
        self._data: list[str] = []
        self._data_size = 0
        self._after_cr = False

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """Take the next bytes of the body.

        Returns:
            The events completed by these bytes (often none or one).

        Raises:
            WireViolation: A line or an event over its limit, or invalid UTF-8.
        """
        # The common case first: one whole ``data:`` event in one network read, nothing
        # pending. One search, one strict decode, no per-line work.
        if (
            chunk.endswith(b"\n\n")
            and chunk.startswith(b"data:")
            and chunk.find(b"\n") == len(chunk) - 2
            and not (self._tail or self._data or self._event or self._after_cr)
            and b"\r" not in chunk
            and len(chunk) - 2 <= self._max_line
        ):
            start = 6 if chunk[5] == 0x20 else 5
            if len(chunk) - start - 1 > self._max_event:
                self._too_large()
            try:
                return [_message(("message", chunk[start:-2].decode("utf-8")))]
            except UnicodeDecodeError:
                pass  # the general path below says where
        text = self._lines(chunk)
        return self._dispatch(text.split("\n")) if text is not None else []

    def _lines(self, chunk: bytes) -> str | None:
        """The complete lines these bytes finish, decoded, or ``None`` while none is."""
        if self._after_cr and chunk:
            # The previous chunk ended in CR: a LF now is the rest of that CRLF.
            self._after_cr = False
            if chunk[0] == 0x0A:
                chunk = chunk[1:]
        if not chunk:
            return None
        if b"\r" in chunk:
            self._after_cr = chunk[-1] == 0x0D
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = chunk.rfind(b"\n")
        if end < 0:
            self._tail.append(chunk)
            self._tail_size += len(chunk)
            if self._tail_size > self._max_line:
                self._too_long()
            return None
        # Complete lines are decoded in one go: no UTF-8 character can straddle a LF.
        head = chunk[:end]
        if self._tail:
            head = b"".join([*self._tail, head])
        last = chunk[end + 1 :]
        self._tail = [last] if last else []
        self._tail_size = len(last)
        if self._tail_size > self._max_line or (
            len(head) > self._max_line and max(map(len, head.split(b"\n"))) > self._max_line
        ):
            self._too_long()
        try:
            return head.decode("utf-8")
        except UnicodeDecodeError as exc:
            msg = f"invalid UTF-8 in an event stream (byte {exc.start} of {len(head)})"
            raise WireViolation(msg) from None

    def _dispatch(self, lines: list[str]) -> list[SseEvent]:
        events: list[SseEvent] = []
        for line in lines:
            if not line:
                if self._data:
                    events.append(SseEvent(self._event or "message", "\n".join(self._data)))
                    self._data = []
                    self._data_size = 0
                self._event = ""
                continue
            if line[0] == ":":
                continue
            name, colon, value = line.partition(":")
            if colon and value[:1] == " ":
                value = value[1:]
            if name == "data":
                self._add_data(value)
            elif name == "event":
                self._event = value
        return events

    def _too_long(self) -> None:
        limit = self._max_line
        msg = f"an event-stream line longer than {limit} bytes (HttpLimits.max_sse_line_bytes)"
        raise WireViolation(msg)

    def _too_large(self) -> None:
        limit = self._max_event
        msg = f"an event larger than {limit} bytes (HttpLimits.max_sse_event_bytes)"
        raise WireViolation(msg)

    def _add_data(self, value: str) -> None:
        self._data_size += 1 + (len(value) if value.isascii() else len(value.encode()))
        if self._data_size > self._max_event:
            self._too_large()
        self._data.append(value)


class StreamReader(ABC):
    """Reads one stream's events in one wire format.

    ``feed`` returns the text an event adds (``""`` for none), or a chunk when it adds
    more than text (tool-call pieces, a refusal, thinking), and raises ``LlmError`` for
    events that say the stream failed. The loop in ``HttpProvider.stream`` handles time.
    """

    __slots__ = (
        "_boundary",
        "done",
        "finish_reason",
        "model",
        "parts",
        "provider_finish_reason",
        "usage",
    )

    def __init__(self, model: str, boundary: Boundary) -> None:
        self.model = model
        self._boundary = boundary
        self.parts: list[str] = []
        self.finish_reason: str | None = None
        self.provider_finish_reason: str | None = None
        self.usage: Usage | None = None
        self.done = False
        """The terminator arrived (``[DONE]``, ``message_stop``): nothing more to read."""

    @property
    def partial(self) -> str:
        """The text delivered so far."""
        return "".join(self.parts)

    @abstractmethod
    def feed(self, event: SseEvent) -> str | StreamChunk:
        """Take one event; return the text it adds (or the chunk, when it adds more)."""

    def _object(self, data: str) -> dict[str, object]:
        """An event's data as a JSON object.

        Raises:
            InvalidResponse: The data is not JSON, or not an object.
        """
        # A value and nothing after it is the rule; anything else (whitespace around it,
        # an error) goes through the whole json.loads, which also says what is wrong.
        try:
            parsed, end = _decode(data)
        except ValueError:
            parsed, end = None, -1
        if end != len(data):
            try:
                parsed = json.loads(data)
            except ValueError as exc:
                raise self._invalid("an event that is not JSON") from exc
        if type(parsed) is not dict:  # json gives exactly dict; no isinstance call per event
            raise self._invalid("an event that is not a JSON object")
        return parsed

    def _invalid(self, what: str) -> LlmError:
        return self._boundary.invalid(what, model=self.model, partial=self.partial)
