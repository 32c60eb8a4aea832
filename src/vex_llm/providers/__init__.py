"""Providers: the mock, and the HTTP providers for the OpenAI-compatible and Anthropic APIs.

Also the checks the providers apply to what users paste, for config and CLI code to reuse:
``validate_base_url`` and ``mask_url``; and ``HttpLimits``, the size limits of the HTTP
providers' bodies, streams and connection pool.
"""

from __future__ import annotations

from .._urls import mask_url
from ._body import HttpLimits
from ._urls import validate_base_url
from .anthropic import AnthropicProvider
from .mock import MockProvider
from .openai import PRESETS, OpenAIProvider, Preset

__all__ = [
    "PRESETS",
    "AnthropicProvider",
    "HttpLimits",
    "MockProvider",
    "OpenAIProvider",
    "Preset",
    "mask_url",
    "validate_base_url",
]
