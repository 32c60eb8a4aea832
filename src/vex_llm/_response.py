"""Responses, token usage and stream chunks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Self

from ._content import TextPart, ThinkingPart
from ._tools import ToolCall, ToolCallDelta

if TYPE_CHECKING:
    from ._types import Message


@dataclass(frozen=True, slots=True)
class Usage:
    """Token accounting reported by a provider.

    The same meaning on every wire: ``prompt_tokens`` counts *all* input tokens, cached
    ones included (OpenAI's meaning; for Anthropic it is ``input_tokens +
    cache_read_input_tokens + cache_creation_input_tokens``).

    Args:
        prompt_tokens: Tokens in the input.
        completion_tokens: Tokens generated.
        total_tokens: Their sum, as the provider reported it.
        cached_input_tokens: Input tokens read from the provider's prompt cache (0 when
            not reported).
        cache_write_tokens: Input tokens written to the prompt cache (Anthropic; 0 when
            not reported).
        reasoning_tokens: Generated tokens spent on reasoning (OpenAI; 0 when not reported).
    """

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_input_tokens: int = field(default=0, kw_only=True)
    cache_write_tokens: int = field(default=0, kw_only=True)
    reasoning_tokens: int = field(default=0, kw_only=True)

    @classmethod
    def of(cls, prompt_tokens: int, completion_tokens: int) -> Self:
        """Build a usage whose total is the sum of the two parts."""
        return cls(prompt_tokens, completion_tokens, prompt_tokens + completion_tokens)


@dataclass(frozen=True, slots=True)
class LlmResponse:
    """A finished completion.

    Args:
        content: The generated text.
        model: The model that produced it, as the provider named it.
        provider: The name of the provider that answered (a fallback shows here).
        usage: Token accounting, when the provider reported it.
        finish_reason: Why generation stopped, the same on every wire: ``"stop"``,
            ``"length"``, ``"tool_calls"`` or ``"content_filter"``.
        latency_s: Seconds from sending the request to the complete answer.
        tool_calls: The tools the model called (stored as a tuple).
        refusal: The model's refusal text, when the wire reports one (OpenAI ``refusal``).
        provider_finish_reason: The provider's own finish value (e.g. ``"tool_use"``).
        id: The provider's id for the answer (``""`` when unknown).
        thinking: The model's reasoning blocks, when the wire returns them (Anthropic).
    """

    content: str
    model: str = ""
    provider: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None
    latency_s: float = 0.0
    tool_calls: Sequence[ToolCall] = field(default=(), kw_only=True)
    refusal: str | None = field(default=None, kw_only=True)
    provider_finish_reason: str | None = field(default=None, kw_only=True)
    id: str = field(default="", kw_only=True)
    thinking: Sequence[ThinkingPart] = field(default=(), kw_only=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tool_calls", tuple(self.tool_calls))
        object.__setattr__(self, "thinking", tuple(self.thinking))

    @classmethod
    def from_openai(cls, body: Mapping[str, object]) -> LlmResponse:
        """Read an OpenAI ``chat.completion`` body (the first choice).

        Args:
            body: The decoded JSON body.

        Returns:
            The response (``provider`` and ``latency_s`` are the caller's to set).

        Raises:
            InvalidResponse: On a malformed body (the message names the field).
        """
        from .wire import openai

        return openai.response_from_body(body)

    def to_openai(self) -> dict[str, object]:
        """Write this response as an OpenAI ``chat.completion`` body.

        Returns:
            The JSON-ready body (``created`` is 0: see ``wire.openai.response_to_body``).
        """
        from .wire import openai

        return openai.response_to_body(self)

    @classmethod
    def from_anthropic(cls, body: Mapping[str, object]) -> LlmResponse:
        """Read an Anthropic ``message`` body.

        Args:
            body: The decoded JSON body.

        Returns:
            The response (``provider`` and ``latency_s`` are the caller's to set).

        Raises:
            InvalidResponse: On a malformed body (the message names the field).
        """
        from .wire import anthropic

        return anthropic.response_from_body(body)

    def to_anthropic(self) -> dict[str, object]:
        """Write this response as an Anthropic ``message`` body.

        Returns:
            The JSON-ready body.

        Raises:
            InvalidResponse: If a tool call's arguments are not a JSON object.
        """
        from .wire import anthropic

        return anthropic.response_to_body(self)

    def to_message(self) -> Message:
        """The assistant message to append to the conversation for the next turn.

        It carries the text, the tool calls and the thinking blocks (which Anthropic
        requires back, unchanged, after a turn that called tools).

        Returns:
            The message: plain text, or parts when there is thinking.
        """
        from ._types import Message  # _types imports this module

        if not self.thinking:
            return Message("assistant", self.content, tool_calls=self.tool_calls)
        text = [TextPart(self.content)] if self.content else []
        return Message("assistant", [*self.thinking, *text], tool_calls=self.tool_calls)


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """One piece of a streamed completion.

    The first and the last chunk of a stream carry ``model`` and ``provider`` so that a
    consumer can see who served it; the last carries ``finish_reason`` and, where the
    provider reports it, ``usage``.

    Args:
        delta: Text added by this chunk (may be empty).
        finish_reason: Set on the chunk that ends the stream (normalised like
            ``LlmResponse.finish_reason``).
        usage: Token accounting, on the last chunk.
        model: The model serving the stream.
        provider: The provider serving the stream.
        tool_calls: Pieces of tool calls added by this chunk (``ToolCallDelta``).
        provider_finish_reason: The provider's own finish value, with ``finish_reason``.
        refusal: Refusal text added by this chunk (OpenAI ``delta.refusal``), if any.
        thinking: A piece of reasoning (Anthropic): text to add to the current thinking
            block, the signature that closes it, or a whole redacted block.
    """

    delta: str
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None
    provider: str | None = None
    tool_calls: Sequence[ToolCallDelta] = field(default=(), kw_only=True)
    provider_finish_reason: str | None = field(default=None, kw_only=True)
    refusal: str | None = field(default=None, kw_only=True)
    thinking: ThinkingPart | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        # Built once per streamed chunk: the common case (no tool calls, the default empty
        # tuple) skips the frozen-dataclass write.
        if type(self.tool_calls) is not tuple:
            object.__setattr__(self, "tool_calls", tuple(self.tool_calls))


@dataclass(frozen=True, slots=True)
class StreamReset(StreamChunk):
    """A marker in a stream: drop the text received so far, the answer starts over.

    A fallback with the ``"restart"`` stream-break policy yields one when a stream broke
    after its first chunk and the request is replayed on the next provider. The chunks
    after it are a whole new answer (its first one names the new provider). A consumer
    that only concatenates ``delta`` must check for this class; its own ``delta`` is
    always empty.

    Args:
        delta: Always ``""``.
        provider: The provider whose stream broke.
        discarded: The text delivered before the break, which the consumer should drop.
        reason: The class name of the error that broke the stream.

    Raises:
        ValueError: On a non-empty ``delta``.
    """

    discarded: str = ""
    reason: str = ""

    def __post_init__(self) -> None:
        if self.delta:
            msg = "StreamReset.delta must be empty: a reset carries no text"
            raise ValueError(msg)
        object.__setattr__(self, "tool_calls", tuple(self.tool_calls))
