"""The fake server's own encoders for both wire formats.

Written from the public API descriptions, independently of ``vex_llm.providers``: a
provider bug must not be mirrored by the server it is tested against.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Final, Literal

from ._validate import check_anthropic, check_openai

Wire = Literal["openai", "anthropic"]

_WORDS: Final = re.compile(r"\S+\s*|\s+")

# Error "type" per status, as each API documents it.
_OPENAI_TYPES: Final = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "requests",
}
_OPENAI_CODES: Final = {
    401: "invalid_api_key",
    404: "model_not_found",
    429: "rate_limit_exceeded",
    503: "server_overloaded",
}
_ANTHROPIC_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_MESSAGES: Final = {
    400: "Invalid request.",
    401: "Incorrect API key provided.",
    403: "You do not have access to this model.",
    404: "The model does not exist.",
    408: "Request timed out.",
    413: "Request too large.",
    422: "Unprocessable request.",
    429: "Rate limit reached. Please try again later.",
    500: "The server had an error while processing your request.",
    502: "Bad gateway.",
    503: "The engine is currently overloaded, please try again later.",
    504: "Gateway timeout.",
    529: "Overloaded",
}


@dataclass(frozen=True, slots=True)
class Call:
    """What the server read from one request."""

    wire: Wire
    model: str
    stream: bool
    prompt: str
    prompt_tokens: int
    include_usage: bool


def count_tokens(text: str) -> int:
    """About one token per word: deterministic, good enough for usage figures."""
    return len(text.split())


def read_call(wire: Wire, body: bytes) -> Call | str:
    """Parse a request body; return a complaint (for a 400) when it is not a valid request
    (``_validate`` lists the rules of each API that are checked)."""
    try:
        data = json.loads(body)
    except ValueError:
        return "The request body is not valid JSON."
    if not isinstance(data, dict):
        return "The request body must be a JSON object."
    read = _read_messages(wire, data.get("messages"))
    if isinstance(read, str):
        return read
    texts, prompt = read
    complaint = check_anthropic(data) if wire == "anthropic" else check_openai(data)
    if complaint is not None:
        return complaint
    if wire == "anthropic":
        texts.append(_text_of(data.get("system")))
    model = data.get("model")
    if not isinstance(model, str) or not model:
        return "'model' is required."
    options = data.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    return Call(
        wire=wire,
        model=model,
        stream=data.get("stream") is True,
        prompt=prompt,
        prompt_tokens=sum(count_tokens(t) for t in texts),
        include_usage=include_usage,
    )


def _text_of(content: object) -> str:
    """The text of a message's content: a string, or the text of its parts and blocks
    (tool results included); anything else has none."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts: list[str] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif part.get("type") == "tool_result":
            texts.append(_text_of(part.get("content")))
    return " ".join(texts)


def _read_messages(wire: Wire, messages: object) -> tuple[list[str], str] | str:
    """Every message's text and the last user message's, or a complaint (for a 400)."""
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty list."
    texts: list[str] = []
    prompt = ""
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            return f"messages[{i}] must be an object."
        content = message.get("content")
        # OpenAI: an assistant message that only calls tools may have no content.
        empty_ok = wire == "openai" and message.get("role") == "assistant" and content is None
        if not (isinstance(content, str | list) or empty_ok):
            return f"messages[{i}].content must be a string or a list of content parts."
        texts.append(_text_of(content))
        if message.get("role") == "user":
            prompt = texts[-1]
    return texts, prompt


def split_words(text: str) -> list[str]:
    """The pieces a streamed answer is sent in: one word with its trailing space each."""
    return _WORDS.findall(text) or [""]


def dumps(data: object) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def error_body(wire: Wire, status: int, code: str | None, message: str | None) -> bytes:
    """An error body in the wire's format; ``code`` defaults to the API's own for ``status``."""
    text = message or _MESSAGES.get(status, f"HTTP {status}")
    if wire == "anthropic":
        kind = code or _ANTHROPIC_TYPES.get(status, "api_error")
        return dumps({"type": "error", "error": {"type": kind, "message": text}})
    error_type = _OPENAI_TYPES.get(status, "server_error")
    return dumps(
        {
            "error": {
                "message": text,
                "type": error_type,
                "param": None,
                "code": code or _OPENAI_CODES.get(status),
            }
        }
    )


def default_status(wire: Wire, code: str | None) -> int:
    """The status an API sends with an error code when the fault did not name one."""
    if code in ("overloaded_error", "server_overloaded"):
        return 529 if wire == "anthropic" else 503
    if code in ("rate_limit_exceeded", "rate_limit_error", "insufficient_quota"):
        return 429
    if code in ("invalid_api_key", "authentication_error"):
        return 401
    if code in ("api_error", "server_error"):
        return 500
    return 400


def context_message(wire: Wire) -> str:
    """The message each API sends when a prompt is too long for the model."""
    if wire == "anthropic":
        return "prompt is too long: 250000 tokens > 200000 maximum"
    return (
        "This model's maximum context length is 128000 tokens. However, your messages "
        "resulted in 250000 tokens. Please reduce the length of the messages."
    )


def sse(data: object, event: str | None = None) -> bytes:
    """One SSE event; ``data`` is JSON-encoded unless it is already bytes."""
    payload = data if isinstance(data, bytes) else dumps(data)
    if event is None:
        return b"data: " + payload + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + payload + b"\n\n"
