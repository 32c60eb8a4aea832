"""Configuration files: providers, their circuits, retries, timeouts and fallback order.

A config is TOML. Every problem is reported as one ``ConfigError`` naming the file, the
key and what is wrong, e.g. ``vex.toml: provider[2].breaker.failure_threshold: must be an
integer >= 1, got 0``. Loading never touches the network and never reads a key's value:
only the *name* of the environment variable that holds it is kept.

Example::

    deadline = 30.0                 # seconds for a whole call, retries and fallbacks included

    [breaker]                       # defaults for every provider's circuit
    failure_threshold = 5
    reset_timeout = 30.0

    [retry]                         # defaults for every provider's retries
    attempts = 3

    [[provider]]
    name = "primary"
    kind = "openai"                 # openai, anthropic, mock, or a preset (deepseek, groq, ...)
    model = "gpt-4o-mini"
    api_key_env = "OPENAI_API_KEY"
    attempt_timeout = 20.0

    [[provider]]
    name = "backup"
    kind = "anthropic"
    model = "claude-3-5-haiku-latest"
    [provider.breaker]
    failure_threshold = 3
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Final, TypeVar

from ._provider import LlmProvider
from .breaker import CircuitConfig
from .policies import (
    DeadlineProvider,
    FallbackProvider,
    ResilienceStack,
    RetryConfig,
    RetryProvider,
    TimeoutConfig,
    TimeoutProvider,
)
from .resilient import ResilientProvider
from .stores import CircuitStore

T = TypeVar("T")

PROVIDER_KINDS: Final = (
    "openai",
    "anthropic",
    "mock",
    "deepseek",
    "mistral",
    "groq",
    "openrouter",
    "together",
    "ollama",
    "vllm",
    "llamacpp",
)
"""Values ``kind`` may take: the two wire formats, the mock, and OpenAI-compatible presets."""

_TOP_KEYS: Final = frozenset({"deadline", "breaker", "retry", "provider", "redis"})
_PROVIDER_KEYS: Final = frozenset(
    {
        "name",
        "kind",
        "model",
        "base_url",
        "api_key_env",
        "attempt_timeout",
        "first_token_timeout",
        "idle_timeout",
        "breaker",
        "retry",
        "max_context_tokens",
    }
)
_TIMEOUT_KEYS: Final = frozenset({"attempt_timeout", "first_token_timeout", "idle_timeout"})
_RETRY_KEYS: Final = frozenset(f.name for f in fields(RetryConfig) if f.init)
_CIRCUIT_KEYS: Final = frozenset(f.name for f in fields(CircuitConfig) if f.init) - {"classify"}


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file, the key and the fix."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderSettings:
    """One provider as written in a config.

    Args:
        name: Unique name (also the circuit's name).
        kind: One of ``PROVIDER_KINDS``.
        model: Model name (``None``: the provider's default; required for real providers).
        base_url: Endpoint root (``None``: the kind's default or its environment variable).
        api_key_env: Name of the environment variable holding the key (never the key).
        timeouts: Per-attempt limits (``attempt_timeout``, ``first_token_timeout``,
            ``idle_timeout`` keys of the provider's table).
        max_context_tokens: The model's context size, for routing context-length errors.
        breaker: The circuit's rules.
        retry: The retry settings.
    """

    name: str
    kind: str
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    timeouts: TimeoutConfig = field(default_factory=TimeoutConfig)
    max_context_tokens: int | None = None
    breaker: CircuitConfig = field(default_factory=CircuitConfig)
    retry: RetryConfig = field(default_factory=RetryConfig)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """A whole config file.

    Args:
        providers: In fallback order (first is primary).
        deadline: Seconds for a whole call, retries and fallbacks included (``None``: none).
        redis: URL of a Redis server to share circuit state through (``None``: per process).
        source: The file it came from.
    """

    providers: tuple[ProviderSettings, ...]
    deadline: float | None = None
    redis: str | None = None
    source: str = "<memory>"


def load(path: str | Path) -> Settings:
    """Read and validate a TOML config file.

    Args:
        path: The file.

    Returns:
        The settings.

    Raises:
        ConfigError: If the file is missing, not TOML, or holds a bad value; the message
            names the file and the key.
    """
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        msg = f"{where}: no such config file"
        raise ConfigError(msg) from None
    except OSError as exc:
        msg = f"{where}: cannot read config file ({exc.strerror})"
        raise ConfigError(msg) from None
    return parse(text, source=where)


def parse(text: str, *, source: str = "<memory>") -> Settings:
    """Validate TOML text as a config (see ``load``).

    Args:
        text: The TOML.
        source: The name used in error messages.

    Returns:
        The settings.

    Raises:
        ConfigError: On any problem, naming ``source`` and the key.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = f"{source}: not valid TOML: {exc}"
        raise ConfigError(msg) from None
    _no_unknown(data, _TOP_KEYS, source, "")
    deadline = _optional_seconds(data.get("deadline"), source, "deadline")
    redis = _string(data.get("redis"), source, "redis", optional=True)
    breaker_defaults = _table(data.get("breaker", {}), source, "breaker")
    retry_defaults = _table(data.get("retry", {}), source, "retry")
    raw_providers = data.get("provider")
    if not isinstance(raw_providers, list) or not raw_providers:
        msg = f"{source}: provider: add at least one [[provider]] table"
        raise ConfigError(msg)
    providers: list[ProviderSettings] = []
    names: set[str] = set()
    for index, raw in enumerate(raw_providers, start=1):
        key = f"provider[{index}]"
        table = _table(raw, source, key)
        provider = _provider(table, breaker_defaults, retry_defaults, source, key)
        if provider.name in names:
            msg = f"{source}: {key}.name: {provider.name!r} is used twice; names must be unique"
            raise ConfigError(msg)
        names.add(provider.name)
        providers.append(provider)
    return Settings(providers=tuple(providers), deadline=deadline, redis=redis, source=source)


def _provider(
    table: Mapping[str, object],
    breaker_defaults: Mapping[str, object],
    retry_defaults: Mapping[str, object],
    source: str,
    key: str,
) -> ProviderSettings:
    _no_unknown(table, _PROVIDER_KEYS, source, key)
    kind = _string(table.get("kind"), source, f"{key}.kind")
    assert kind is not None
    if kind not in PROVIDER_KINDS:
        msg = f"{source}: {key}.kind: unknown kind {kind!r}; use one of {', '.join(PROVIDER_KINDS)}"
        raise ConfigError(msg)
    name = _string(table.get("name", kind), source, f"{key}.name")
    assert name is not None
    model = _string(table.get("model"), source, f"{key}.model", optional=True)
    if model is None and kind not in ("mock", "ollama", "vllm", "llamacpp"):
        msg = f"{source}: {key}.model: required for kind {kind!r}"
        raise ConfigError(msg)
    api_key_env = _string(table.get("api_key_env"), source, f"{key}.api_key_env", optional=True)
    if api_key_env is not None and not api_key_env.replace("_", "").isalnum():
        msg = (
            f"{source}: {key}.api_key_env: give the NAME of an environment variable "
            "(like OPENAI_API_KEY), never the key itself"
        )
        raise ConfigError(msg)
    breaker_table = {
        **breaker_defaults,
        **_table(table.get("breaker", {}), source, f"{key}.breaker"),
    }
    retry_table = {**retry_defaults, **_table(table.get("retry", {}), source, f"{key}.retry")}
    max_context = table.get("max_context_tokens")
    if max_context is not None and (not isinstance(max_context, int) or max_context < 1):
        msg = f"{source}: {key}.max_context_tokens: must be an integer >= 1, got {max_context!r}"
        raise ConfigError(msg)
    return ProviderSettings(
        name=name,
        kind=kind,
        model=model,
        base_url=_string(table.get("base_url"), source, f"{key}.base_url", optional=True),
        api_key_env=api_key_env,
        timeouts=_build(
            TimeoutConfig,
            {k: table[k] for k in _TIMEOUT_KEYS if k in table},
            source,
            key,
        ),
        max_context_tokens=max_context,
        breaker=_build(CircuitConfig, breaker_table, source, f"{key}.breaker", _CIRCUIT_KEYS),
        retry=_build(RetryConfig, retry_table, source, f"{key}.retry", _RETRY_KEYS),
    )


def _build(
    cls: type[T],
    table: Mapping[str, object],
    source: str,
    key: str,
    allowed: frozenset[str] | None = None,
) -> T:
    """Build a settings dataclass; its own validation names the field, we add file and key."""
    if allowed is not None:
        _no_unknown(table, allowed, source, key)
    try:
        return cls(**table)
    except ValueError as exc:
        # Settings classes say "<Class>.<field> must be ..., got ...".
        text = str(exc)
        prefix = f"{cls.__name__}."
        if text.startswith(prefix):
            field_name, _, problem = text.removeprefix(prefix).partition(" ")
            msg = f"{source}: {key}.{field_name}: {problem}"
        else:
            msg = f"{source}: {key}: {text}"
        raise ConfigError(msg) from None
    except TypeError as exc:
        msg = f"{source}: {key}: a value has the wrong type ({exc})"
        raise ConfigError(msg) from None


def _no_unknown(
    table: Mapping[str, object], allowed: frozenset[str], source: str, key: str
) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        prefix = f"{key}." if key else ""
        msg = (
            f"{source}: {prefix}{unknown[0]}: unknown key; expected one of "
            f"{', '.join(sorted(allowed))}"
        )
        raise ConfigError(msg)


def _table(value: object, source: str, key: str) -> dict[str, object]:
    if not isinstance(value, dict):
        msg = f"{source}: {key}: must be a table, got {type(value).__name__}"
        raise ConfigError(msg)
    return {str(k): v for k, v in value.items()}


def _string(value: object, source: str, key: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        msg = f"{source}: {key}: must be a non-empty string, got {value!r}"
        raise ConfigError(msg)
    return value


def _optional_seconds(value: object, source: str, key: str) -> float | None:
    return None if value is None else _seconds(value, source, key)


def _seconds(value: object, source: str, key: str, *, zero: bool = False) -> float:
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value >= 0 if zero else value > 0)
    ):
        return float(value)
    bound = ">= 0" if zero else "> 0"
    msg = f"{source}: {key}: must be a number of seconds {bound}, got {value!r}"
    raise ConfigError(msg)


def build_provider(provider: ProviderSettings) -> LlmProvider:
    """Make the bare provider a config entry describes (no resilience layers yet).

    Args:
        provider: The entry.

    Returns:
        A ``MockProvider``, ``AnthropicProvider`` or ``OpenAIProvider`` (presets included).
    """
    from .providers.anthropic import AnthropicProvider
    from .providers.mock import MockProvider
    from .providers.openai import PRESETS, OpenAIProvider

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
