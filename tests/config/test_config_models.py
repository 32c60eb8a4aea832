"""[[model]] tables and provider capabilities: parsed strictly, built one stack per model."""

from __future__ import annotations

import uuid

import pytest

from _redis_server import RedisServer
from vex_llm import (
    Capabilities,
    HedgeConfig,
    LlmRequest,
    MockProvider,
    RedisStore,
    ResilientProvider,
)
from vex_llm.config import (
    ConfigError,
    ModelSettings,
    ProviderSettings,
    Settings,
    build,
    build_models,
    build_provider,
    parse,
)
from vex_llm.policies import DeadlineProvider, HedgeProvider
from vex_llm.testing import FakeLLMServer

_TWO = "[[provider]]\nname = 'a'\nkind = 'mock'\n[[provider]]\nname = 'b'\nkind = 'mock'\n"

_IMAGE = {
    "model": "m",
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ],
        }
    ],
}


def test_a_model_table_is_read_with_every_key() -> None:
    """name, providers in order, deadline, stream_break and hedge reach ModelSettings."""
    settings = parse(
        _TWO
        + "[[model]]\nname = 'chat'\nproviders = ['b', 'a']\ndeadline = 12.5\n"
        + "stream_break = 'continue'\nhedge = { delay = 0.5, quantile = 0.9 }\n"
        + "[[model]]\nname = 'fast'\nproviders = ['a']\n",
        source="vex.toml",
    )
    assert settings.models == (
        ModelSettings(
            name="chat",
            providers=("b", "a"),
            deadline=12.5,
            stream_break="continue",
            hedge=HedgeConfig(delay=0.5, quantile=0.9),
        ),
        ModelSettings(name="fast", providers=("a",)),
    )


def test_provider_capabilities_override_the_kinds_defaults() -> None:
    """A capabilities table sets some fields; the others keep Capabilities.for_kind(kind)."""
    settings = parse(
        "[[provider]]\nkind = 'ollama'\nmodel = 'llama3'\n"
        "capabilities = { prefill = true, vision = true }\n"
        "[[provider]]\nname = 'o'\nkind = 'openai'\nmodel = 'm'\n"
        "[provider.capabilities]\nvision = false\n"
    )
    ollama, openai = settings.providers
    assert ollama.capabilities == Capabilities(
        vision=True, documents=False, json_schema=False, tools=True, prefill=True
    )
    assert openai.capabilities == Capabilities(vision=False, prefill=False)
    assert build_provider(openai).capabilities == Capabilities(vision=False, prefill=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[model]]\nproviders = ['a']", "model[1].name: required"),
        ("[[model]]\nname = 'm'", "model[1].providers: required"),
        ("[[model]]\nname = 'm'\nproviders = []", "model[1].providers: must be a non-empty array"),
        ("[[model]]\nname = 'm'\nproviders = 'a'", "model[1].providers: must be a non-empty array"),
        ("[[model]]\nname = 'm'\nproviders = ['a', 1]", "providers: must be a non-empty array of"),
        ("[[model]]\nname = 'm'\nproviders = ['a', 'a']", 'model[1].providers: "a" is listed'),
        (
            "[[model]]\nname = 'm'\nproviders = ['a', 'zz']",
            "model[1].providers: no [[provider]] named 'zz'; known: 'a', 'b'",
        ),
        (
            "[[model]]\nname = 'm'\nproviders = ['a']\n[[model]]\nname = 'm'\nproviders = ['b']",
            "model[2].name: 'm' is used twice",
        ),
        ("[[model]]\nname = 'm'\nproviders = ['a']\ndeadline = 0", "model[1].deadline: must"),
        (
            "[[model]]\nname = 'm'\nproviders = ['a']\nstream_break = 'retry'",
            'model[1].stream_break: must be one of "raise", "restart", "continue", got "retry"',
        ),
        ("[[model]]\nname = 'm'\nproviders = ['a']\nhedge = 1", "model[1].hedge: must be a table"),
        (
            "[[model]]\nname = 'm'\nproviders = ['a']\nhedge = { delay = -1 }",
            "model[1].hedge.delay: must",
        ),
        (
            "[[model]]\nname = 'm'\nproviders = ['a']\nhedge = { quantile = 1 }",
            "model[1].hedge.quantile: must be in (0, 1), got 1",
        ),
        (
            "[[model]]\nname = 'm'\nproviders = ['a']\nhedge = { jitter = 1 }",
            "model[1].hedge.jitter: unknown key; expected one of delay, min_samples",
        ),
        (
            "[[model]]\nname = 'm'\nproviders = ['a']\nretries = 2",
            "model[1].retries: unknown key; expected one of deadline, hedge, name, providers,",
        ),
        ("model = 3", "model: must be an array of [[model]] tables, got 3"),
        ("model = [3]", "model[1]: must be a table, got 3"),
    ],
)
def test_each_bad_model_table_is_one_line_naming_it(text: str, expected: str) -> None:
    """Unknown keys and bad values raise a ConfigError naming model[index].field."""
    top = text.startswith("model =")  # a top-level key goes before the tables
    document = f"{text}\n{_TWO}" if top else _TWO + text
    with pytest.raises(ConfigError) as info:
        parse(document, source="vex.toml")
    message = str(info.value)
    assert message.startswith("vex.toml: "), message
    assert expected in message, message
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize(
    ("capabilities", "expected"),
    [
        ("{ prefill = 1 }", "provider[1].capabilities.prefill: must be true or false, got 1"),
        ("{ eyes = true }", "provider[1].capabilities.eyes: unknown key; expected one of docu"),
        ("'all'", 'provider[1].capabilities: must be a table, got "all"'),
    ],
)
def test_bad_capabilities_are_one_line_naming_the_field(capabilities: str, expected: str) -> None:
    """capabilities takes the Capabilities fields as booleans, nothing else."""
    with pytest.raises(ConfigError) as info:
        parse(f"[[provider]]\nkind = 'mock'\ncapabilities = {capabilities}\n", source="vex.toml")
    assert str(info.value).startswith(f"vex.toml: {expected}"), str(info.value)


async def test_without_model_tables_each_provider_is_served_under_its_own_name() -> None:
    """No [[model]]: one stack per provider, alone, named as the provider."""
    async with build_models(parse(_TWO)) as models:
        assert list(models) == ["a", "b"]
        assert list(models["a"].circuits) == ["a"]
        response = await models["b"].complete(LlmRequest.from_prompt("hi"))
    assert response.provider == "b"


async def test_a_models_providers_are_tried_in_its_fallback_order() -> None:
    """The primary is unreachable: the model's next provider answers, in the listed order."""
    async with FakeLLMServer(seed=0, shutdown_timeout=0.1) as server:
        settings = parse(
            "[[provider]]\nname = 'dead'\nkind = 'openai'\nmodel = 'd'\n"
            "base_url = 'http://127.0.0.1:1/v1'\n[provider.retry]\nattempts = 1\n"
            "[[provider]]\nname = 'live'\nkind = 'openai'\nmodel = 'l'\n"
            f"base_url = '{server.base_url}'\n"
            "[[provider]]\nname = 'other'\nkind = 'mock'\n"
            "[[model]]\nname = 'chat'\nproviders = ['dead', 'live', 'other']\n"
        )
        async with build_models(settings) as models:
            assert list(models) == ["chat"]
            assert list(models["chat"].circuits) == ["dead", "live", "other"]
            response = await models["chat"].complete(LlmRequest.from_prompt("hi"))
        assert response.provider == "live"
        assert [entry.model for entry in server.journal] == ["l"]


async def test_declared_capabilities_reach_the_provider_in_the_stack() -> None:
    """A provider declared without vision is passed over for an image; its fallback answers."""
    settings = parse(
        "[[provider]]\nname = 'blind'\nkind = 'mock'\ncapabilities = { vision = false }\n"
        "[[provider]]\nname = 'seeing'\nkind = 'mock'\n"
        "[[model]]\nname = 'chat'\nproviders = ['blind', 'seeing']\n"
    )
    async with build_models(settings) as models:
        response = await models["chat"].complete(LlmRequest.from_openai(_IMAGE))
    assert response.provider == "seeing"


async def test_models_sharing_a_provider_share_its_circuit() -> None:
    """Two models listing one provider see one circuit state: isolated in one, in both."""
    settings = parse(
        _TWO
        + "[[model]]\nname = 'x'\nproviders = ['a', 'b']\n"
        + "[[model]]\nname = 'y'\nproviders = ['b', 'a']\n"
    )
    async with build_models(settings) as models:
        await models["x"].circuits["a"].breaker.apply("isolate")
        stats = await models["y"].circuits["a"].breaker.fetch_stats()
        answer = await models["y"].complete(LlmRequest.from_openai({**_IMAGE, "model": "y"}))
        assert list(models.circuits) == ["a", "b"]
    assert stats.isolated
    assert answer.provider == "b"


async def test_model_settings_reach_stack() -> None:
    """deadline (the model's, else the file's) and hedge go to each model's stack() call."""
    settings = parse(
        "deadline = 7.0\n"
        + _TWO
        + "[[model]]\nname = 'own'\nproviders = ['a', 'b']\ndeadline = 3.0\n"
        + "hedge = { delay = 0.25 }\n"
        + "[[model]]\nname = 'file'\nproviders = ['a']\n"
    )
    async with build_models(settings) as models:
        own, file = models["own"].outer, models["file"].outer
    assert isinstance(own, DeadlineProvider)
    assert isinstance(file, DeadlineProvider)
    assert isinstance(own.inner, HedgeProvider)
    assert (own.seconds, file.seconds) == (3.0, 7.0)


def test_a_model_made_in_code_naming_an_unknown_provider_is_refused() -> None:
    """Settings made in code are checked too: one line naming the model's providers."""
    settings = Settings(
        providers=(ProviderSettings(name="a", kind="mock"),),
        models=(ModelSettings(name="m", providers=("a", "nope")),),
    )
    with pytest.raises(ConfigError, match=r"^no provider named 'nope'$"):
        build_models(settings)


async def test_build_ignores_model_tables() -> None:
    """build() (the CLI's) still makes one stack over every provider in file order."""
    settings = parse(_TWO + "[[model]]\nname = 'x'\nproviders = ['b']\n")
    async with build(settings) as llm:
        assert list(llm.circuits) == ["a", "b"]


@pytest.mark.redis
async def test_models_share_circuits_through_the_files_redis(redis_server: RedisServer) -> None:
    """With redis set, every model's circuits live in one RedisStore that aclose() closes."""
    primary = f"p-{uuid.uuid4().hex[:8]}"
    settings = parse(
        f"redis = '{redis_server.url}'\n"
        f"[[provider]]\nname = '{primary}'\nkind = 'mock'\n"
        "[[provider]]\nname = 'b'\nkind = 'mock'\n"
        f"[[model]]\nname = 'chat'\nproviders = ['{primary}', 'b']\n"
    )
    operator = RedisStore(redis_server.url, timeout=2.0)
    try:
        holder = ResilientProvider(MockProvider(name=primary), store=operator)
        await holder.breaker.apply("isolate")
    finally:
        await operator.aclose()
    async with build_models(settings) as models:
        answer = await models["chat"].complete(LlmRequest.from_prompt("hi"))
    assert answer.provider == "b"
