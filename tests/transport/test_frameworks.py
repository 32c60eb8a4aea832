"""A pydantic-ai agent whose OpenAI model runs over AsyncResilientTransport; hedging."""

from __future__ import annotations

import httpx2
import openai
import pytest
from pydantic_ai import Agent
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from vex_llm import HedgeConfig, RetryConfig
from vex_llm.testing import FakeLLMServer, Fault
from vex_llm.transport import AsyncResilientTransport, Upstream

pytestmark = pytest.mark.fake_server


async def test_a_pydantic_ai_agent_falls_back_over_the_transport(server: FakeLLMServer) -> None:
    """The agent's model gets 503s from its primary; the transport answers from the backup
    and the agent never sees the failure."""
    server.inject(Fault.error(503))
    async with FakeLLMServer(seed=0) as backup:
        transport = AsyncResilientTransport([Upstream(backup.base_url)])
        async with httpx2.AsyncClient(transport=transport) as http:
            provider = OpenAIProvider(base_url=server.base_url, api_key="sk-x", http_client=http)
            agent = Agent(OpenAIChatModel("fake-1", provider=provider))
            result = await agent.run("are you there?")
        assert result.output == "You said: are you there?"
        assert len(backup.journal) == 1
    assert len(server.journal) == 3  # the transport's 3 attempts; neither SDK nor agent retried


async def test_a_pydantic_ai_agent_streams_over_the_transport(server: FakeLLMServer) -> None:
    """A streamed agent run reads the whole answer through the transport."""
    async with httpx2.AsyncClient(transport=AsyncResilientTransport()) as http:
        provider = OpenAIProvider(base_url=server.base_url, api_key="sk-x", http_client=http)
        agent = Agent(OpenAIChatModel("fake-1", provider=provider))
        async with agent.run_stream("one two three") as run:
            text = await run.get_output()
    assert text == "You said: one two three"


async def test_hedging_answers_from_the_faster_upstream(server: FakeLLMServer) -> None:
    """With a hedge, a slow primary is raced by the backup, which answers first."""
    server.inject(Fault.latency(30.0))
    async with FakeLLMServer(seed=0) as backup:
        transport = AsyncResilientTransport(
            [Upstream(backup.base_url)],
            hedge=HedgeConfig(delay=0.05),
            retry=RetryConfig(attempts=1),
        )
        http = httpx2.AsyncClient(transport=transport)
        async with openai.AsyncOpenAI(
            base_url=server.base_url, api_key="sk-x", http_client=http
        ) as client:
            raw = await client.chat.completions.with_raw_response.create(
                model="fake-1",
                messages=[{"role": "user", "content": "hi"}],
            )
        assert raw.headers["x-vex-upstream"] == backup.base_url
        assert raw.parse().choices[0].message.content == "You said: hi"
