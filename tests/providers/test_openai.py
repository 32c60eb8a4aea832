"""OpenAIProvider: settings, presets, keys from the environment, and the request it sends."""

from __future__ import annotations

import json

import httpx2
import pytest
from _provider_kit import OPENAI_ANSWER, capturing_client

from vex_llm import InvalidResponse, LlmRequest, Message, OpenAIProvider, Usage
from vex_llm.providers import PRESETS


async def sent(provider: OpenAIProvider, seen: list[httpx2.Request]) -> dict[str, object]:
    """The JSON body of the last request the provider sent."""
    body: dict[str, object] = json.loads(seen[-1].content)
    return body


async def test_payload_and_answer() -> None:
    """Messages and sampling settings go out as Chat Completions JSON; the answer comes back."""
    seen: list[httpx2.Request] = []
    async with capturing_client(OPENAI_ANSWER, seen=seen) as client:
        provider = OpenAIProvider(
            "gpt-x", base_url="http://127.0.0.1:9/v1", api_key="k", client=client
        )
        request = LlmRequest(
            [Message("system", "be brief"), Message("user", "hi")],
            max_tokens=5,
            temperature=0.0,
            top_p=0.5,
            stop=["\n"],
        )
        response = await provider.complete(request)
    assert response.content == "hi"
    assert response.model == "gpt-x-2025"
    assert response.usage == Usage(3, 1, 4)
    assert str(seen[-1].url) == "http://127.0.0.1:9/v1/chat/completions"
    assert seen[-1].headers["authorization"] == "Bearer k"
    assert await sent(provider, seen) == {
        "model": "gpt-x",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "max_tokens": 5,
        "temperature": 0.0,
        "top_p": 0.5,
        "stop": ["\n"],
    }


async def test_stream_payload_asks_for_usage() -> None:
    """A stream request sets stream and stream_options.include_usage and accepts SSE."""
    seen: list[httpx2.Request] = []
    async with capturing_client(b"", seen=seen) as client:
        provider = OpenAIProvider("gpt-x", base_url="http://127.0.0.1:9/v1", client=client)
        with pytest.raises(InvalidResponse):  # the JSON body is not a stream
            [c async for c in provider.stream(LlmRequest.from_prompt("x"))]
    body = await sent(provider, seen)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert seen[-1].headers["accept"] == "text/event-stream"


async def test_passed_client_stays_open() -> None:
    """aclose() leaves a client the caller passed in open; it closes its own."""
    seen: list[httpx2.Request] = []
    async with capturing_client(OPENAI_ANSWER, seen=seen) as client:
        provider = OpenAIProvider("m", base_url="http://127.0.0.1:9/v1", client=client)
        await provider.aclose()
        assert not client.is_closed
        assert await provider.ask("x") == "hi"
    own = OpenAIProvider("m", base_url="http://127.0.0.1:9/v1")
    await own.aclose()
    await own.aclose()


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'{"choices": []}',
        b'{"choices": [{"message": {}}]}',
        b'{"choices": [{"message": {"content": 5}}]}',
    ],
)
async def test_schema_violations_are_invalid_response(body: bytes) -> None:
    """A 200 whose JSON breaks the Chat Completions shape is InvalidResponse."""
    seen: list[httpx2.Request] = []
    async with capturing_client(body, seen=seen) as client:
        provider = OpenAIProvider("m", base_url="http://127.0.0.1:9/v1", client=client)
        with pytest.raises(InvalidResponse):
            await provider.complete(LlmRequest.from_prompt("x"))


async def test_null_content_is_empty_text() -> None:
    """A tool call or refusal (content null) is an empty answer, not a failure."""
    body = b'{"choices": [{"message": {"content": null}, "finish_reason": "tool_calls"}]}'
    seen: list[httpx2.Request] = []
    async with capturing_client(body, seen=seen) as client:
        provider = OpenAIProvider("m", base_url="http://127.0.0.1:9/v1", client=client)
        response = await provider.complete(LlmRequest.from_prompt("x"))
    assert (response.content, response.finish_reason, response.model) == ("", "tool_calls", "m")


async def test_defaults_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """base_url and the key come from OPENAI_BASE_URL and OPENAI_API_KEY when not given."""
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1234/v1/")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    seen: list[httpx2.Request] = []
    async with capturing_client(OPENAI_ANSWER, seen=seen) as client:
        provider = OpenAIProvider("m", client=client)
        await provider.ask("x")
    assert provider.url == "http://127.0.0.1:1234/v1/chat/completions"
    assert provider.name == "openai"
    assert seen[-1].headers["authorization"] == "Bearer sk-env"


async def test_no_key_sends_no_authorization() -> None:
    """Without a key (local servers) no Authorization header is sent."""
    seen: list[httpx2.Request] = []
    async with capturing_client(OPENAI_ANSWER, seen=seen) as client:
        await OpenAIProvider("m", base_url="http://127.0.0.1:9/v1", client=client).ask("x")
    assert "authorization" not in seen[-1].headers


def test_query_in_base_url_is_kept() -> None:
    """An Azure-style base URL keeps its query after the path is appended."""
    provider = OpenAIProvider(
        "m", base_url="https://x.example/openai/deployments/d?api-version=2024-06-01"
    )
    assert (
        provider.url
        == "https://x.example/openai/deployments/d/chat/completions?api-version=2024-06-01"
    )


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("timeout", 0.0),
        ("connect_timeout", -1.0),
        ("headers_timeout", float("nan")),
        ("first_token_timeout", float("inf")),
        ("idle_timeout", 0),
    ],
)
def test_bad_durations_fail_at_construction(setting: str, value: float) -> None:
    """A non-positive or non-finite limit raises ValueError naming the field."""
    with pytest.raises(ValueError, match=setting):
        OpenAIProvider("m", base_url="http://127.0.0.1:9/v1", **{setting: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("base_url", ["not a url", "ftp://127.0.0.1/v1", "127.0.0.1:8000"])
def test_bad_base_url_fails_at_construction(base_url: str) -> None:
    """A base_url that is not http(s) raises ValueError naming base_url."""
    with pytest.raises(ValueError, match="base_url"):
        OpenAIProvider("m", base_url=base_url)


def test_empty_model_fails() -> None:
    """An empty model name raises ValueError."""
    with pytest.raises(ValueError, match="model"):
        OpenAIProvider("", base_url="http://127.0.0.1:9/v1")


@pytest.mark.parametrize("name", sorted(PRESETS))
async def test_presets(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each preset sets the base URL, the name and the key variable it reads."""
    preset = PRESETS[name]
    if preset.api_key_env:
        monkeypatch.setenv(preset.api_key_env, "k-" + name)
    seen: list[httpx2.Request] = []
    async with capturing_client(OPENAI_ANSWER, seen=seen) as client:
        provider = OpenAIProvider.preset(name, "some-model", client=client)  # type: ignore[arg-type]
        response = await provider.complete(LlmRequest.from_prompt("x"))
    assert provider.name == response.provider == name
    assert str(seen[-1].url) == preset.base_url + "/chat/completions"
    if preset.api_key_env:
        assert seen[-1].headers["authorization"] == f"Bearer k-{name}"


def test_preset_options_override() -> None:
    """Options passed to preset() win over the preset's own."""
    provider = OpenAIProvider.preset("vllm", "m", base_url="http://127.0.0.1:7/v1", name="gpu-box")
    assert (provider.name, provider.url) == ("gpu-box", "http://127.0.0.1:7/v1/chat/completions")


def test_unknown_preset() -> None:
    """An unknown preset name raises ValueError listing the known ones."""
    with pytest.raises(ValueError, match="deepseek"):
        OpenAIProvider.preset("nope", "m")  # type: ignore[arg-type]
