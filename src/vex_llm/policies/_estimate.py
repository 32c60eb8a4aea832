"""Estimating a request's prompt tokens before it is sent (the limiter reserves them).

The default counts characters / 4 (OpenAI's rule of thumb for English) plus a few tokens
per message: cheap, no dependency, and the limiter corrects the estimate with the real
usage when the answer arrives. ``tiktoken_estimator()`` counts with ``tiktoken`` when it
is installed (``pip install 'vex-llm[tiktoken]'``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Final

from .._types import LlmRequest

Estimator = Callable[[LlmRequest], int]
"""Prompt tokens of a request (``max_tokens`` is added by the limiter)."""

_PER_MESSAGE: Final = 4
"""Tokens of framing per message (role and separators), as the chat formats spend them."""


def _texts(request: LlmRequest) -> list[str]:
    texts: list[str] = []
    for message in request.messages:
        texts.append(message.content)
        texts.extend(call.arguments for call in message.tool_calls)
    for tool in request.tools:
        texts.append(tool.name)
        texts.append(tool.description or "")
        texts.append(json.dumps(tool.parameters, separators=(",", ":"), default=str))
    return texts


def estimate_tokens(request: LlmRequest) -> int:
    """Prompt tokens of a request, estimated as characters / 4 plus 4 per message.

    Images and documents are not counted (their cost depends on the provider).

    Args:
        request: The request.

    Returns:
        Tokens (>= 1).
    """
    messages = request.messages
    if request.tools:
        chars = sum(len(text) for text in _texts(request))
    else:  # the common case, on the limiter's hot path: plain loops, no lists
        chars = 0
        for message in messages:
            chars += len(message.content)
            if message.tool_calls:
                for call in message.tool_calls:
                    chars += len(call.arguments)
    tokens = chars // 4 + _PER_MESSAGE * len(messages)
    return tokens if tokens > 0 else 1


def tiktoken_estimator(encoding: str = "cl100k_base") -> Estimator:
    """An estimator that counts with ``tiktoken`` (exact for OpenAI models).

    Args:
        encoding: The tiktoken encoding (default ``cl100k_base``; ``o200k_base`` for the
            GPT-4o family). tiktoken may fetch the encoding's file on first use.

    Returns:
        The estimator.

    Raises:
        ImportError: If tiktoken is not installed (``pip install 'vex-llm[tiktoken]'``).
    """
    try:
        import tiktoken  # type: ignore[import-not-found,unused-ignore]  # an optional extra
    except ImportError as exc:
        msg = "tiktoken_estimator needs tiktoken: pip install 'vex-llm[tiktoken]'"
        raise ImportError(msg) from exc
    codec = tiktoken.get_encoding(encoding)

    def estimate(request: LlmRequest) -> int:
        tokens = sum(len(codec.encode(text)) for text in _texts(request))
        return max(1, tokens + _PER_MESSAGE * len(request.messages))

    return estimate
