"""Fixtures for the transport tests: a FakeLLMServer in a thread of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from _redis_server import RedisServer
from vex_llm.testing import FakeLLMServer


@pytest.fixture
def fake_llm_server() -> Iterator[FakeLLMServer]:
    """A running ``FakeLLMServer`` (seed 0) on 127.0.0.1, stopped after the test."""
    with FakeLLMServer(seed=0) as server:
        yield server


@pytest.fixture
async def server() -> AsyncIterator[FakeLLMServer]:
    """A fake server in the test's own event loop."""
    async with FakeLLMServer(seed=0) as fake:
        yield fake


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A redis-server of this module's own on a free loopback port; its URL."""
    server = RedisServer()
    server.start()
    yield server.url
    server.close()
