"""OpenAIProvider: the Chat Completions API, as OpenAI and every compatible server speak it.

Compatible servers (DeepSeek, Mistral, Groq, OpenRouter, Together, Ollama, vLLM,
llama.cpp) differ only in base URL and key: see ``PRESETS`` and ``OpenAIProvider.preset``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal, Self, Unpack

from .._capabilities import Capabilities
from .._types import LlmRequest, LlmResponse, StreamChunk
from ..wire import openai as wire
from ._base import HttpOptions, HttpProvider
from ._events import EventReader
from ._kinds import KINDS
from ._sse import SseEvent
from ._urls import base_url_from_env, check_headers, read_key

DEFAULT_BASE_URL: Final = "https://api.openai.com/v1"

PresetName = Literal[
    "deepseek", "mistral", "groq", "openrouter", "together", "ollama", "vllm", "llamacpp"
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Preset:
    """Where an OpenAI-compatible service lives and where its key comes from.

    Args:
        name: The provider name the preset gives (``LlmResponse.provider``).
        base_url: The ``/v1`` root of its Chat Completions API.
        api_key_env: The environment variable holding its key (``None``: local servers
            that need none unless started with one).
    """

    name: str
    base_url: str
    api_key_env: str | None


PRESETS: Final[Mapping[str, Preset]] = MappingProxyType(
    {
        kind.name: Preset(name=kind.name, base_url=kind.base_url, api_key_env=kind.key_env)
        for kind in KINDS.values()
        if kind.wire == "openai" and kind.base_url is not None
    }
)
"""OpenAI-compatible services by name: base URL and key variable (from ``KINDS``)."""


class OpenAIOptions(HttpOptions, total=False):
    """The keyword arguments of ``OpenAIProvider`` that ``preset()`` passes through."""

    base_url: str | None
    api_key: str | None
    api_key_env: str | None
    name: str
    stream_usage: bool
    extra_headers: Mapping[str, str] | None
    capabilities: Capabilities | None


class OpenAIProvider(HttpProvider):
    """A provider speaking the OpenAI Chat Completions API (``POST {base_url}/chat/completions``).

    Requests and answers are translated by ``vex_llm.wire.openai``: tools and tool calls,
    image and document parts, response formats, ``seed``, ``user``, reasoning effort and
    ``extra["openai"]`` reach the wire; answers carry tool calls (streamed as
    ``ToolCallDelta`` pieces), refusals and cache and reasoning token counts.

    Example::

        async with OpenAIProvider("gpt-4o-mini") as llm:       # key from OPENAI_API_KEY
            print(await llm.ask("Say hi"))
        local = OpenAIProvider("llama3", base_url="http://127.0.0.1:8000/v1")

    Args:
        model: The model used when a request names none.
        base_url: The API's ``/v1`` root, as the official SDK takes it (we append
            ``/chat/completions``). Default: ``$OPENAI_BASE_URL``, else OpenAI's.
        api_key: The key. Default: the variable named by ``api_key_env``. With no key
            at all the provider still works against servers that need none (local
            vLLM, Ollama); a 401 then says which variable to set.
        api_key_env: The environment variable holding the key (default
            ``"OPENAI_API_KEY"``; ``None`` reads none).
        name: The provider's name in errors, stats and responses (default ``"openai"``).
        timeout: Seconds for a whole ``complete()`` call (default 60: a long answer
            fits; stream longer ones).
        connect_timeout: Seconds to open a connection or get one from the pool
            (default 5: a healthy endpoint connects in milliseconds).
        headers_timeout: Seconds a stream waits for the response headers (default 30).
        first_token_timeout: Seconds from a stream's start to its first text (default
            60: long prompts and reasoning models take a while).
        idle_timeout: Seconds of silence allowed between a stream's events once text
            flows (default 30).
        stream_usage: Ask for token usage on streams (``stream_options.include_usage``,
            default true; turn off for old servers that reject the option).
        extra_headers: Headers sent with every request (e.g. OpenRouter's ``X-Title``).
            Values are stripped; credential headers (``api-key``, ``authorization``) are
            scrubbed from messages like the key.
        limits: Body, stream and connection-pool limits (default ``HttpLimits()``: 16 MiB
            answers, 64 KiB of an error body, 1 MiB stream lines, 4 MiB events, 1000
            connections, 10 s to get one from the pool).
        client: An ``httpx2.AsyncClient`` to use (and leave open); default: one of our own,
            sized by ``limits``.
        capabilities: What the model behind the endpoint can take (default
            ``Capabilities.for_kind("openai")``: everything but prefill;
            ``preset()`` gives the preset's kind). A request needing more fails with
            ``InvalidRequest`` (``.code`` ``"unsupported_vision"``, ...) before it is sent.
        clock: The clock the time limits run on (default: the event loop's time); a
            ``ManualClock`` lets a test move a stream past its limits without waiting.

    Raises:
        ValueError: On an empty model or name, a bad URL (shown with its credentials
            masked), a non-positive duration, or a key or header value that cannot be
            sent in an HTTP header (named by its source, never shown). Surrounding
            whitespace of a key (a newline read from a file) is stripped.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        name: str = "openai",
        stream_usage: bool = True,
        extra_headers: Mapping[str, str] | None = None,
        capabilities: Capabilities | None = None,
        **options: Unpack[HttpOptions],
    ) -> None:
        owner = type(self).__name__
        base_url, url_source = base_url_from_env(base_url, "OPENAI_BASE_URL", DEFAULT_BASE_URL)
        key = read_key(api_key, api_key_env, owner)
        headers = check_headers(extra_headers or {}, owner=owner)
        if key:
            headers["authorization"] = f"Bearer {key}"
        self._stream_usage = stream_usage
        super().__init__(
            model,
            base_url=base_url,
            path="/chat/completions",
            url_source=url_source,
            headers=headers,
            key=key,
            key_env=api_key_env,
            name=name,
            capabilities=(
                Capabilities.for_kind("openai") if capabilities is None else capabilities
            ),
            **options,
        )

    @classmethod
    def preset(cls, preset: PresetName, model: str, **options: Unpack[OpenAIOptions]) -> Self:
        """Build a provider for an OpenAI-compatible service by name.

        Example: ``OpenAIProvider.preset("deepseek", "deepseek-chat")`` reads
        ``DEEPSEEK_API_KEY`` and is named ``"deepseek"``.

        Args:
            preset: One of ``PRESETS``: ``"deepseek"``, ``"mistral"``, ``"groq"``,
                ``"openrouter"``, ``"together"``, ``"ollama"``, ``"vllm"``, ``"llamacpp"``.
            model: The model.
            **options: Any ``OpenAIProvider`` keyword argument; ``base_url``,
                ``api_key_env``, ``name`` and ``capabilities`` override the preset's
                (``Capabilities.for_kind(preset)``: tools only, as the model a
                compatible server runs is unknown).

        Returns:
            The provider.

        Raises:
            ValueError: On an unknown preset name (or a bad option).
        """
        known = PRESETS.get(preset)
        if known is None:
            msg = f"unknown OpenAI-compatible preset {preset!r}; choose one of {sorted(PRESETS)}"
            raise ValueError(msg)
        options.setdefault("base_url", known.base_url)
        options.setdefault("api_key_env", known.api_key_env)
        options.setdefault("name", known.name)
        if options.get("capabilities") is None:
            options["capabilities"] = Capabilities.for_kind(preset)
        return cls(model, **options)

    def build_body(self, request: LlmRequest, model: str, *, stream: bool) -> dict[str, object]:
        return wire.request_to_body(
            request, model=model, stream=stream, stream_usage=self._stream_usage
        )

    def read_answer(self, data: Mapping[str, object]) -> LlmResponse:
        return wire.response_from_body(data)

    def stream_reader(self, model: str) -> EventReader:
        return _ChatStream(model, self)


class _ChatStream(EventReader):
    """Chat Completions chunks: ``data: {"choices": [{"delta": ...}]}`` ... ``data: [DONE]``."""

    __slots__ = ()

    def feed(self, event: SseEvent) -> str | StreamChunk:
        data = event.data
        if data == "[DONE]":
            self.terminate()  # the explicit terminator: the server says the answer is whole
            return ""
        chunk = self._object(data)
        served = chunk.get("model")
        if served and served != self.model and isinstance(served, str):
            self.model = served
        # The common event, one choice adding text and nothing else, is read here without
        # the wire's field-by-field checks; every other goes through the wire module.
        choices = chunk.get("choices")
        if type(choices) is list and len(choices) == 1 and chunk.get("usage") is None:
            choice = choices[0]
            delta = choice.get("delta") if type(choice) is dict else None
            if type(delta) is dict and choice.get("finish_reason") is None:
                text = delta.get("content")
                if (
                    type(text) is str
                    and delta.get("tool_calls") is None
                    and delta.get("refusal") is None
                ):
                    if text:
                        self.parts.append(text)
                    return text
        if chunk.get("error"):
            raise self.event_error(chunk)
        return self.note(self.convert(wire.chunk_from_event, chunk))
