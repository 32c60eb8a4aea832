"""AnthropicProvider: the Anthropic Messages API (``POST {base_url}/v1/messages``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Final

import httpx2

from .._types import LlmRequest, LlmResponse, Usage
from ._base import HttpProvider, to_int
from ._body import HttpLimits
from ._sse import SseEvent, StreamReader
from ._urls import check_headers, read_key

DEFAULT_BASE_URL: Final = "https://api.anthropic.com"
API_VERSION: Final = "2023-06-01"

# Anthropic's stop reasons in the Chat Completions vocabulary, so that a fallback from one
# provider to the other reports the same reasons.
_FINISH: Final = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def _finish(reason: str) -> str:
    return _FINISH.get(reason, reason)


class AnthropicProvider(HttpProvider):
    """A provider speaking the Anthropic Messages API.

    System messages become the request's ``system`` text; ``tool`` messages are sent as
    user turns (this provider carries text only). Stop reasons are reported in the Chat
    Completions vocabulary: ``end_turn`` -> ``"stop"``, ``max_tokens`` -> ``"length"``.

    Example::

        async with AnthropicProvider("claude-3-5-haiku-latest") as llm:  # ANTHROPIC_API_KEY
            print(await llm.ask("Say hi"))

    Args:
        model: The model used when a request names none.
        base_url: The API root without ``/v1`` (we append ``/v1/messages``, as the
            official SDK does). Default: ``$ANTHROPIC_BASE_URL``, else Anthropic's.
        api_key: The key (sent as ``x-api-key``). Default: the variable named by
            ``api_key_env``.
        api_key_env: The environment variable holding the key (default
            ``"ANTHROPIC_API_KEY"``; ``None`` reads none).
        name: The provider's name (default ``"anthropic"``).
        max_tokens: Tokens to allow when a request sets no ``max_tokens`` (the API
            requires one; default 1024).
        version: The ``anthropic-version`` header (default ``"2023-06-01"``).
        timeout: Seconds for a whole ``complete()`` call (default 60).
        connect_timeout: Seconds to open a connection or get one from the pool (default 5).
        headers_timeout: Seconds a stream waits for the response headers (default 30).
        first_token_timeout: Seconds from a stream's start to its first text (default 60).
        idle_timeout: Seconds of silence allowed between events once text flows
            (default 30; Anthropic's ``ping`` events count as activity).
        extra_headers: Headers sent with every request (e.g. ``anthropic-beta``).
            Values are stripped; credential headers are scrubbed from messages.
        limits: Body, stream and connection-pool limits (default ``HttpLimits()``).
        client: An ``httpx2.AsyncClient`` to use (and leave open); default: one of our own,
            sized by ``limits``.

    Raises:
        ValueError: On an empty model or name, a bad URL (shown with its credentials
            masked), ``max_tokens`` < 1, a non-positive duration, or a key or header
            value that cannot be sent in an HTTP header (named by its source, never
            shown). Surrounding whitespace of a key is stripped.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str | None = "ANTHROPIC_API_KEY",
        name: str = "anthropic",
        max_tokens: int = 1024,
        version: str = API_VERSION,
        timeout: float = 60.0,
        connect_timeout: float = 5.0,
        headers_timeout: float = 30.0,
        first_token_timeout: float = 60.0,
        idle_timeout: float = 30.0,
        extra_headers: Mapping[str, str] | None = None,
        limits: HttpLimits | None = None,
        client: httpx2.AsyncClient | None = None,
    ) -> None:
        owner = type(self).__name__
        tokens: object = max_tokens  # callers without a type checker pass floats
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
            msg = f"{owner} max_tokens must be an integer >= 1, got {max_tokens!r}"
            raise ValueError(msg)
        url_source = "base_url"
        if base_url is None:
            base_url = os.environ.get("ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL
            if os.environ.get("ANTHROPIC_BASE_URL"):
                url_source = "base_url (from ANTHROPIC_BASE_URL)"
        key = read_key(api_key, api_key_env, owner)
        headers = {
            "content-type": "application/json",
            "anthropic-version": version,
            **check_headers(extra_headers or {}, owner=owner),
        }
        if key:
            headers["x-api-key"] = key
        self._max_tokens = max_tokens
        super().__init__(
            model,
            base_url=base_url,
            path="/v1/messages",
            url_source=url_source,
            headers=headers,
            key=key,
            key_env=api_key_env,
            name=name,
            timeout=timeout,
            connect_timeout=connect_timeout,
            headers_timeout=headers_timeout,
            first_token_timeout=first_token_timeout,
            idle_timeout=idle_timeout,
            limits=limits,
            client=client,
        )

    def _payload(self, request: LlmRequest, model: str, *, stream: bool) -> dict[str, object]:
        system = [m.content for m in request.messages if m.role == "system"]
        payload: dict[str, object] = {
            "model": model,
            "max_tokens": request.max_tokens or self._max_tokens,
            "messages": [
                {"role": "assistant" if m.role == "assistant" else "user", "content": m.content}
                for m in request.messages
                if m.role != "system"
            ],
        }
        if system:
            payload["system"] = "\n\n".join(system)
        if request.temperature is not None:
            payload["temperature"] = request.temperature
        if request.top_p is not None:
            payload["top_p"] = request.top_p
        if request.stop:
            payload["stop_sequences"] = list(request.stop)
        if stream:
            payload["stream"] = True
        return payload

    def _answer(self, data: object, model: str, latency: float) -> LlmResponse:
        if not isinstance(data, dict):
            raise self._boundary.invalid("an answer that is not a JSON object", model=model)
        if data.get("type") == "error" or data.get("error"):
            raise self._boundary.event_error(data, model=model, partial="")
        blocks = data.get("content")
        if not isinstance(blocks, list):
            raise self._boundary.invalid("an answer without a content list", model=model)
        texts: list[str] = []
        for block in blocks:
            if isinstance(block, dict) and block.get("type") == "text":
                text = block.get("text")
                if not isinstance(text, str):
                    raise self._boundary.invalid("a text block without text", model=model)
                texts.append(text)
        reason = data.get("stop_reason")
        served = data.get("model")
        return LlmResponse(
            "".join(texts),
            model=served if isinstance(served, str) and served else model,
            provider=self._name,
            usage=_usage(data.get("usage"), None),
            finish_reason=_finish(reason) if isinstance(reason, str) else None,
            latency_s=latency,
        )

    def _reader(self, model: str) -> StreamReader:
        return _MessageStream(model, self._boundary)


def _usage(data: object, before: Usage | None) -> Usage | None:
    """Usage from a ``usage`` object; counts it leaves out keep their earlier value.

    Prompt tokens include cached ones (written or read): they were all part of the input.
    """
    if not isinstance(data, dict):
        return before
    prompt = before.prompt_tokens if before else 0
    if "input_tokens" in data:
        prompt = (
            to_int(data.get("input_tokens"))
            + to_int(data.get("cache_creation_input_tokens"))
            + to_int(data.get("cache_read_input_tokens"))
        )
    completion = before.completion_tokens if before else 0
    if "output_tokens" in data:
        completion = to_int(data.get("output_tokens"))
    return Usage.of(prompt, completion)


class _MessageStream(StreamReader):
    """Messages API events: ``message_start``, ``content_block_delta``, ``message_delta``,
    ``message_stop``, ``ping`` and in-stream ``error``."""

    __slots__ = ()

    def feed(self, event: SseEvent) -> str:
        data = self._object(event.data)
        kind = data.get("type", event.event)
        read = _EVENTS.get(kind) if isinstance(kind, str) else None
        if read is None:
            return ""  # ping and event types added later are not ours to read
        text = read(self, data)
        if text:
            self.parts.append(text)
        return text

    def _block_delta(self, data: dict[str, object]) -> str:
        delta = data.get("delta")
        if not isinstance(delta, dict):
            raise self._invalid("a content_block_delta without a delta")
        if delta.get("type") != "text_delta":
            return ""  # thinking, signature and tool-input deltas carry no answer text
        value = delta.get("text")
        if not isinstance(value, str):
            raise self._invalid("a text_delta without text")
        return value

    def _block_start(self, data: dict[str, object]) -> str:
        block = data.get("content_block")
        if isinstance(block, dict) and block.get("type") == "text":
            value = block.get("text")
            return value if isinstance(value, str) else ""
        return ""

    def _message_start(self, data: dict[str, object]) -> str:
        message = data.get("message")
        if isinstance(message, dict):
            served = message.get("model")
            if isinstance(served, str) and served:
                self.model = served
            self.usage = _usage(message.get("usage"), self.usage)
        return ""

    def _message_delta(self, data: dict[str, object]) -> str:
        delta = data.get("delta")
        reason = delta.get("stop_reason") if isinstance(delta, dict) else None
        if isinstance(reason, str) and reason:
            self.finish_reason = _finish(reason)
        self.usage = _usage(data.get("usage"), self.usage)
        return ""

    def _message_stop(self, data: dict[str, object]) -> str:
        self.done = True
        if self.finish_reason is None:
            self.finish_reason = "stop"
        return ""

    def _error(self, data: dict[str, object]) -> str:
        raise self._boundary.event_error(data, model=self.model, partial=self.partial)


_EVENTS: Final[dict[str, Callable[[_MessageStream, dict[str, object]], str]]] = {
    "content_block_delta": _MessageStream._block_delta,
    "content_block_start": _MessageStream._block_start,
    "message_start": _MessageStream._message_start,
    "message_delta": _MessageStream._message_delta,
    "message_stop": _MessageStream._message_stop,
    "error": _MessageStream._error,
}
"""What each Messages API event type means to a stream (by ``type``, else the SSE event name)."""
