"""The fake server's own encoders for both wire formats.

Written from the public API descriptions, independently of ``vex_llm.providers``: a
provider bug must not be mirrored by the server it is tested against.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Final, Literal

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
    """Parse a request body; return a complaint (for a 400) when it is not a valid request."""
    try:
        data = json.loads(body)
    except ValueError:
        return "The request body is not valid JSON."
    if not isinstance(data, dict):
        return "The request body must be a JSON object."
    read = _read_messages(data.get("messages"))
    if isinstance(read, str):
        return read
    texts, prompt = read
    system = data.get("system")
    if wire == "anthropic":
        if not isinstance(data.get("max_tokens"), int):
            return "max_tokens: Field required"
        if isinstance(system, str):
            texts.append(system)
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


def _read_messages(messages: object) -> tuple[list[str], str] | str:
    """Every message's text and the last user message, or a complaint (for a 400)."""
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty list."
    texts: list[str] = []
    prompt = ""
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            return "Each message needs a string 'content'."
        texts.append(message["content"])
        if message.get("role") == "user":
            prompt = message["content"]
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


def complete_body(call: Call, text: str, serial: int) -> bytes:
    """A finished, non-streamed answer."""
    completion = count_tokens(text)
    if call.wire == "anthropic":
        return dumps(
            {
                "id": f"msg_{serial:08d}",
                "type": "message",
                "role": "assistant",
                "model": call.model,
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": call.prompt_tokens, "output_tokens": completion},
            }
        )
    return dumps(
        {
            "id": f"chatcmpl-{serial:08d}",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": call.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": call.prompt_tokens,
                "completion_tokens": completion,
                "total_tokens": call.prompt_tokens + completion,
            },
        }
    )


class StreamEncoder:
    """The events of one streamed answer: ``head`` once, ``piece`` per text chunk, ``tail``."""

    __slots__ = ("_call", "_id")

    def __init__(self, call: Call, serial: int) -> None:
        self._call = call
        self._id = f"msg_{serial:08d}" if call.wire == "anthropic" else f"chatcmpl-{serial:08d}"

    def _chunk(self, delta: dict[str, object], finish: str | None) -> bytes:
        return sse(
            {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": 1_700_000_000,
                "model": self._call.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
        )

    def head(self) -> bytes:
        """What comes before the first text."""
        if self._call.wire == "openai":
            return self._chunk({"role": "assistant", "content": ""}, None)
        message: dict[str, object] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._call.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self._call.prompt_tokens, "output_tokens": 1},
        }
        return (
            sse({"type": "message_start", "message": message}, "message_start")
            + sse(
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
                "content_block_start",
            )
            + sse({"type": "ping"}, "ping")
        )

    def piece(self, text: str) -> bytes:
        """One text chunk."""
        if self._call.wire == "openai":
            return self._chunk({"content": text}, None)
        delta = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": text},
        }
        return sse(delta, "content_block_delta")

    def tail(self, completion_tokens: int) -> bytes:
        """The finish reason, the usage and the terminator."""
        call = self._call
        if call.wire == "openai":
            out = self._chunk({}, "stop")
            if call.include_usage:
                usage = {
                    "prompt_tokens": call.prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": call.prompt_tokens + completion_tokens,
                }
                out += sse(
                    {
                        "id": self._id,
                        "object": "chat.completion.chunk",
                        "created": 1_700_000_000,
                        "model": call.model,
                        "choices": [],
                        "usage": usage,
                    }
                )
            return out + b"data: [DONE]\n\n"
        return (
            sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
            + sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": completion_tokens},
                },
                "message_delta",
            )
            + sse({"type": "message_stop"}, "message_stop")
        )

    def error(self, code: str | None, message: str | None) -> bytes:
        """An error event inside a stream (Anthropic: ``event: error``; OpenAI: ``{"error"}``)."""
        status = default_status(self._call.wire, code)
        body = error_body(self._call.wire, status, code, message)
        if self._call.wire == "anthropic":
            return b"event: error\ndata: " + body + b"\n\n"
        return b"data: " + body + b"\n\n"

    def malformed(self) -> bytes:
        """A ``data:`` event that is not JSON."""
        return b'data: {"choices": [{"delta": {"content": "unterminated\n\n'

    @staticmethod
    def noise() -> bytes:
        """Things a client must skip: comments, an unknown event, unknown fields, CRLF lines."""
        return (
            b": keep-alive\n\n"
            b": OPENROUTER PROCESSING\r\n\r\n"
            b'event: vendor_heartbeat\ndata: {"type": "vendor_heartbeat"}\n\n'
            b"id: 42\nretry: 1000\n\n"
        )
