"""From checked ``Settings`` to a stack: keys present, providers made, circuits shared."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType, TracebackType
from typing import Self

from .._capabilities import Capabilities
from .._provider import LlmProvider
from ..policies import ResilienceStack, ResilientProvider, StreamBreak, stack
from ..providers import KINDS, AnthropicProvider, MockProvider, OpenAIProvider, ProviderKind
from ..stores import CircuitStore, MemoryStore
from . import _schema as schema
from ._load import PROVIDER_KINDS, ConfigError, ModelSettings, ProviderSettings, Settings


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
    kind = KINDS[provider.kind]
    capabilities = provider.capabilities or Capabilities.for_kind(kind.name)
    if kind.wire == "mock":
        return MockProvider(
            name=provider.name, model=provider.model or "mock-1", capabilities=capabilities
        )
    cls = AnthropicProvider if kind.wire == "anthropic" else OpenAIProvider
    if kind.wire == "anthropic":
        assert provider.model is not None  # parse() requires it for real providers
    return cls(
        provider.model or "",
        base_url=provider.base_url or kind.base_url,
        api_key_env=provider.api_key_env or kind.key_env,
        name=provider.name,
        timeout=provider.timeouts.attempt_timeout or 60.0,
        capabilities=capabilities,
    )


def missing_key(provider: ProviderSettings) -> str | None:
    """The environment variable a provider needs a key from and that is unset or empty.

    A provider needs a key when its config names ``api_key_env``, or when it is a hosted
    kind (``openai``, ``anthropic``, ``deepseek``, ``mistral``, ``groq``, ``openrouter``,
    ``together``) without a ``base_url`` of its own: a ``base_url`` points at your own
    server, which may need none. ``mock``, ``ollama``, ``vllm`` and ``llamacpp`` need none
    (``ProviderKind.missing_key``).

    Args:
        provider: The entry.

    Returns:
        The variable to set, or ``None`` when nothing is missing.
    """
    # An unknown kind (refused by ``check``) needs only the variable its entry names.
    kind = KINDS.get(provider.kind) or ProviderKind(name=provider.kind, wire="openai")
    return kind.missing_key(base_url=provider.base_url, api_key_env=provider.api_key_env)


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

    def __init__(self, built: ResilienceStack, *, store: CircuitStore) -> None:
        super().__init__(built.outer, built.circuits)
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

    One ``vex_llm.stack()`` call (deadline -> fallback -> per provider: retry -> circuit
    breaker -> attempt timeout -> provider), each provider with its own circuit, retry and
    timeout settings (``stack()``'s ``provider_*`` mappings).
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
    providers = [_bare(settings, index, entry) for index, entry in enumerate(settings.providers)]
    entries = list(zip(providers, settings.providers, strict=True))
    built = stack(
        providers,
        deadline=settings.deadline,
        context_windows={
            bare: entry.max_context_tokens
            for bare, entry in entries
            if entry.max_context_tokens is not None
        },
        store=owned or store,
        provider_timeouts={bare: entry.timeouts for bare, entry in entries},
        provider_retry={bare: entry.retry for bare, entry in entries},
        provider_circuits={bare: entry.breaker for bare, entry in entries},
    )
    return built if owned is None else _ConfiguredStack(built, store=owned)


def _bare(settings: Settings, index: int, entry: ProviderSettings) -> LlmProvider:
    """``build_provider``, with a provider's refusal of a hand-made entry as a ``ConfigError``."""
    try:
        return build_provider(entry)
    except ValueError as exc:
        msg = f"{_at(settings, f'provider[{index + 1}]')}{exc}"
        raise ConfigError(msg.splitlines()[0]) from None


class ModelStacks(Mapping[str, ResilienceStack]):
    """Public model names to their stacks, as ``build_models()`` made them.

    A read-only mapping in the config's order; ``aclose()`` (or ``async with``) closes
    every stack, then the ``RedisStore`` made from the config's ``redis``, if any.
    """

    def __init__(
        self, stacks: Mapping[str, ResilienceStack], *, store: CircuitStore | None = None
    ) -> None:
        self._stacks = MappingProxyType(dict(stacks))
        self._store = store

    def __getitem__(self, name: str) -> ResilienceStack:
        return self._stacks[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._stacks)

    def __len__(self) -> int:
        return len(self._stacks)

    def __repr__(self) -> str:
        return f"ModelStacks({', '.join(self._stacks)})"

    @property
    def circuits(self) -> Mapping[str, ResilientProvider]:
        """One circuit-breaker layer per provider name (providers shared by models share
        one circuit state; this holds the first model's layer for each)."""
        found: dict[str, ResilientProvider] = {}
        for built in self._stacks.values():
            for name, circuit in built.circuits.items():
                found.setdefault(name, circuit)
        return MappingProxyType(found)

    async def aclose(self) -> None:
        """Close every stack (its providers' connections), then the owned store."""
        try:
            for built in self._stacks.values():
                await built.aclose()
        finally:
            if self._store is not None:
                await self._store.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def build_models(
    settings: Settings, *, store: CircuitStore | None = None, require_keys: bool = True
) -> ModelStacks:
    """Assemble one stack per public model name, as the gateway serves them.

    Each ``[[model]]`` is one ``vex_llm.stack()`` call over its providers in order, with
    each provider's own circuit, retry and timeout settings (as in ``build()``), the
    model's ``deadline`` (else the file's), ``hedge`` and ``stream_break``
    (``"continue"`` is the gateway's own policy: the stack gets ``"raise"``, and the
    gateway continues the answer on a prefill-capable provider). With no ``[[model]]``
    table each provider is served under its own name, alone, with the file's deadline.
    Models that list the same provider share its circuit state (one circuit per
    upstream), each with its own connection. Nothing touches the network here.

    Args:
        settings: The loaded config.
        store: Where circuit state lives (default: a ``RedisStore`` on the config's
            ``redis`` URL, which ``ModelStacks.aclose`` closes; with no ``redis``, one
            ``MemoryStore`` shared by every model).
        require_keys: Whether a provider's missing key is an error (default true).

    Returns:
        The stacks by public model name, in the config's order.

    Raises:
        ConfigError: As ``build()``, and for a model naming an unknown provider in
            settings made in code.
    """
    check(settings, require_keys=require_keys)
    indexed = {entry.name: (index, entry) for index, entry in enumerate(settings.providers)}
    models = settings.models or tuple(
        ModelSettings(name=entry.name, providers=(entry.name,)) for entry in settings.providers
    )
    for number, model in enumerate(models, start=1):
        unknown = [name for name in model.providers if name not in indexed]
        if unknown or not model.providers:
            where = _at(settings, f"model[{number}].providers")
            problem = f"no provider named {unknown[0]!r}" if unknown else "lists no provider"
            raise ConfigError(f"{where}{problem}")
    owned = _redis_store(settings) if store is None and settings.redis is not None else None
    shared = owned or store or MemoryStore()
    stacks = {model.name: _model_stack(settings, model, indexed, shared) for model in models}
    return ModelStacks(stacks, store=owned)


def _model_stack(
    settings: Settings,
    model: ModelSettings,
    indexed: Mapping[str, tuple[int, ProviderSettings]],
    store: CircuitStore,
) -> ResilienceStack:
    """One model's ``stack()`` call; its providers in order, each with its own settings."""
    entries: list[tuple[LlmProvider, ProviderSettings]] = []
    for name in model.providers:
        index, entry = indexed[name]
        entries.append((_bare(settings, index, entry), entry))
    policy: StreamBreak = "restart" if model.stream_break == "restart" else "raise"
    return stack(
        [bare for bare, _ in entries],
        deadline=model.deadline if model.deadline is not None else settings.deadline,
        hedge=model.hedge,
        on_stream_break=policy,
        context_windows={
            bare: entry.max_context_tokens
            for bare, entry in entries
            if entry.max_context_tokens is not None
        },
        store=store,
        provider_timeouts={bare: entry.timeouts for bare, entry in entries},
        provider_retry={bare: entry.retry for bare, entry in entries},
        provider_circuits={bare: entry.breaker for bare, entry in entries},
    )
