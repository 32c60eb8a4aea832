"""The fake server's provider-like rate limit: 429 past the quota, and rate-limit headers
in each wire's format on every answer."""

from __future__ import annotations

from datetime import datetime

import httpx2
import pytest
from _fake_kit import PATHS, WIRES, Wire, body

from vex_llm.testing import FakeLLMServer, ManualClock

pytestmark = pytest.mark.fake_server


@pytest.mark.parametrize("wire", WIRES)
async def test_the_quota_answers_429_past_the_limit_with_headers(wire: Wire) -> None:
    """2 per 60 s: two answers, then a 429 with retry-after; headers on all three."""
    clock = ManualClock()
    async with FakeLLMServer(seed=0, clock=clock) as server:
        quota = server.limit(2, window=60.0)
        async with httpx2.AsyncClient(base_url=server.url) as http:
            answers = [await http.post(PATHS[wire], json=body(wire)) for _ in range(3)]
            clock.advance(30.0)
            later = await http.post(PATHS[wire], json=body(wire))
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].headers["retry-after"] == "30"
    assert later.status_code == 200
    assert quota.refused == 1
    if wire == "openai":
        assert answers[0].headers["x-ratelimit-limit-requests"] == "2"
        assert answers[0].headers["x-ratelimit-remaining-requests"] == "1"
        assert answers[1].headers["x-ratelimit-reset-requests"] == "60.000s"
    else:
        assert answers[1].headers["anthropic-ratelimit-requests-remaining"] == "0"
        reset = datetime.fromisoformat(answers[1].headers["anthropic-ratelimit-requests-reset"])
        assert reset.tzinfo is not None


async def test_without_a_quota_no_rate_limit_headers_are_sent(server: FakeLLMServer) -> None:
    """The quota is opt-in: plain answers carry no rate-limit headers."""
    async with httpx2.AsyncClient(base_url=server.url) as http:
        answer = await http.post(PATHS["openai"], json=body("openai"))
    assert not [name for name in answer.headers if "ratelimit" in name]
