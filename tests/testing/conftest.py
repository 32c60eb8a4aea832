"""Fixtures for the test-tool tests: a fake server per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from vex_llm.testing import FakeLLMServer


@pytest.fixture
async def server() -> AsyncIterator[FakeLLMServer]:
    """A fake LLM server in the test's event loop, stopped after the test."""
    async with FakeLLMServer(seed=0) as running:
        yield running
