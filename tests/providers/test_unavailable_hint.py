"""A 503 with Retry-After keeps the hint on NotAvailable, for both wire formats."""

from __future__ import annotations

import pytest

from vex_llm import AnthropicProvider, LlmProvider, NotAvailable, OpenAIProvider
from vex_llm.testing import FakeLLMServer, Fault


@pytest.mark.fake_server
@pytest.mark.parametrize("wire", ["openai", "anthropic"])
async def test_503_retry_after_reaches_not_available(wire: str) -> None:
    """503 + Retry-After: 12 -> NotAvailable(status=503, retry_after=12.0)."""
    async with FakeLLMServer() as server:
        server.inject(Fault.error(503, retry_after=12))
        provider: LlmProvider
        if wire == "openai":
            provider = OpenAIProvider("m", base_url=server.base_url, api_key_env=None)
        else:
            provider = AnthropicProvider("m", base_url=server.anthropic_base_url, api_key_env=None)
        async with provider:
            with pytest.raises(NotAvailable) as info:
                await provider.ask("hi")
    assert info.value.status == 503
    assert info.value.retry_after == 12.0
