"""build(): keys checked before any call, the file's redis shared, bad settings named."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

from _redis_server import RedisServer
from vex_llm import LlmRequest, MockProvider, RedisStore, ResilientProvider
from vex_llm.cli import main
from vex_llm.config import ConfigError, ProviderSettings, Settings, build, parse
from vex_llm.testing import FakeLLMServer

_HOSTED = [
    ("openai", "OPENAI_API_KEY"),
    ("anthropic", "ANTHROPIC_API_KEY"),
    ("deepseek", "DEEPSEEK_API_KEY"),
    ("mistral", "MISTRAL_API_KEY"),
    ("groq", "GROQ_API_KEY"),
    ("openrouter", "OPENROUTER_API_KEY"),
    ("together", "TOGETHER_API_KEY"),
]


def _file(*providers: str, head: str = "") -> Settings:
    body = "".join(f"[[provider]]\n{p}\n" for p in providers)
    return parse(head + body, source="vex.toml")


@pytest.mark.parametrize(("kind", "variable"), _HOSTED)
def test_a_hosted_provider_without_its_key_is_refused_at_build(kind: str, variable: str) -> None:
    """Every hosted kind and preset needs its key; one line names the provider and variable."""
    settings = _file("kind = 'mock'", f"name = 'backup'\nkind = '{kind}'\nmodel = 'm'")
    with pytest.raises(ConfigError) as info:
        build(settings)
    assert str(info.value) == (
        f"vex.toml: provider[2].api_key_env: provider 'backup' needs an API key: set {variable}"
    )


@pytest.mark.parametrize(("kind", "variable"), _HOSTED)
async def test_a_hosted_provider_with_its_key_builds(
    kind: str, variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the variable set the stack is built (and nothing is called)."""
    monkeypatch.setenv(variable, "test-key")
    async with build(_file(f"kind = '{kind}'\nmodel = 'm'")) as llm:
        assert list(llm.circuits) == [kind]


@pytest.mark.parametrize(
    "entry",
    [
        "kind = 'ollama'\nmodel = 'llama3'",
        "kind = 'vllm'\nmodel = 'm'",
        "kind = 'llamacpp'\nmodel = 'm'",
        "kind = 'mock'",
        "kind = 'openai'\nmodel = 'm'\nbase_url = 'http://10.0.0.5:8000/v1'",
        "kind = 'groq'\nmodel = 'm'\nbase_url = 'http://127.0.0.1:9/v1'",
    ],
)
async def test_local_servers_and_own_base_urls_need_no_key(entry: str) -> None:
    """Local kinds, and any kind pointed at a base_url of your own, build without a key."""
    async with build(_file(entry)):
        pass


def test_a_named_key_variable_is_required_whatever_the_kind() -> None:
    """api_key_env says a key is needed: unset, even a local server is refused."""
    settings = _file("kind = 'vllm'\nmodel = 'm'\napi_key_env = 'GPU_BOX_KEY'")
    with pytest.raises(ConfigError, match=r"provider 'vllm' needs an API key: set GPU_BOX_KEY$"):
        build(settings)


async def test_keys_can_be_left_unchecked_for_circuit_tools() -> None:
    """require_keys=False builds a stack whose circuits can be listed without any key."""
    async with build(_file("kind = 'groq'\nmodel = 'm'"), require_keys=False) as llm:
        assert list(llm.circuits) == ["groq"]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            ProviderSettings(name="groq", kind="groq", model="m"),
            "provider 'groq' needs an API key: set GROQ_API_KEY",
        ),
        (
            ProviderSettings(name="x", kind="openai", model="m", base_url="ftp://u:pw@x"),
            "provider 'x': must be a URL with scheme http or https, a host and a port in "
            '1-65535, got "ftp://***:***@x"',
        ),
        (
            ProviderSettings(name="o", kind="ollama"),
            "provider 'o' needs a model name (kind 'ollama')",
        ),
        (ProviderSettings(name="z", kind="zeta"), "unknown kind 'zeta'; use one of openai,"),
    ],
)
def test_settings_made_in_code_are_checked_at_build(entry: ProviderSettings, expected: str) -> None:
    """The CLI's flags become settings in code: build() refuses them with a bare one-liner."""
    with pytest.raises(ConfigError) as info:
        build(Settings(providers=(entry,)))
    assert str(info.value).startswith(expected), str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[provider]]\nkind = 'mock'\nattempt_timeout = " + "9" * 400, "attempt_timeout: must"),
        ("[[provider]]\nkind = 'openai'\nmodel = 'm'\nbase_url = 'ftp://x'", "base_url: must"),
        ("[[provider]]\nkind = 'mock'\nmax_context_tokens = true", "max_context_tokens: must"),
        ("[[provider]]\nkind = 'groq'\nmodel = 'm'", "set GROQ_API_KEY"),
    ],
)
def test_the_cli_prints_one_line_and_exits_2(
    text: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad config or a missing key ends `ask` with exit 2 and one line, no traceback."""
    path = tmp_path / "vex.toml"
    path.write_text(text)
    code = main(["ask", "hi", "--config", str(path)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1, err
    assert err.startswith(f"vex-llm: {path}: provider[1]."), err
    assert expected in err, err


def test_a_missing_redis_package_is_a_one_line_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """redis set without the redis extra installed: a ConfigError saying what to install."""
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    settings = _file("kind = 'mock'", head="redis = 'redis://127.0.0.1:1/0'\n")
    with pytest.raises(ConfigError) as info:
        build(settings)
    assert str(info.value) == (
        "vex.toml: redis: sharing circuits needs the redis package: pip install 'vex-llm[redis]'"
    )


@pytest.mark.redis
@pytest.mark.fake_server
async def test_a_circuit_held_open_in_redis_is_skipped(redis_server: RedisServer) -> None:
    """A circuit held open through one RedisStore makes a config-built stack skip it."""
    primary = f"primary-{uuid.uuid4().hex[:8]}"
    async with FakeLLMServer(seed=0, shutdown_timeout=0.1) as server:
        settings = _file(
            f"name = '{primary}'\nkind = 'openai'\nmodel = 'p'\nbase_url = '{server.base_url}'",
            f"name = 'b-{primary}'\nkind = 'openai'\nmodel = 'b'\nbase_url = '{server.base_url}'",
            head=f"redis = '{redis_server.url}'\n",
        )
        operator = RedisStore(redis_server.url, timeout=2.0)
        try:
            holder = ResilientProvider(MockProvider(name=primary), store=operator)
            await holder.breaker.apply("isolate")
        finally:
            await operator.aclose()
        async with build(settings) as llm:
            response = await llm.complete(LlmRequest.from_prompt("hi"))
            stats = await llm.circuits[primary].breaker.fetch_stats()
        assert response.provider == f"b-{primary}"
        assert stats.isolated
        assert [entry.model for entry in server.journal] == ["b"]


async def test_each_provider_keeps_its_own_circuit_rules_in_the_one_stack() -> None:
    """build() is one stack() call, and a provider's own [provider.breaker] still applies."""
    settings = _file(
        "name = 'a'\nkind = 'mock'",
        "name = 'b'\nkind = 'mock'\n[provider.breaker]\nfailure_threshold = 2",
        head="[breaker]\nfailure_threshold = 7\n",
    )
    async with build(settings) as llm:
        thresholds = {n: c.breaker.config.failure_threshold for n, c in llm.circuits.items()}
    assert thresholds == {"a": 7, "b": 2}
