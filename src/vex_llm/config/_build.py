"""From checked ``Settings`` to a stack: keys present, providers made, circuits shared."""

from __future__ import annotations

from .._capabilities import Capabilities
from .._provider import LlmProvider
from ..policies import ResilienceStack, stack
from ..providers import KINDS, AnthropicProvider, MockProvider, OpenAIProvider, ProviderKind
from ..stores import CircuitStore
from . import _schema as schema
from ._load import PROVIDER_KINDS, ConfigError, ProviderSettings, Settings


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
    if kind.wire == "mock":
        return MockProvider(name=provider.name, model=provider.model or "mock-1")
    cls = AnthropicProvider if kind.wire == "anthropic" else OpenAIProvider
    if kind.wire == "anthropic":
        assert provider.model is not None  # parse() requires it for real providers
    return cls(
        provider.model or "",
        base_url=provider.base_url or kind.base_url,
        api_key_env=provider.api_key_env or kind.key_env,
        name=provider.name,
        timeout=provider.timeouts.attempt_timeout or 60.0,
        capabilities=Capabilities.for_kind(kind.name),
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
