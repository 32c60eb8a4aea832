"""Scripted answers: what the fake model says when a script tells it (pure data, no I/O).

An ``Answer`` is a script step like a ``Fault``: ``server.script([Answer.tool_call(...)])``.
It chooses *what* the server answers; faults still choose *how* (a cut, a stall, ...), so
the two combine on one request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Self

from ._checks import check_count, check_text
from ._wire import split_words

ARGUMENT_PIECE_CHARS: Final = 8
"""Default size of a streamed arguments piece, in characters."""


def _is_object_text(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolUse:
    """One tool call the fake model makes.

    Args:
        name: The tool's name.
        arguments: The arguments as JSON text: a JSON object, sent exactly as given on the
            OpenAI wire (``function.arguments``) and in streamed ``partial_json`` pieces;
            parsed into Anthropic's non-streamed ``input`` object.
        id: The call id (``None``: ``call_<serial>_<n>`` on OpenAI, ``toolu_<serial>_<n>``
            on Anthropic, where ``<serial>`` is the answer's 8-digit serial and ``<n>`` the
            call's position).

    Raises:
        ValueError: On an empty name or id, or arguments that are not a JSON object.
    """

    name: str
    arguments: str = "{}"
    id: str | None = None

    def __post_init__(self) -> None:
        check_text("ToolUse", "name", self.name, optional=False)
        check_text("ToolUse", "arguments", self.arguments, optional=False)
        check_text("ToolUse", "id", self.id)
        if not self.name or self.id == "":
            msg = f"ToolUse name and id must not be empty, got {self.name!r}, {self.id!r}"
            raise ValueError(msg)
        if not _is_object_text(self.arguments):
            msg = f"ToolUse arguments must be a JSON object's text, got {self.arguments!r}"
            raise ValueError(msg)

    def to_dict(self) -> dict[str, object]:
        """This call as JSON-ready data."""
        out: dict[str, object] = {"name": self.name, "arguments": self.arguments}
        if self.id is not None:
            out["id"] = self.id
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """What the fake model answers one request: text, tool calls, or text then tool calls.

    A script step (``server.script([...])``, ``server.inject(...)``) like a ``Fault``.

    Non-streamed, tool calls are OpenAI ``message.tool_calls`` with ``finish_reason
    "tool_calls"`` (``content`` is the text, or ``null``), and Anthropic ``tool_use``
    blocks after the text block (if any) with ``stop_reason "tool_use"``. Streamed, the
    pieces are: one per word of the text, then per call one opening piece (OpenAI: a
    ``delta.tool_calls`` entry with ``index``, ``id``, ``type`` and ``function.name``
    and empty ``arguments``; Anthropic: ``content_block_start`` of type ``tool_use`` with
    ``input {}``, after the ``content_block_stop`` of the block before it), then one piece
    per ``piece_chars`` characters of its arguments (OpenAI ``function.arguments``;
    Anthropic ``input_json_delta.partial_json``). Stream faults' ``after_chunks`` counts
    these pieces; ``inside_arguments()`` gives the count that lands inside a call.
    Usage: about one completion token per word of the text and of each call's name and
    arguments.

    Args:
        text: The text (``None``: the server's responder text when there are no tool
            calls, and no text when there are).
        tool_calls: The calls, in order.
        piece_chars: Characters per streamed arguments piece (default 8, so arguments
            longer than that arrive in several events).

    Raises:
        ValueError: On a ``piece_chars`` below 1, or a bad text.
        TypeError: On a tool call that is not a ``ToolUse``.
    """

    text: str | None = None
    tool_calls: tuple[ToolUse, ...] = ()
    piece_chars: int = ARGUMENT_PIECE_CHARS

    def __post_init__(self) -> None:
        check_text("Answer", "text", self.text)
        calls: tuple[object, ...] = tuple(self.tool_calls)
        for call in calls:
            if not isinstance(call, ToolUse):
                msg = f"Answer tool_calls must be ToolUse objects, got {type(call).__name__}"
                raise TypeError(msg)
        object.__setattr__(self, "tool_calls", calls)
        check_count("Answer", "piece_chars", self.piece_chars)
        if self.piece_chars < 1:
            msg = f"Answer piece_chars must be an integer >= 1, got {self.piece_chars!r}"
            raise ValueError(msg)

    @classmethod
    def tool_call(
        cls, name: str, arguments: str = "{}", *, id: str | None = None, text: str | None = None
    ) -> Self:
        """Answer with one tool call (after ``text``, if given).

        ``Answer.tool_call("get_weather", '{"city": "Paris"}')``.
        """
        return cls(text=text, tool_calls=(ToolUse(name=name, arguments=arguments, id=id),))

    def argument_pieces(self, call: int) -> list[str]:
        """The streamed pieces of call ``call``'s arguments, in order."""
        arguments = self.tool_calls[call].arguments
        size = self.piece_chars
        return [arguments[i : i + size] for i in range(0, len(arguments), size)]

    def inside_arguments(self, call: int = 0, pieces: int = 1) -> int:
        """The ``after_chunks`` that strikes inside call ``call``'s arguments.

        The stream has sent the text, the calls before, this call's opening (id and name)
        and its first ``pieces`` arguments pieces; the rest of them never comes.
        ``Fault.cut(after_chunks=answer.inside_arguments())`` cuts after the first piece.

        Raises:
            ValueError: If there is no such call, or ``pieces`` is not in
                ``0 <= pieces < number of pieces`` (then it would not be inside).
        """
        if not 0 <= call < len(self.tool_calls):
            msg = f"Answer has no tool call {call} (it has {len(self.tool_calls)})"
            raise ValueError(msg)
        total = len(self.argument_pieces(call))
        if not 0 <= pieces < total:
            msg = (
                f"pieces must be in 0..{total - 1} to land inside call {call}'s arguments "
                f"({total} pieces of {self.piece_chars} characters), got {pieces}"
            )
            raise ValueError(msg)
        before = len(split_words(self.text)) if self.text else 0
        before += sum(1 + len(self.argument_pieces(i)) for i in range(call))
        return before + 1 + pieces

    def to_dict(self) -> dict[str, object]:
        """This answer as JSON-ready data: ``{"kind": "answer", ...}`` (a script step)."""
        out: dict[str, object] = {"kind": "answer"}
        if self.text is not None:
            out["text"] = self.text
        if self.tool_calls:
            out["tool_calls"] = [c.to_dict() for c in self.tool_calls]
        if self.piece_chars != ARGUMENT_PIECE_CHARS:
            out["piece_chars"] = self.piece_chars
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Self:
        """Build an answer from ``to_dict()`` data.

        Raises:
            ValueError: On unknown keys or bad values.
        """
        unknown = set(data) - {"kind", "text", "tool_calls", "piece_chars"}
        if unknown or data.get("kind") != "answer":
            known = "'kind': 'answer', 'text', 'tool_calls', 'piece_chars'"
            msg = f"an answer takes {known}; got {dict(data)!r}"
            raise ValueError(msg)
        calls = data.get("tool_calls", [])
        if not isinstance(calls, Sequence) or isinstance(calls, str):
            msg = f"Answer tool_calls must be a list, got {calls!r}"
            raise ValueError(msg)
        return cls(
            text=data.get("text"),  # type: ignore[arg-type]  # checked in __post_init__
            tool_calls=tuple(_tool_use(c) for c in calls),
            piece_chars=data.get("piece_chars", ARGUMENT_PIECE_CHARS),  # type: ignore[arg-type]  # checked in __post_init__
        )


def _tool_use(data: object) -> ToolUse:
    if not isinstance(data, dict) or set(data) - {"name", "arguments", "id"}:
        msg = f"a tool call is {{'name', 'arguments', 'id'}}, got {data!r}"
        raise ValueError(msg)
    return ToolUse(**data)
