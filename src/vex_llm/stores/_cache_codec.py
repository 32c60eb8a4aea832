"""An answer as bytes for a shared cache: compact JSON, compressed with zlib.

The format carries a version; a value in another version (written by an older or newer
vex-llm sharing the Redis) or one that does not parse is a miss, never an error.
"""

from __future__ import annotations

import json
import zlib
from typing import Final

from .._types import LlmResponse, ThinkingPart, ToolCall, Usage

VERSION: Final = 1


def encode(answer: LlmResponse, *, level: int = 6) -> bytes | None:
    """The answer as compressed bytes (``None`` if a field is not JSON: not stored)."""
    usage = answer.usage
    body = {
        "v": VERSION,
        "content": answer.content,
        "model": answer.model,
        "provider": answer.provider,
        "usage": None
        if usage is None
        else [
            usage.prompt_tokens,
            usage.completion_tokens,
            usage.total_tokens,
            usage.cached_input_tokens,
            usage.cache_write_tokens,
            usage.reasoning_tokens,
        ],
        "finish": answer.finish_reason,
        "calls": [[c.id, c.name, c.arguments] for c in answer.tool_calls],
        "refusal": answer.refusal,
        "provider_finish": answer.provider_finish_reason,
        "id": answer.id,
        "thinking": [
            [p.text, p.signature, p.redacted, None if p.extra is None else dict(p.extra)]
            for p in answer.thinking
        ],
    }
    try:
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return zlib.compress(text.encode(), level)


def decode(data: bytes) -> LlmResponse | None:
    """The answer in ``data`` (``None`` when it is not a value this version wrote)."""
    try:
        body = json.loads(zlib.decompress(data))
        if body.get("v") != VERSION:
            return None
        usage = body["usage"]
        return LlmResponse(
            body["content"],
            model=body["model"],
            provider=body["provider"],
            usage=None if usage is None else Usage(*usage[:3], **_usage_extras(usage)),
            finish_reason=body["finish"],
            tool_calls=[ToolCall(*call) for call in body["calls"]],
            refusal=body["refusal"],
            provider_finish_reason=body["provider_finish"],
            id=body["id"],
            thinking=[
                ThinkingPart(text, signature=signature, redacted=redacted, extra=extra)
                for text, signature, redacted, extra in body["thinking"]
            ],
        )
    except (zlib.error, ValueError, TypeError, KeyError, AttributeError):
        return None


def _usage_extras(usage: list[int]) -> dict[str, int]:
    cached, written, reasoning = usage[3:6]
    return {
        "cached_input_tokens": cached,
        "cache_write_tokens": written,
        "reasoning_tokens": reasoning,
    }
