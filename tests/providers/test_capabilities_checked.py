"""The HTTP providers check a request against their capabilities before sending anything,
and a fallback moves on to a provider that can take it."""

from __future__ import annotations

import pytest
from _provider_kit import Wire, make_provider

from vex_llm import (
    AnthropicProvider,
    Capabilities,
    DocumentPart,
    FallbackProvider,
    ImagePart,
    InvalidRequest,
    LlmRequest,
    Message,
    OpenAIProvider,
    ResponseFormat,
    TextPart,
    Tool,
    collect,
)
from vex_llm.config import ProviderSettings, build_provider
from vex_llm.testing import FakeLLMServer, Fault

IMAGE = LlmRequest([Message("user", [TextPart("what is it?"), ImagePart(url="https://x/i.png")])])
NOTHING = Capabilities(vision=False, documents=False, json_schema=False, tools=False, prefill=False)
CASES = [
    ("unsupported_vision", IMAGE),
    ("unsupported_documents", LlmRequest([Message("user", [DocumentPart(data=b"%PDF-1.7")])])),
    (
        "unsupported_json_schema",
        LlmRequest.from_prompt("x", response_format=ResponseFormat.json_schema("r", {})),
    ),
    ("unsupported_tools", LlmRequest.from_prompt("x", tools=[Tool(name="f")])),
    ("unsupported_prefill", LlmRequest([Message("user", "x"), Message("assistant", "{")])),
]


def lacking(wire: Wire, server: FakeLLMServer, name: str = "small") -> OpenAIProvider:
    """A provider for ``wire`` that can take nothing but text."""
    if wire == "openai":
        return OpenAIProvider("fake-gpt", base_url=server.base_url, name=name, capabilities=NOTHING)
    return AnthropicProvider(  # type: ignore[return-value]  # both are HttpProviders
        "fake-claude", base_url=server.anthropic_base_url, name=name, capabilities=NOTHING
    )


@pytest.mark.fake_server
@pytest.mark.parametrize(("code", "request_"), CASES, ids=[c for c, _ in CASES])
async def test_unsupported_request_fails_before_sending(
    server: FakeLLMServer, wire: Wire, code: str, request_: LlmRequest
) -> None:
    """complete() and stream() raise InvalidRequest with the code and the provider's name,
    and the server never sees a request."""
    async with lacking(wire, server) as provider:
        with pytest.raises(InvalidRequest) as done:
            await provider.complete(request_)
        with pytest.raises(InvalidRequest) as streamed:
            [chunk async for chunk in provider.stream(request_)]
        assert await provider.ask("plain text still works")
    for error in (done.value, streamed.value):
        assert (error.code, error.provider, error.retryable) == (code, "small", False)
    assert len(server.journal) == 1  # the plain question only


@pytest.mark.fake_server
async def test_wire_that_cannot_express_a_format_fails_before_sending(
    server: FakeLLMServer,
) -> None:
    """A plain JSON response format to Anthropic is unsupported_response_format, unsent."""
    request = LlmRequest.from_prompt("x", response_format=ResponseFormat(type="json_object"))
    async with make_provider("anthropic", server) as provider:
        with pytest.raises(InvalidRequest) as caught:
            await provider.complete(request)
    assert (caught.value.code, caught.value.provider) == (
        "unsupported_response_format",
        "anthropic",
    )
    assert server.journal == []


def test_capabilities_default_per_kind_and_override() -> None:
    """Providers expose their kind's capabilities; presets and config use the preset's kind;
    capabilities= overrides them."""
    url = "http://127.0.0.1:9/v1"
    assert OpenAIProvider("m", base_url=url).capabilities == Capabilities.for_kind("openai")
    assert AnthropicProvider("c", base_url=url).capabilities == Capabilities()
    ollama = OpenAIProvider.preset("ollama", "llama3.2")
    assert ollama.capabilities == Capabilities.for_kind("ollama")
    assert not ollama.capabilities.vision
    vision = Capabilities(prefill=False)
    assert OpenAIProvider.preset("ollama", "llava", capabilities=vision).capabilities == vision
    built = build_provider(ProviderSettings(name="g", kind="groq", model="m"))
    assert built.capabilities == Capabilities.for_kind("groq")  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="capabilities"):
        OpenAIProvider("m", base_url=url, capabilities="all")  # type: ignore[arg-type]


@pytest.mark.fake_server
async def test_fallback_moves_on_from_a_provider_that_cannot_take_the_request(
    server: FakeLLMServer, wire: Wire
) -> None:
    """A JSON Schema request goes past the provider that cannot enforce one to one that
    can, whole and streamed; only the capable provider is called. A refused request (a
    400) still stops the chain."""
    request = CASES[2][1]
    async with (
        lacking(wire, server, name="text-only") as small,
        make_provider(wire, server) as capable,
    ):
        chain = FallbackProvider([small, capable])
        response = await chain.complete(request)
        streamed = await collect(chain.stream(request))
        server.inject(Fault.error(400))
        with pytest.raises(InvalidRequest):
            await FallbackProvider([capable, small]).complete(request)
    assert response.provider == streamed.provider == capable.name
    assert streamed.content == response.content
    assert len(server.journal) == 3
