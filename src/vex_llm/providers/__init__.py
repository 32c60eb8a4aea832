"""Providers: the mock, and the HTTP providers for the OpenAI-compatible and Anthropic APIs."""

from __future__ import annotations

from .anthropic import AnthropicProvider
from .mock import MockProvider
from .openai import PRESETS, OpenAIProvider, Preset

__all__ = ["PRESETS", "AnthropicProvider", "MockProvider", "OpenAIProvider", "Preset"]
