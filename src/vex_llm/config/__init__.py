"""Configuration files: providers, their circuits, retries, timeouts and fallback order.

A config is TOML. Every problem is reported as one ``ConfigError`` naming the file, the
key and what is wrong, e.g. ``vex.toml: provider[2].breaker.failure_threshold: must be an
integer >= 1, got 0``. Loading never touches the network and never reads a key's value:
only the *name* of the environment variable that holds it is kept.

Limits (the same everywhere a setting of that kind appears):

- Durations are numbers of seconds in (0, ``MAX_SECONDS``] = (0, 1e7], about 115 days;
  retry delays, ``max_retry_after`` and ``budget_floor`` may also be 0. NaN, infinities,
  negative numbers and booleans are refused.
- Counts (thresholds, window sizes, attempts, ``max_context_tokens``) are integers in
  [1, ``MAX_COUNT``] = [1, 1e9]; ``true`` is not an integer.
- ``base_url`` is an ``http://`` or ``https://`` URL with a host (port 1-65535); ``redis``
  a ``redis://``, ``rediss://`` or ``unix://`` URL. Credentials are masked in messages.
- Every provider but ``mock`` needs a ``model``. ``build()`` refuses a provider whose key
  is missing before any call: one named by ``api_key_env``, or the kind's own variable
  (``OPENAI_API_KEY``, ``GROQ_API_KEY``, ...) for a hosted kind without a ``base_url``;
  ``mock``, ``ollama``, ``vllm`` and ``llamacpp`` need none.
- With ``redis`` set, ``build()`` shares every circuit through a ``RedisStore`` on it
  (the ``redis`` extra), so a circuit held open by ``vex-llm circuits --open`` is skipped.

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
    capabilities = { prefill = true, vision = false }   # overrides the kind's defaults
    [provider.breaker]
    failure_threshold = 3

    [[model]]                       # a public model name (the gateway's); optional
    name = "chat"
    providers = ["primary", "backup"]   # [[provider]] names, in fallback order
    deadline = 20.0                 # default: the top-level deadline
    stream_break = "raise"          # "raise", "restart" or "continue" (gateway; else "raise")
    hedge = { delay = 1.5 }         # HedgeConfig: delay, quantile, window, min_samples

``build()`` makes one stack over every ``[[provider]]`` (the CLI's); ``build_models()``
one per ``[[model]]`` (each provider under its own name when there is none).
"""

from __future__ import annotations

from .._limits import MAX_COUNT, MAX_SECONDS
from ._build import ModelStacks, build, build_models, build_provider, check, missing_key
from ._load import (
    LOCAL_KINDS,
    PROVIDER_KINDS,
    ConfigError,
    ModelSettings,
    ProviderSettings,
    Settings,
    load,
    parse,
)
from ._schema import MAX_BACKOFF_MULTIPLIER

__all__ = [
    "LOCAL_KINDS",
    "MAX_BACKOFF_MULTIPLIER",
    "MAX_COUNT",
    "MAX_SECONDS",
    "PROVIDER_KINDS",
    "ConfigError",
    "ModelSettings",
    "ModelStacks",
    "ProviderSettings",
    "Settings",
    "build",
    "build_models",
    "build_provider",
    "check",
    "load",
    "missing_key",
    "parse",
]
