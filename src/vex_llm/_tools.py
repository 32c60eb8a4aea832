"""Tools, tool calls, response formats and reasoning settings of a request.

JSON Schemas are plain dicts and are *not* copied: a request holds the caller's dict, so
mutating it after building the request changes the request. Build the schema once and
leave it alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Self

from ._content import Extra, check_extra

ToolChoiceMode = Literal["auto", "none", "required", "tool"]
ResponseFormatType = Literal["text", "json_object", "json_schema"]
Effort = Literal["none", "minimal", "low", "medium", "high"]

_CHOICE_MODES: frozenset[str] = frozenset({"auto", "none", "required", "tool"})
_FORMAT_TYPES: frozenset[str] = frozenset({"text", "json_object", "json_schema"})
_EFFORTS: frozenset[str] = frozenset({"none", "minimal", "low", "medium", "high"})


def _check_name(owner: str, name: object) -> None:
    if not isinstance(name, str) or not name:
        msg = f"{owner}.name must be a non-empty str, got {name!r}"
        raise ValueError(msg)


@dataclass(frozen=True, slots=True, kw_only=True)
class Tool:
    """A function the model may call.

    Args:
        name: The function's name.
        description: What it does, for the model; ``None`` sends none.
        parameters: Its arguments as a JSON Schema object (not copied); ``None`` means the
            wire's default (OpenAI: no parameters; Anthropic: ``{"type": "object"}``).
        strict: Ask the provider to enforce the schema exactly; ``None`` leaves it unset.
        extra: Fields of the tool definition for one wire only, written back verbatim on
            that wire (e.g. Anthropic ``cache_control``; not copied).

    Raises:
        ValueError: On an empty name.
    """

    name: str
    description: str | None = None
    parameters: Mapping[str, object] | None = None
    strict: bool | None = None
    extra: Extra | None = None

    def __post_init__(self) -> None:
        _check_name("Tool", self.name)
        check_extra("Tool", self.extra)


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """Whether and which tool the model must call.

    Args:
        mode: ``"auto"`` (the model decides), ``"none"`` (no tool), ``"required"`` (some
            tool; Anthropic calls it ``"any"``) or ``"tool"`` (the one named by ``name``;
            build it with ``ToolChoice.tool(name)``).
        name: The tool's name, with mode ``"tool"`` only.

    Raises:
        ValueError: On an unknown mode, or a name missing or given where it does not belong.
    """

    mode: ToolChoiceMode
    name: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in _CHOICE_MODES:
            msg = f"ToolChoice.mode must be one of {sorted(_CHOICE_MODES)}, got {self.mode!r}"
            raise ValueError(msg)
        if self.mode == "tool":
            _check_name("ToolChoice", self.name)
        elif self.name is not None:
            msg = f"ToolChoice.name only goes with mode 'tool', not {self.mode!r}"
            raise ValueError(msg)

    @classmethod
    def tool(cls, name: str) -> Self:
        """Force a call of the tool named ``name``.

        Args:
            name: The tool's name.

        Returns:
            The choice.
        """
        return cls("tool", name)


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call of a tool by the model.

    Args:
        id: The call's id; the tool's result names it (``Message.tool_call_id``).
        name: The tool called.
        arguments: The arguments as JSON text, exactly as the model produced them.

    Raises:
        ValueError: On an empty id or name.
    """

    id: str
    name: str
    arguments: str = "{}"

    def __post_init__(self) -> None:
        call_id: object = self.id
        if not isinstance(call_id, str) or not call_id:
            msg = f"ToolCall.id must be a non-empty str, got {call_id!r}"
            raise ValueError(msg)
        _check_name("ToolCall", self.name)
        arguments: object = self.arguments
        if not isinstance(arguments, str):
            msg = f"ToolCall.arguments must be JSON text (str), got {type(arguments).__name__}"
            raise TypeError(msg)


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a streamed tool call.

    The first delta of a call carries its ``id`` and ``name``; later ones only add
    ``arguments_delta`` text. ``index`` tells the calls of one answer apart (0, 1, ...).

    Args:
        index: Which call of the answer this piece belongs to (>= 0).
        id: The call's id, on its first piece.
        name: The tool's name, on its first piece.
        arguments_delta: Arguments JSON text added by this piece.

    Raises:
        ValueError: On a negative index.
    """

    index: int
    id: str | None = None
    name: str | None = None
    arguments_delta: str = ""

    def __post_init__(self) -> None:
        index: object = self.index
        if not isinstance(index, int) or index < 0:
            msg = f"ToolCallDelta.index must be an int >= 0, got {index!r}"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseFormat:
    """The shape the answer must have.

    Args:
        type: ``"text"`` (the default of every wire), ``"json_object"`` (any JSON
            object; OpenAI only) or ``"json_schema"`` (build it with
            ``ResponseFormat.json_schema``).
        name: The schema's name (json_schema only; OpenAI requires one).
        schema: The JSON Schema (json_schema only; not copied).
        strict: Enforce the schema exactly (OpenAI ``strict``); ``None`` leaves it unset.
        description: What the schema is for (OpenAI only).

    Raises:
        ValueError: On an unknown type, or schema fields on a type without a schema.
    """

    type: ResponseFormatType = "text"
    name: str | None = None
    schema: Mapping[str, object] | None = None
    strict: bool | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        if self.type not in _FORMAT_TYPES:
            msg = f"ResponseFormat.type must be one of {sorted(_FORMAT_TYPES)}, got {self.type!r}"
            raise ValueError(msg)
        if self.type == "json_schema":
            if not isinstance(self.schema, Mapping):
                msg = "ResponseFormat.schema must be a JSON Schema dict for type 'json_schema'"
                raise ValueError(msg)
        elif (self.name, self.schema, self.strict, self.description) != (None,) * 4:
            msg = (
                "ResponseFormat.name/schema/strict/description need type 'json_schema', "
                f"not {self.type!r}"
            )
            raise ValueError(msg)

    @classmethod
    def json_schema(
        cls,
        name: str,
        schema: Mapping[str, object],
        strict: bool | None = True,
        description: str | None = None,
    ) -> Self:
        """An answer that is JSON matching ``schema``.

        Args:
            name: The schema's name.
            schema: The JSON Schema (not copied).
            strict: Enforce it exactly (default ``True``: what callers mean by a schema).
            description: What the schema is for.

        Returns:
            The response format.
        """
        return cls(
            type="json_schema", name=name, schema=schema, strict=strict, description=description
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Reasoning:
    """How much the model should think before answering, portable across wires.

    OpenAI takes an effort (``reasoning_effort``), Anthropic a token budget
    (``thinking.budget_tokens``). Give either or both; each wire uses its own and derives
    the other from the table in ``vex_llm.wire`` when only one is set.

    Args:
        effort: ``"none"`` (thinking off), ``"minimal"``, ``"low"``, ``"medium"``, ``"high"``.
        budget_tokens: Tokens the model may spend thinking (Anthropic needs >= 1024).

    Raises:
        ValueError: On neither being set, an unknown effort or a budget below 1.
    """

    effort: Effort | None = None
    budget_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.effort is None and self.budget_tokens is None:
            msg = "Reasoning needs effort= or budget_tokens="
            raise ValueError(msg)
        if self.effort is not None and self.effort not in _EFFORTS:
            msg = f"Reasoning.effort must be one of {sorted(_EFFORTS)}, got {self.effort!r}"
            raise ValueError(msg)
        budget: object = self.budget_tokens
        if budget is not None and (
            not isinstance(budget, int) or isinstance(budget, bool) or budget < 1
        ):
            msg = f"Reasoning.budget_tokens must be an int >= 1, got {budget!r}"
            raise ValueError(msg)
