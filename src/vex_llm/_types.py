"""Value types shared by every layer: messages, requests, responses, stream chunks.

All of them are frozen, slotted dataclasses: a request can be handed to a retry, a
fallback and a hedge at once without anyone mutating it under the others. Content parts
live in ``_content.py``, tools and formats in ``_tools.py``, responses and stream chunks
in ``_response.py``; this module re-exports them all.

The ``from_openai`` / ``to_openai`` / ``from_anthropic`` / ``to_anthropic`` methods
delegate to ``vex_llm.wire`` through an import inside the method: the core never imports
the wire package when it loads (the wire package imports the core).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Self

from ._content import (
    PART_TYPES,
    WIRES,
    ContentPart,
    DocumentPart,
    Extra,
    ImageDetail,
    ImagePart,
    TextPart,
    ThinkingPart,
    check_extra,
)
from ._response import LlmResponse, StreamChunk, StreamReset, Usage
from ._tools import (
    Effort,
    Reasoning,
    ResponseFormat,
    ResponseFormatType,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    ToolChoiceMode,
)

__all__ = [
    "ContentPart",
    "DocumentPart",
    "Effort",
    "ImageDetail",
    "ImagePart",
    "LlmRequest",
    "LlmResponse",
    "Message",
    "Reasoning",
    "ResponseFormat",
    "ResponseFormatType",
    "Role",
    "StreamChunk",
    "StreamReset",
    "TextPart",
    "ThinkingPart",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolChoice",
    "ToolChoiceMode",
    "Usage",
    "Wire",
]

Role = Literal["system", "user", "assistant", "tool"]
Wire = Literal["openai", "anthropic"]

_ROLES: frozenset[str] = frozenset({"system", "user", "assistant", "tool"})
_WIRES = WIRES


def _content_parts(content: object) -> tuple[ContentPart, ...]:
    if isinstance(content, str | bytes) or not isinstance(content, Sequence):
        msg = f"Message.content must be str or a sequence of parts, got {type(content).__name__}"
        raise TypeError(msg)
    parts = tuple(content)
    for part in parts:
        if not isinstance(part, PART_TYPES):
            kind = type(part).__name__
            msg = f"Message.content parts must be content parts (TextPart, ...), got {kind}"
            raise TypeError(msg)
    return parts


@dataclass(frozen=True, slots=True, init=False)
class Message:
    """One chat message.

    ``content`` is always the message's text, so code that reads text keeps working when
    a message carries images or documents: for a message built from parts it is the text
    parts joined with ``"\n"``, and ``parts`` holds every part in order.

    Build a changed message with ``Message(...)``: ``dataclasses.replace`` does not work
    on it (``content`` is text or parts when building, always text when read).

    Args:
        role: ``"system"``, ``"user"``, ``"assistant"`` or ``"tool"``.
        content: The message text, or a sequence of ``TextPart`` / ``ImagePart`` /
            ``DocumentPart`` / ``ThinkingPart`` (stored as a tuple in ``parts``).
        tool_calls: The tools an assistant message calls (assistant only).
        tool_call_id: The call a ``"tool"`` message answers.
        name: An optional participant name (OpenAI ``name``; the Anthropic wire has none).
        extra: Fields of this message for one wire only, written back verbatim on that
            wire: OpenAI message fields, or the Anthropic ``tool_result`` block of a tool
            message (``is_error``, ``cache_control``). Not copied.

    Raises:
        ValueError: On an unknown role, tool calls outside an assistant message or a
            ``tool_call_id`` outside a tool message.
        TypeError: On content that is neither text nor parts.
    """

    role: Role
    content: str
    parts: tuple[ContentPart, ...]
    tool_calls: tuple[ToolCall, ...]
    tool_call_id: str | None
    name: str | None
    extra: Extra | None

    def __init__(
        self,
        role: Role,
        content: str | Sequence[ContentPart],
        *,
        tool_calls: Sequence[ToolCall] = (),
        tool_call_id: str | None = None,
        name: str | None = None,
        extra: Extra | None = None,
    ) -> None:
        if role not in _ROLES:
            msg = f"Message.role must be one of {sorted(_ROLES)}, got {role!r}"
            raise ValueError(msg)
        parts: tuple[ContentPart, ...] = ()
        if isinstance(content, str):
            text = content
        else:
            parts = _content_parts(content)
            text = "\n".join(part.text for part in parts if isinstance(part, TextPart))
        if role != "assistant" and any(isinstance(part, ThinkingPart) for part in parts):
            msg = f"ThinkingPart belongs to assistant messages, not {role!r}"
            raise ValueError(msg)
        calls = tuple(tool_calls)
        if any(not isinstance(call, ToolCall) for call in calls):
            msg = "Message.tool_calls must hold ToolCall objects"
            raise TypeError(msg)
        if calls and role != "assistant":
            msg = f"Message.tool_calls belong to assistant messages, not {role!r}"
            raise ValueError(msg)
        if tool_call_id is not None and role != "tool":
            msg = f"Message.tool_call_id belongs to tool messages, not {role!r}"
            raise ValueError(msg)
        object.__setattr__(self, "role", role)
        object.__setattr__(self, "content", text)
        object.__setattr__(self, "parts", parts)
        object.__setattr__(self, "tool_calls", calls)
        object.__setattr__(self, "tool_call_id", tool_call_id)
        object.__setattr__(self, "name", name)
        check_extra("Message", extra)
        object.__setattr__(self, "extra", extra)


def _check_sampling(request: LlmRequest) -> None:
    if request.max_tokens is not None and request.max_tokens < 1:
        msg = f"LlmRequest.max_tokens must be >= 1, got {request.max_tokens}"
        raise ValueError(msg)
    if request.temperature is not None and not (
        math.isfinite(request.temperature) and request.temperature >= 0
    ):
        msg = f"LlmRequest.temperature must be a finite number >= 0, got {request.temperature}"
        raise ValueError(msg)
    if request.top_p is not None and not (0 < request.top_p <= 1):
        msg = f"LlmRequest.top_p must be in (0, 1], got {request.top_p}"
        raise ValueError(msg)


def _check_options(request: LlmRequest) -> None:
    tools: tuple[object, ...] = tuple(request.tools)
    for tool in tools:
        if not isinstance(tool, Tool):
            msg = f"LlmRequest.tools must hold Tool objects, got {type(tool).__name__}"
            raise TypeError(msg)
    names = [tool.name for tool in request.tools]
    if len(set(names)) != len(names):
        msg = f"LlmRequest.tools has duplicate names: {sorted(names)}"
        raise ValueError(msg)
    for name, value, kind in (
        ("tool_choice", request.tool_choice, ToolChoice),
        ("response_format", request.response_format, ResponseFormat),
        ("reasoning", request.reasoning, Reasoning),
    ):
        if value is not None and not isinstance(value, kind):
            msg = f"LlmRequest.{name} must be a {kind.__name__}, got {type(value).__name__}"
            raise TypeError(msg)
    if request.extra is not None:
        unknown = set(request.extra) - _WIRES
        if unknown:
            msg = (
                f"LlmRequest.extra keys must be wire names {sorted(_WIRES)}, got {sorted(unknown)}"
            )
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class LlmRequest:
    """A chat completion request, independent of any provider's wire format.

    Args:
        messages: The conversation, oldest first (stored as a tuple). At least one message.
        model: Model name; ``None`` lets the provider use its configured default.
        max_tokens: Upper bound on generated tokens; ``None`` uses the provider default.
        temperature: Sampling temperature (>= 0); ``None`` uses the provider default.
        top_p: Nucleus sampling mass in (0, 1]; ``None`` uses the provider default.
        stop: Stop sequences (stored as a tuple).
        tools: The tools the model may call (stored as a tuple; names unique).
        tool_choice: Whether and which tool to call; ``None`` leaves it to the provider.
        response_format: Plain text, a JSON object or a JSON Schema; ``None``: text.
        seed: A sampling seed, where the wire has one (OpenAI).
        user: An end-user id for the provider's abuse monitoring (OpenAI ``user``,
            Anthropic ``metadata.user_id``).
        parallel_tool_calls: Allow several tool calls in one answer; ``None``: the
            provider's default (OpenAI ``parallel_tool_calls``, Anthropic
            ``tool_choice.disable_parallel_tool_use``).
        reasoning: How much to think before answering (``Reasoning``).
        extra: Provider-specific body fields per wire, ``{"openai": {...}, "anthropic":
            {...}}``, sent verbatim on that wire only (they override the fields built
            from the request). The inner dicts are not copied.

    Raises:
        ValueError: On an empty conversation, out-of-range sampling settings, duplicate
            tool names or an ``extra`` key that is not a wire name.
        TypeError: On values of the wrong type.
    """

    messages: Sequence[Message]
    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: Sequence[str] = field(default=())
    tools: Sequence[Tool] = field(default=(), kw_only=True)
    tool_choice: ToolChoice | None = field(default=None, kw_only=True)
    response_format: ResponseFormat | None = field(default=None, kw_only=True)
    seed: int | None = field(default=None, kw_only=True)
    user: str | None = field(default=None, kw_only=True)
    parallel_tool_calls: bool | None = field(default=None, kw_only=True)
    reasoning: Reasoning | None = field(default=None, kw_only=True)
    extra: Mapping[str, Mapping[str, object]] | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "messages", tuple(self.messages))
        object.__setattr__(self, "stop", tuple(self.stop))
        object.__setattr__(self, "tools", tuple(self.tools))
        if not self.messages:
            msg = "LlmRequest.messages must hold at least one Message"
            raise ValueError(msg)
        items: tuple[object, ...] = tuple(self.messages)
        for message in items:
            if not isinstance(message, Message):
                msg = f"LlmRequest.messages must hold Message objects, got {type(message).__name__}"
                raise TypeError(msg)
        _check_sampling(self)
        _check_options(self)

    @classmethod
    def from_prompt(cls, text: str, system: str | None = None, **kwargs: object) -> Self:
        """Build a one-turn request from a prompt.

        Args:
            text: The user's prompt.
            system: An optional system message placed before the prompt.
            **kwargs: Other ``LlmRequest`` fields (``model``, ``max_tokens``, ...).

        Returns:
            The request.
        """
        messages: list[Message] = []
        if system is not None:
            messages.append(Message("system", system))
        messages.append(Message("user", text))
        return cls(messages, **kwargs)  # type: ignore[arg-type]  # kwargs are LlmRequest's own fields

    @property
    def prompt(self) -> str:
        """The text of the last user message (empty if there is none)."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.content
        return ""

    def extra_for(self, wire: Wire) -> Mapping[str, object]:
        """The extra body fields for ``wire`` (empty when there are none)."""
        return (self.extra or {}).get(wire, {})

    @classmethod
    def from_openai(cls, body: Mapping[str, object]) -> LlmRequest:
        """Read an OpenAI Chat Completions request body.

        Args:
            body: The decoded JSON body.

        Returns:
            The request; fields the model does not know go to ``extra["openai"]``.

        Raises:
            InvalidRequest: On a malformed body (the message names the field).
        """
        from .wire import openai

        return openai.request_from_body(body)

    def to_openai(self, *, model: str | None = None, stream: bool = False) -> dict[str, object]:
        """Write this request as an OpenAI Chat Completions body.

        Args:
            model: The model to name when the request names none.
            stream: Ask for an SSE stream (with usage on the last chunk).

        Returns:
            The JSON-ready body.

        Raises:
            InvalidRequest: If the request holds something the wire cannot express.
        """
        from .wire import openai

        return openai.request_to_body(self, model=model, stream=stream)

    @classmethod
    def from_anthropic(cls, body: Mapping[str, object]) -> LlmRequest:
        """Read an Anthropic Messages request body.

        Args:
            body: The decoded JSON body.

        Returns:
            The request; fields the model does not know go to ``extra["anthropic"]``.

        Raises:
            InvalidRequest: On a malformed body (the message names the field).
        """
        from .wire import anthropic

        return anthropic.request_from_body(body)

    def to_anthropic(
        self, *, model: str | None = None, stream: bool = False, max_tokens: int | None = None
    ) -> dict[str, object]:
        """Write this request as an Anthropic Messages body.

        Args:
            model: The model to name when the request names none.
            stream: Ask for an SSE stream.
            max_tokens: The limit to send when the request has none (the wire requires
                one); ``None`` uses ``vex_llm.wire.anthropic.DEFAULT_MAX_TOKENS`` (4096).

        Returns:
            The JSON-ready body.

        Raises:
            InvalidRequest: If the request holds something the wire cannot express.
        """
        from .wire import anthropic

        return anthropic.request_to_body(self, model=model, stream=stream, max_tokens=max_tokens)
