"""The one table of provider kinds: wire, base URL, key variable, default model, local or hosted.

Config files (``kind = "groq"``), the CLI (``--provider groq``) and
``OpenAIProvider.preset("groq", ...)`` all read this table, so a new OpenAI-compatible
service is one row here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

Wire = Literal["openai", "anthropic", "mock"]
"""The API a kind speaks: OpenAI Chat Completions, Anthropic Messages, or the in-process mock."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderKind:
    """One kind of provider: what it speaks, where it lives, where its key comes from.

    Args:
        name: The kind's name (``kind = ...`` in a config, ``--provider`` on the command
            line); also the provider's default name.
        wire: The API it speaks (``"mock"``: no network).
        base_url: Its API root (``None``: the wire's own default, as the provider class
            chooses it: OpenAI's or Anthropic's, or ``$OPENAI_BASE_URL``).
        key_env: The environment variable holding its key (``None``: none is read).
        default_model: The model used when none is given (``None``: the server serves the
            one it was started with, so the user must name it; the mock needs none).
        local: Whether it runs on the user's machine and so needs no key (a local server
            may still be given one through ``key_env``).
    """

    name: str
    wire: Wire
    base_url: str | None = None
    key_env: str | None = None
    default_model: str | None = None
    local: bool = False

    def needed_key(self, *, base_url: str | None, api_key_env: str | None) -> str | None:
        """The environment variable a provider of this kind cannot work without.

        A named ``api_key_env`` is always needed. Otherwise a hosted kind needs its own
        variable unless it was pointed at a ``base_url`` of the user's (which may need no
        key); a local kind needs none.

        Args:
            base_url: The provider's own base URL, if it was given one.
            api_key_env: The variable its settings name, if any.

        Returns:
            The variable's name, or ``None`` when no key is required.
        """
        if api_key_env is not None:
            return api_key_env
        if self.local or base_url is not None:
            return None
        return self.key_env

    def missing_key(self, *, base_url: str | None, api_key_env: str | None) -> str | None:
        """The needed variable (``needed_key``) when it is unset or empty, else ``None``."""
        name = self.needed_key(base_url=base_url, api_key_env=api_key_env)
        return None if name is None or os.environ.get(name) else name


def _table(*kinds: ProviderKind) -> Mapping[str, ProviderKind]:
    return MappingProxyType({kind.name: kind for kind in kinds})


KINDS: Final = _table(
    ProviderKind(
        name="openai", wire="openai", key_env="OPENAI_API_KEY", default_model="gpt-4o-mini"
    ),
    ProviderKind(
        name="anthropic",
        wire="anthropic",
        key_env="ANTHROPIC_API_KEY",
        default_model="claude-3-5-haiku-latest",
    ),
    ProviderKind(name="mock", wire="mock", local=True),
    ProviderKind(
        name="deepseek",
        wire="openai",
        base_url="https://api.deepseek.com/v1",
        key_env="DEEPSEEK_API_KEY",
        default_model="deepseek-chat",
    ),
    ProviderKind(
        name="mistral",
        wire="openai",
        base_url="https://api.mistral.ai/v1",
        key_env="MISTRAL_API_KEY",
        default_model="mistral-small-latest",
    ),
    ProviderKind(
        name="groq",
        wire="openai",
        base_url="https://api.groq.com/openai/v1",
        key_env="GROQ_API_KEY",
        default_model="llama-3.1-8b-instant",
    ),
    ProviderKind(
        name="openrouter",
        wire="openai",
        base_url="https://openrouter.ai/api/v1",
        key_env="OPENROUTER_API_KEY",
        default_model="openai/gpt-4o-mini",
    ),
    ProviderKind(
        name="together",
        wire="openai",
        base_url="https://api.together.xyz/v1",
        key_env="TOGETHER_API_KEY",
        default_model="meta-llama/Llama-3.3-70B-Instruct-Turbo",
    ),
    ProviderKind(
        name="ollama",
        wire="openai",
        base_url="http://127.0.0.1:11434/v1",
        default_model="llama3.2",
        local=True,
    ),
    # vLLM has no default model: it serves the one it was started with.
    ProviderKind(
        name="vllm",
        wire="openai",
        base_url="http://127.0.0.1:8000/v1",
        key_env="VLLM_API_KEY",
        local=True,
    ),
    # llama.cpp's server answers with its one model whatever the name.
    ProviderKind(
        name="llamacpp",
        wire="openai",
        base_url="http://127.0.0.1:8080/v1",
        key_env="LLAMA_API_KEY",
        default_model="default",
        local=True,
    ),
)
"""Every kind by name, in the order users see them listed: the two wires, the mock, then
the OpenAI-compatible services (hosted first, then local servers)."""
