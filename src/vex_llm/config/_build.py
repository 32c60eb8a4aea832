"""From checked ``Settings`` to a stack: providers made, each in its own layers."""

from __future__ import annotations

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
from ._load import ProviderSettings, Settings


def build_provider(provider: ProviderSettings) -> LlmProvider:
    """Make the bare provider a config entry describes (no resilience layers yet).

    Args:
        provider: The entry.

    Returns:
        A ``MockProvider``, ``AnthropicProvider`` or ``OpenAIProvider`` (presets included).
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


def build(settings: Settings, *, store: CircuitStore | None = None) -> ResilienceStack:
    """Assemble the recommended stack from a config, each provider with its own settings.

    The layers are those of ``vex_llm.stack()`` (deadline -> fallback -> per provider:
    retry -> circuit breaker -> attempt timeout -> provider); a config may give every
    provider its own circuit, retry and timeout settings, which ``stack()`` does not take.

    Args:
        settings: The loaded config.
        store: Where circuit state lives (``None``: this process).

    Returns:
        The stack; ``.circuits`` holds each provider's breaker by name.
    """
    circuits: dict[str, ResilientProvider] = {}
    guarded: list[LlmProvider] = []
    windows: dict[LlmProvider, int] = {}
    for entry in settings.providers:
        bounded = TimeoutProvider(build_provider(entry), entry.timeouts)
        breaker = ResilientProvider(bounded, entry.breaker, store=store, circuit_name=entry.name)
        retried = RetryProvider(breaker, entry.retry)
        circuits[entry.name] = breaker
        guarded.append(retried)
        if entry.max_context_tokens is not None:
            windows[retried] = entry.max_context_tokens
    chain: LlmProvider = FallbackProvider(guarded, context_windows=windows)
    if settings.deadline is not None:
        chain = DeadlineProvider(chain, settings.deadline)
    return ResilienceStack(chain, circuits)
