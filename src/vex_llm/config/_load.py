"""Reading a config: TOML text to checked ``Settings``, every problem one ``ConfigError``."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, TypeVar

from .._capabilities import Capabilities
from .._limits import show
from ..breaker import CircuitConfig
from ..policies import HedgeConfig, RetryConfig, TimeoutConfig
from ..providers import KINDS
from . import _schema as schema

T = TypeVar("T")

PROVIDER_KINDS: Final = tuple(KINDS)
"""Values ``kind`` may take: the two wire formats, the mock, and OpenAI-compatible presets
(the names of ``vex_llm.providers.KINDS``)."""

LOCAL_KINDS: Final = frozenset(kind.name for kind in KINDS.values() if kind.local)
"""Kinds that need no API key (the mock and local servers); all but ``mock`` need a model."""

_SECTIONS: Final = frozenset({"breaker", "retry", "provider", "model"})
_PROVIDER_TABLES: Final = frozenset({"breaker", "retry", "capabilities"})
_MODEL_TABLES: Final = frozenset({"hedge"})


class ConfigError(ValueError):
    """A config that cannot be used; the one-line message names the file, the key and the fix."""


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
        capabilities: What the provider accepts (``None``: ``Capabilities.for_kind(kind)``;
            a ``capabilities`` table overrides some fields of that default).
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
    capabilities: Capabilities | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSettings:
    """One public model name as written in a ``[[model]]`` table.

    Args:
        name: The public model name (what a client asks the gateway for).
        providers: Names of ``[[provider]]`` entries, in fallback order (first is primary).
        deadline: Seconds for a whole call (``None``: the file's top-level ``deadline``).
        stream_break: When a stream breaks after its first chunk: ``"raise"``,
            ``"restart"`` (the next provider answers from the start) or ``"continue"``
            (the gateway asks a prefill-capable provider to continue the partial answer;
            outside the gateway it behaves like ``"raise"``).
        hedge: Hedge between the providers instead of trying them one after another.
    """

    name: str
    providers: tuple[str, ...]
    deadline: float | None = None
    stream_break: str = "raise"
    hedge: HedgeConfig | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """A whole config file.

    Args:
        providers: In fallback order (first is primary).
        deadline: Seconds for a whole call, retries and fallbacks included (``None``: none).
        redis: URL of a Redis server to share circuit state through (``None``: per process).
        source: The file it came from (``"<memory>"``: built in code, e.g. by the CLI).
        models: The ``[[model]]`` tables (empty: each provider is served under its name).
    """

    providers: tuple[ProviderSettings, ...]
    deadline: float | None = None
    redis: str | None = None
    source: str = "<memory>"
    models: tuple[ModelSettings, ...] = ()


def load(path: str | Path) -> Settings:
    """Read and validate a TOML config file (UTF-8; a byte-order mark is allowed).

    Args:
        path: The file.

    Returns:
        The settings.

    Raises:
        ConfigError: If the file is missing, unreadable, not UTF-8, not TOML, or holds a
            bad value; the one-line message names the file and the key.
    """
    where = _printable(str(path))
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        msg = f"{where}: no such config file"
        raise ConfigError(msg) from None
    except OSError as exc:
        msg = f"{where}: cannot read config file ({exc.strerror})"
        raise ConfigError(msg) from None
    except UnicodeDecodeError as exc:
        msg = f"{where}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
        raise ConfigError(msg) from None
    except ValueError as exc:  # a path with a NUL byte
        msg = f"{where}: cannot read config file ({exc})"
        raise ConfigError(msg) from None
    return parse(text, source=where)


def parse(text: str, *, source: str = "<memory>") -> Settings:
    """Validate TOML text as a config (see ``load``).

    Every duration is a number of seconds in (0, ``MAX_SECONDS``] (1e7 s, about 115
    days; delays and ``budget_floor`` may be 0), every count an integer in
    [1, ``MAX_COUNT``] (1e9); booleans are neither.

    Args:
        text: The TOML.
        source: The name used in error messages.

    Returns:
        The settings.

    Raises:
        ConfigError: On any problem, one line naming ``source`` and the key.
    """
    source = _printable(source)
    try:
        data = tomllib.loads(text)
    except ValueError as exc:  # TOMLDecodeError, or an integer of over 4300 digits
        msg = f"{source}: not valid TOML: {_printable(str(exc))}"
        raise ConfigError(msg) from None
    except RecursionError:
        msg = f"{source}: not valid TOML: arrays or tables nested too deeply"
        raise ConfigError(msg) from None
    top = _checked(data, schema.TOP, source, "", tables=_SECTIONS)
    breaker_defaults = _checked(
        _table(data, "breaker", source, ""), schema.CIRCUIT, source, "breaker"
    )
    retry_defaults = _checked(_table(data, "retry", source, ""), schema.RETRY, source, "retry")
    raw_providers = data.get("provider")
    if not isinstance(raw_providers, list) or not raw_providers:
        msg = f"{source}: provider: add at least one [[provider]] table"
        raise ConfigError(msg)
    providers: list[ProviderSettings] = []
    names: set[str] = set()
    for index, raw in enumerate(raw_providers, start=1):
        key = f"provider[{index}]"
        if not isinstance(raw, dict):
            msg = f"{source}: {key}: must be a table, got {show(raw)}"
            raise ConfigError(msg)
        provider = _provider(raw, breaker_defaults, retry_defaults, source, key)
        if provider.name in names:
            msg = f"{source}: {key}.name: {provider.name!r} is used twice; names must be unique"
            raise ConfigError(msg)
        names.add(provider.name)
        providers.append(provider)
    deadline = top.get("deadline")
    redis = top.get("redis")
    assert deadline is None or isinstance(deadline, float)
    assert redis is None or isinstance(redis, str)
    return Settings(
        providers=tuple(providers),
        deadline=deadline,
        redis=redis,
        source=source,
        models=_models(data.get("model", []), names, source),
    )


def _models(raw_models: object, providers: set[str], source: str) -> tuple[ModelSettings, ...]:
    """The ``[[model]]`` tables, each naming providers that exist; names unique."""
    if not isinstance(raw_models, list):
        msg = f"{source}: model: must be an array of [[model]] tables, got {show(raw_models)}"
        raise ConfigError(msg)
    models: list[ModelSettings] = []
    for index, raw in enumerate(raw_models, start=1):
        key = f"model[{index}]"
        if not isinstance(raw, dict):
            msg = f"{source}: {key}: must be a table, got {show(raw)}"
            raise ConfigError(msg)
        values = _checked(raw, schema.MODEL, source, key, tables=_MODEL_TABLES)
        for required in ("name", "providers"):
            if required not in values:
                msg = f"{source}: {key}.{required}: required"
                raise ConfigError(msg)
        listed = values["providers"]
        assert isinstance(listed, tuple)
        unknown = [name for name in listed if name not in providers]
        if unknown:
            known = ", ".join(map(repr, sorted(providers)))
            msg = f"{source}: {key}.providers: no [[provider]] named {unknown[0]!r}; known: {known}"
            raise ConfigError(msg)
        if any(model.name == values["name"] for model in models):
            msg = f"{source}: {key}.name: {values['name']!r} is used twice; names must be unique"
            raise ConfigError(msg)
        hedge = None
        if "hedge" in raw:
            table = _table(raw, "hedge", source, key)
            checked = _checked(table, schema.HEDGE, source, f"{key}.hedge")
            hedge = _build(HedgeConfig, checked, source, f"{key}.hedge")
        models.append(_build(ModelSettings, {**values, "hedge": hedge}, source, key))
    return tuple(models)


def _provider(
    raw: Mapping[str, object],
    breaker_defaults: Mapping[str, object],
    retry_defaults: Mapping[str, object],
    source: str,
    key: str,
) -> ProviderSettings:
    values = _checked(
        raw, {**schema.PROVIDER, **schema.TIMEOUTS}, source, key, tables=_PROVIDER_TABLES
    )
    kind = values.get("kind")
    if kind not in PROVIDER_KINDS:
        problem = "required" if kind is None else f"unknown kind {kind!r}"
        msg = f"{source}: {key}.kind: {problem}; use one of {', '.join(PROVIDER_KINDS)}"
        raise ConfigError(msg)
    if "model" not in values and kind != "mock":
        msg = f"{source}: {key}.model: required for kind {kind!r}"
        raise ConfigError(msg)
    own_breaker = _table(raw, "breaker", source, key)
    own_retry = _table(raw, "retry", source, key)
    breaker = {
        **breaker_defaults,
        **_checked(own_breaker, schema.CIRCUIT, source, f"{key}.breaker"),
    }
    retry = {**retry_defaults, **_checked(own_retry, schema.RETRY, source, f"{key}.retry")}
    timeouts = {k: v for k, v in values.items() if k in schema.TIMEOUTS}
    capabilities = None
    if "capabilities" in raw:
        declared = _checked(
            _table(raw, "capabilities", source, key),
            schema.CAPABILITIES,
            source,
            f"{key}.capabilities",
        )
        flags = {name: bool(value) for name, value in declared.items()}
        capabilities = replace(Capabilities.for_kind(str(kind)), **flags)
    return _build(
        ProviderSettings,
        {
            **{k: v for k, v in values.items() if k in schema.PROVIDER},
            "name": values.get("name", kind),
            "timeouts": _build(TimeoutConfig, timeouts, source, key),
            "breaker": _build(CircuitConfig, breaker, source, f"{key}.breaker"),
            "retry": _build(RetryConfig, retry, source, f"{key}.retry"),
            "capabilities": capabilities,
        },
        source,
        key,
    )


def _checked(
    table: Mapping[str, object],
    checks: Mapping[str, schema.Check],
    source: str,
    key: str,
    *,
    tables: frozenset[str] = frozenset(),
) -> dict[str, object]:
    """The scalar values of a table, each checked; unknown keys are errors."""
    values: dict[str, object] = {}
    for name, value in table.items():
        if name in tables:
            continue
        if name not in checks:
            expected = ", ".join(sorted({*checks, *tables}))
            msg = f"{source}: {schema.key_path(key, name)}: unknown key; expected one of {expected}"
            raise ConfigError(msg)
        try:
            values[name] = checks[name](value)
        except ValueError as exc:
            msg = f"{source}: {schema.key_path(key, name)}: {exc}"
            raise ConfigError(msg) from None
    return values


def _table(parent: Mapping[str, object], name: str, source: str, key: str) -> dict[str, object]:
    value = parent.get(name, {})
    if not isinstance(value, dict):
        msg = f"{source}: {schema.key_path(key, name)}: must be a table, got {show(value)}"
        raise ConfigError(msg)
    return value


def _build(cls: type[T], values: Mapping[str, object], source: str, key: str) -> T:
    """Build a settings dataclass from checked values; its own cross-field validation
    names the field ("<Class>.<field> ..."), we add file and key."""
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        text = _printable(str(exc))
        prefix = f"{cls.__name__}."
        if text.startswith(prefix):
            field_name, _, problem = text.removeprefix(prefix).partition(" ")
            msg = f"{source}: {key}.{field_name}: {problem}"
        else:
            msg = f"{source}: {key}: {text}"
        raise ConfigError(msg) from None


def _printable(text: str) -> str:
    """``text`` with every line break or control character escaped: messages are one line."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)
