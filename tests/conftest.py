"""Shared fixtures: every test runs with no real provider keys or endpoints in its environment."""

from __future__ import annotations

import pytest

from vex_llm.testing import ManualClock

_PROVIDER_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "DEEPSEEK_API_KEY",
    "MISTRAL_API_KEY",
    "GROQ_API_KEY",
    "OPENROUTER_API_KEY",
    "TOGETHER_API_KEY",
)


@pytest.fixture(autouse=True)
def _clean_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees a real key or endpoint, whatever the machine's environment holds."""
    for name in _PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def clock() -> ManualClock:
    """A hand-driven clock starting at 1000 s (tests move time with ``advance``)."""
    return ManualClock(1000.0)
