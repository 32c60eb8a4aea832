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
from typing import Final

from .breaker import CircuitConfig

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
_RETRY_KEYS: Final = frozenset({"attempts", "base_delay", "max_delay", "budget", "budget_floor"})
_CIRCUIT_KEYS: Final = frozenset(f.name for f in fields(CircuitConfig) if f.init) - {"classify"}


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file, the key and the fix."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrySettings:
    """Retry settings as written in a config (applied by the policy layer).

    Args:
        attempts: Tries per call, the first included (>= 1).
        base_delay: First backoff delay, seconds.
        max_delay: Cap on one backoff delay, seconds.
        budget: Fraction of calls that may be retried, in [0, 1].
        budget_floor: Retries per second allowed whatever the budget says.
    """

    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    budget: float = 0.2
    budget_floor: float = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderSettings:
    """One provider as written in a config.

    Args:
        name: Unique name (also the circuit's name).
        kind: One of ``PROVIDER_KINDS``.
        model: Model name (``None``: the provider's default; required for real providers).
        base_url: Endpoint root (``None``: the kind's default or its environment variable).
        api_key_env: Name of the environment variable holding the key (never the key).
        attempt_timeout: Seconds for one attempt.
        first_token_timeout: Seconds to the first streamed token.
        idle_timeout: Seconds allowed between streamed chunks.
        max_context_tokens: The model's context size, for routing context-length errors.
        breaker: The circuit's rules.
        retry: The retry settings.
    """

    name: str
    kind: str
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    attempt_timeout: float = 30.0
    first_token_timeout: float | None = None
    idle_timeout: float | None = None
    max_context_tokens: int | None = None
    breaker: CircuitConfig = field(default_factory=CircuitConfig)
    retry: RetrySettings = field(default_factory=RetrySettings)


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
        attempt_timeout=_seconds(
            table.get("attempt_timeout", 30.0), source, f"{key}.attempt_timeout"
        ),
        first_token_timeout=_optional_seconds(
            table.get("first_token_timeout"), source, f"{key}.first_token_timeout"
        ),
        idle_timeout=_optional_seconds(table.get("idle_timeout"), source, f"{key}.idle_timeout"),
        max_context_tokens=max_context,
        breaker=_circuit(breaker_table, source, f"{key}.breaker"),
        retry=_retry(retry_table, source, f"{key}.retry"),
    )


def _circuit(table: Mapping[str, object], source: str, key: str) -> CircuitConfig:
    _no_unknown(table, _CIRCUIT_KEYS, source, key)
    try:
        return CircuitConfig(**table)  # type: ignore[arg-type]  # CircuitConfig validates
    except ValueError as exc:
        # CircuitConfig names the field: "CircuitConfig.<field> must be ..., got ...".
        field_name, _, problem = str(exc).removeprefix("CircuitConfig.").partition(" ")
        msg = f"{source}: {key}.{field_name}: {problem}"
        raise ConfigError(msg) from None
    except TypeError as exc:
        msg = f"{source}: {key}: a value has the wrong type ({exc})"
        raise ConfigError(msg) from None


def _retry(table: Mapping[str, object], source: str, key: str) -> RetrySettings:
    _no_unknown(table, _RETRY_KEYS, source, key)
    attempts = table.get("attempts", 3)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        msg = f"{source}: {key}.attempts: must be an integer >= 1, got {attempts!r}"
        raise ConfigError(msg)
    base_delay = _seconds(table.get("base_delay", 0.5), source, f"{key}.base_delay", zero=True)
    max_delay = _seconds(table.get("max_delay", 8.0), source, f"{key}.max_delay", zero=True)
    budget = table.get("budget", 0.2)
    if isinstance(budget, bool) or not isinstance(budget, int | float) or not 0 <= budget <= 1:
        msg = f"{source}: {key}.budget: must be a fraction in [0, 1], got {budget!r}"
        raise ConfigError(msg)
    floor = _seconds(table.get("budget_floor", 1.0), source, f"{key}.budget_floor", zero=True)
    if max_delay < base_delay:
        msg = f"{source}: {key}.max_delay: must be >= base_delay ({base_delay}), got {max_delay}"
        raise ConfigError(msg)
    return RetrySettings(
        attempts=attempts,
        base_delay=base_delay,
        max_delay=max_delay,
        budget=float(budget),
        budget_floor=floor,
    )


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
