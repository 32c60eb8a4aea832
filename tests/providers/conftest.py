"""Fixtures for provider tests: a fake server per test and providers pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from _provider_kit import Wire, make_provider

from vex_llm.providers._base import HttpProvider
from vex_llm.testing import FakeLLMServer


@pytest.fixture
async def server() -> AsyncIterator[FakeLLMServer]:
    """A fake LLM server in the test's event loop, stopped after the test."""
    async with FakeLLMServer(seed=0) as running:
        yield running


@pytest.fixture(params=["openai", "anthropic"])
def wire(request: pytest.FixtureRequest) -> Wire:
    """Each wire format in turn."""
    value: Wire = request.param
    return value


@pytest.fixture
async def provider(wire: Wire, server: FakeLLMServer) -> AsyncIterator[HttpProvider]:
    """The provider for ``wire``, pointed at ``server``, closed after the test."""
    async with make_provider(wire, server) as llm:
        yield llm
