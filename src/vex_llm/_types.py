"""Value types shared by every layer: messages, requests, responses, stream chunks.

All of them are frozen, slotted dataclasses: a request can be handed to a retry, a
fallback and a hedge at once without anyone mutating it under the others.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Self

Role = Literal["system", "user", "assistant", "tool"]

_ROLES: frozenset[str] = frozenset({"system", "user", "assistant", "tool"})


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message.

    Args:
        role: ``"system"``, ``"user"``, ``"assistant"`` or ``"tool"``.
        content: The message text.

    Raises:
        ValueError: If ``role`` is not one of the four roles.
    """

    role: Role
    content: str

    def __post_init__(self) -> None:
        if self.role not in _ROLES:
            msg = f"Message.role must be one of {sorted(_ROLES)}, got {self.role!r}"
            raise ValueError(msg)
        content: object = self.content  # callers without a type checker do pass None
        if not isinstance(content, str):
            msg = f"Message.content must be str, got {type(content).__name__}"
            raise TypeError(msg)


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

    Raises:
        ValueError: On an empty conversation or out-of-range sampling settings.
    """

    messages: Sequence[Message]
    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: Sequence[str] = field(default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "messages", tuple(self.messages))
        object.__setattr__(self, "stop", tuple(self.stop))
        if not self.messages:
            msg = "LlmRequest.messages must hold at least one Message"
            raise ValueError(msg)
        items: tuple[object, ...] = tuple(self.messages)
        for message in items:
            if not isinstance(message, Message):
                msg = f"LlmRequest.messages must hold Message objects, got {type(message).__name__}"
                raise TypeError(msg)
        if self.max_tokens is not None and self.max_tokens < 1:
            msg = f"LlmRequest.max_tokens must be >= 1, got {self.max_tokens}"
            raise ValueError(msg)
        if self.temperature is not None and not (
            math.isfinite(self.temperature) and self.temperature >= 0
        ):
            msg = f"LlmRequest.temperature must be a finite number >= 0, got {self.temperature}"
            raise ValueError(msg)
        if self.top_p is not None and not (0 < self.top_p <= 1):
            msg = f"LlmRequest.top_p must be in (0, 1], got {self.top_p}"
            raise ValueError(msg)

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


@dataclass(frozen=True, slots=True)
class Usage:
    """Token accounting reported by a provider.

    Args:
        prompt_tokens: Tokens in the input.
        completion_tokens: Tokens generated.
        total_tokens: Their sum, as the provider reported it.
    """

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

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
        finish_reason: Why generation stopped (``"stop"``, ``"length"``, ...).
        latency_s: Seconds from sending the request to the complete answer.
    """

    content: str
    model: str = ""
    provider: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None
    latency_s: float = 0.0


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """One piece of a streamed completion.

    The first and the last chunk of a stream carry ``model`` and ``provider`` so that a
    consumer can see who served it; the last carries ``finish_reason`` and, where the
    provider reports it, ``usage``.

    Args:
        delta: Text added by this chunk (may be empty).
        finish_reason: Set on the chunk that ends the stream.
        usage: Token accounting, on the last chunk.
        model: The model serving the stream.
        provider: The provider serving the stream.
    """

    delta: str
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None
    provider: str | None = None


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
