"""From checked ``Settings`` to a stack: keys present, providers made, circuits shared."""

from __future__ import annotations

import os
from collections.abc import Mapping

from .._provider import LlmProvider
from ..policies import (
    DeadlineProvider,
    FallbackProvider,
    ResilienceStack,
    RetryProvider,
    TimeoutProvider,
)
from ..resilient import ResilientProvider
from ..stores import CircuitStore
from . import _schema as schema
from ._load import LOCAL_KINDS, PROVIDER_KINDS, ConfigError, ProviderSettings, Settings


def build_provider(provider: ProviderSettings) -> LlmProvider:
    """Make the bare provider a config entry describes (no resilience layers yet).

    Args:
        provider: The entry.

    Returns:
        A ``MockProvider``, ``AnthropicProvider`` or ``OpenAIProvider`` (presets included).

    Raises:
        ValueError: When the provider rejects its settings (``build()`` checks them first
            and raises ``ConfigError`` instead).
    """
    from ..providers.anthropic import AnthropicProvider
    from ..providers.mock import MockProvider
    from ..providers.openai import PRESETS, OpenAIProvider

    timeout = provider.timeouts.attempt_timeout or 60.0
    if provider.kind == "mock":
        return MockProvider(name=provider.name, model=provider.model or "mock-1")
    if provider.kind == "anthropic":
        assert provider.model is not None  # parse() requires it for real providers
        return AnthropicProvider(
            provider.model,
            base_url=provider.base_url,
            api_key_env=provider.api_key_env or "ANTHROPIC_API_KEY",
            name=provider.name,
            timeout=timeout,
        )
    if provider.kind == "openai":
        return OpenAIProvider(
            provider.model or "",
            base_url=provider.base_url,
            api_key_env=provider.api_key_env or "OPENAI_API_KEY",
            name=provider.name,
            timeout=timeout,
        )
    preset = PRESETS[provider.kind]
    return OpenAIProvider(
        provider.model or "",
        base_url=provider.base_url or preset.base_url,
        api_key_env=provider.api_key_env or preset.api_key_env,
        name=provider.name,
        timeout=timeout,
    )


def missing_key(provider: ProviderSettings) -> str | None:
    """The environment variable a provider needs a key from and that is unset or empty.

    A provider needs a key when its config names ``api_key_env``, or when it is a hosted
    kind (``openai``, ``anthropic``, ``deepseek``, ``mistral``, ``groq``, ``openrouter``,
    ``together``) without a ``base_url`` of its own: a ``base_url`` points at your own
    server, which may need none. ``mock``, ``ollama``, ``vllm`` and ``llamacpp`` need none.

    Args:
        provider: The entry.

    Returns:
        The variable to set, or ``None`` when nothing is missing.
    """
    from ..providers.openai import PRESETS

    name = provider.api_key_env
    if name is None and provider.base_url is None and provider.kind not in LOCAL_KINDS:
        preset = PRESETS.get(provider.kind)
        default = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
        name = preset.api_key_env if preset is not None else default.get(provider.kind)
    return None if name is None or os.environ.get(name) else name


def check(settings: Settings, *, require_keys: bool = True) -> None:
    """Check what ``build()`` needs beyond the file itself: every key a provider needs is
    set, and settings made in code (not by ``parse``) hold a known kind, a model and a
    valid ``base_url``.

    Args:
        settings: The loaded (or hand-made) config.
        require_keys: Whether a missing key is an error (default true; false for tools
            that build a stack only to look at its circuits).

    Raises:
        ConfigError: One line naming the provider and what to do, e.g. ``vex.toml:
            provider[2].api_key_env: provider 'backup' needs an API key: set GROQ_API_KEY``
            (without the file and key for settings made in code).
    """
    for index, entry in enumerate(settings.providers, start=1):
        problem = _problem(entry, require_keys=require_keys)
        if problem is not None:
            key, text = problem
            msg = f"{_at(settings, f'provider[{index}].{key}')}{text}"
            raise ConfigError(msg)


def _problem(entry: ProviderSettings, *, require_keys: bool) -> tuple[str, str] | None:
    """The key and the problem that keep a provider from being built, if any."""
    if entry.kind not in PROVIDER_KINDS:
        return "kind", f"unknown kind {entry.kind!r}; use one of {', '.join(PROVIDER_KINDS)}"
    if entry.model is None and entry.kind != "mock":
        return "model", f"provider {entry.name!r} needs a model name (kind {entry.kind!r})"
    if entry.base_url is not None:
        try:
            schema.PROVIDER["base_url"](entry.base_url)
        except ValueError as exc:
            return "base_url", f"provider {entry.name!r}: {exc}"
    variable = missing_key(entry) if require_keys else None
    if variable is not None:
        return "api_key_env", f"provider {entry.name!r} needs an API key: set {variable}"
    return None


def _at(settings: Settings, key: str) -> str:
    """Where a message points: ``file: key: `` for a file; nothing for settings made in
    code (the CLI's flags), whose user never wrote a key."""
    return "" if settings.source == "<memory>" else f"{settings.source}: {key}: "


class _ConfiguredStack(ResilienceStack):
    """A stack that owns the ``RedisStore`` ``build()`` made from the config's ``redis``."""

    def __init__(
        self,
        outer: LlmProvider,
        circuits: Mapping[str, ResilientProvider],
        *,
        store: CircuitStore,
    ) -> None:
        super().__init__(outer, circuits)
        self._store = store

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            await self._store.aclose()


def _redis_store(settings: Settings) -> CircuitStore:
    """A ``RedisStore`` for the config's ``redis`` URL (the redis extra must be installed)."""
    assert settings.redis is not None
    where = _at(settings, "redis")
    try:
        from ..stores.redis import RedisStore

        return RedisStore(settings.redis)
    except ImportError:
        msg = f"{where}sharing circuits needs the redis package: pip install 'vex-llm[redis]'"
        raise ConfigError(msg) from None
    except ValueError:
        msg = f"{where}not a Redis URL: {schema.mask_url(settings.redis)}"
        raise ConfigError(msg) from None


def build(
    settings: Settings, *, store: CircuitStore | None = None, require_keys: bool = True
) -> ResilienceStack:
    """Assemble the recommended stack from a config, each provider with its own settings.

    The layers are those of ``vex_llm.stack()`` (deadline -> fallback -> per provider:
    retry -> circuit breaker -> attempt timeout -> provider); a config may give every
    provider its own circuit, retry and timeout settings, which ``stack()`` does not take.
    Nothing touches the network here: a missing key is reported before any call.

    Args:
        settings: The loaded config.
        store: Where circuit state lives (default: a ``RedisStore`` on the config's
            ``redis`` URL, which the stack closes with itself; with no ``redis``, this
            process).
        require_keys: Whether a provider's missing key is an error (default true: a
            stack that will call providers; ``vex-llm circuits`` passes false).

    Returns:
        The stack; ``.circuits`` holds each provider's breaker by name.

    Raises:
        ConfigError: When a provider's key is not set, a hand-made setting is invalid, or
            ``redis`` is set and the redis extra is not installed (see ``check``).
    """
    check(settings, require_keys=require_keys)
    owned = _redis_store(settings) if store is None and settings.redis is not None else None
    store = owned or store
    circuits: dict[str, ResilientProvider] = {}
    guarded: list[LlmProvider] = []
    windows: dict[LlmProvider, int] = {}
    for index, entry in enumerate(settings.providers, start=1):
        try:
            bare = build_provider(entry)
        except ValueError as exc:  # a hand-made entry the provider rejects
            msg = f"{_at(settings, f'provider[{index}]')}{exc}"
            raise ConfigError(msg.splitlines()[0]) from None
        bounded = TimeoutProvider(bare, entry.timeouts)
        breaker = ResilientProvider(bounded, entry.breaker, store=store, circuit_name=entry.name)
        retried = RetryProvider(breaker, entry.retry)
        circuits[entry.name] = breaker
        guarded.append(retried)
        if entry.max_context_tokens is not None:
            windows[retried] = entry.max_context_tokens
    chain: LlmProvider = FallbackProvider(guarded, context_windows=windows)
    if settings.deadline is not None:
        chain = DeadlineProvider(chain, settings.deadline)
    if owned is not None:
        return _ConfiguredStack(chain, circuits, store=owned)
    return ResilienceStack(chain, circuits)
