"""AnthropicProvider: the Anthropic Messages API (``POST {base_url}/v1/messages``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Unpack

from .._capabilities import Capabilities
from .._types import LlmRequest, LlmResponse, StreamChunk
from ..wire import anthropic as wire
from ._base import HttpOptions, HttpProvider
from ._events import EventReader
from ._sse import SseEvent
from ._urls import base_url_from_env, check_headers, read_key

DEFAULT_BASE_URL: Final = "https://api.anthropic.com"
API_VERSION: Final = "2023-06-01"


class AnthropicProvider(HttpProvider):
    """A provider speaking the Anthropic Messages API.

    Requests and answers are translated by ``vex_llm.wire.anthropic``: system messages
    become ``system`` (plain texts joined by a blank line); tools, ``tool_choice``
    (``"required"`` is ``"any"``), assistant tool calls (``tool_use`` blocks), tool results
    (``tool_result`` blocks, consecutive ones merged into one user turn), image and
    document parts, JSON Schema response formats, reasoning (a thinking budget) and
    ``extra["anthropic"]`` reach the wire. Stop reasons are reported in the common
    vocabulary (``end_turn`` -> ``"stop"``, ``max_tokens`` -> ``"length"``, ``tool_use``
    -> ``"tool_calls"``; the provider's own value is ``provider_finish_reason``).

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
        capabilities: What the model can take (default
            ``Capabilities.for_kind("anthropic")``: everything). A request needing more
            fails with ``InvalidRequest`` (``.code`` ``"unsupported_vision"``, ...) before
            it is sent.
        clock: The clock the time limits run on (default: the event loop's time); a
            ``ManualClock`` lets a test move a stream past its limits without waiting.

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
        extra_headers: Mapping[str, str] | None = None,
        capabilities: Capabilities | None = None,
        **options: Unpack[HttpOptions],
    ) -> None:
        owner = type(self).__name__
        tokens: object = max_tokens  # callers without a type checker pass floats
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
            msg = f"{owner} max_tokens must be an integer >= 1, got {max_tokens!r}"
            raise ValueError(msg)
        base_url, url_source = base_url_from_env(base_url, "ANTHROPIC_BASE_URL", DEFAULT_BASE_URL)
        key = read_key(api_key, api_key_env, owner)
        headers = {"anthropic-version": version, **check_headers(extra_headers or {}, owner=owner)}
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
            capabilities=(
                Capabilities.for_kind("anthropic") if capabilities is None else capabilities
            ),
            **options,
        )

    def build_body(self, request: LlmRequest, model: str, *, stream: bool) -> dict[str, object]:
        return wire.request_to_body(
            request, model=model, stream=stream, max_tokens=self._max_tokens
        )

    def read_answer(self, data: Mapping[str, object]) -> LlmResponse:
        return wire.response_from_body(data)

    def stream_reader(self, model: str) -> EventReader:
        return _MessageStream(model, self)


class _MessageStream(EventReader):
    """Messages API events: ``message_start``, ``content_block_start`` / ``_delta`` /
    ``_stop``, ``message_delta``, ``message_stop``, ``ping`` and in-stream ``error``."""

    __slots__ = ("_decoder",)

    def __init__(self, model: str, provider: HttpProvider) -> None:
        super().__init__(model, provider)
        self._decoder = wire.StreamDecoder()

    def feed(self, event: SseEvent) -> str | StreamChunk:
        data = self._object(event.data)
        kind = data.get("type")
        # The common event, a text delta, is read here without the wire's field-by-field
        # checks; every other goes through the wire module's decoder.
        if kind == "content_block_delta":
            delta = data.get("delta")
            if type(delta) is dict and delta.get("type") == "text_delta":
                text = delta.get("text")
                if type(text) is str:
                    if text:
                        self.parts.append(text)
                    return text
        if kind is None:
            kind = data["type"] = event.event  # a server that names the event only in SSE
        if kind == "message_stop":
            self.terminate()
            if self.usage is None:  # no message_delta came: what message_start said
                self.usage = self._decoder.usage
            return ""
        if kind == "error":
            raise self.event_error(data)
        chunk = self.convert(self._decoder.feed, data)
        return "" if chunk is None else self.note(chunk)
