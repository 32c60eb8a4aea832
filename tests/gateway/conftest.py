"""Fixtures for the gateway tests: fake upstreams and the gateway on a free loopback port."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
import uvicorn

from vex_llm import LlmProvider, OpenAIProvider, RetryConfig, stack
from vex_llm.gateway import create_app
from vex_llm.testing import FakeLLMServer

Serve = Callable[..., AbstractAsyncContextManager[str]]


@pytest.fixture
async def upstream() -> AsyncIterator[FakeLLMServer]:
    """A fake LLM server in the test's event loop."""
    async with FakeLLMServer(seed=0) as running:
        yield running


def upstream_provider(server: FakeLLMServer, model: str) -> OpenAIProvider:
    """An OpenAI-wire provider for ``model`` on ``server``, with short limits."""
    return OpenAIProvider(
        model,
        name=model,
        base_url=server.base_url,
        timeout=2.0,
        connect_timeout=1.0,
        headers_timeout=1.0,
        first_token_timeout=1.0,
        idle_timeout=1.0,
    )


def fallback_stack(server: FakeLLMServer) -> LlmProvider:
    """``primary-gpt`` then ``backup-gpt``, one attempt each."""
    return stack(
        [upstream_provider(server, "primary-gpt"), upstream_provider(server, "backup-gpt")],
        retry=RetryConfig(attempts=1),
        deadline=5.0,
    )


@asynccontextmanager
async def running_gateway(
    models: Mapping[str, LlmProvider], *, keys: Sequence[str] = (), **limits: int
) -> AsyncIterator[str]:
    """The gateway on uvicorn on a free 127.0.0.1 port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(models, keys=keys, **limits), lifespan="off", log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.001)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
        for provider in models.values():
            await provider.aclose()


@pytest.fixture
def serve() -> Serve:
    """Start a gateway over the given models (an async context manager yielding its URL)."""
    return running_gateway
