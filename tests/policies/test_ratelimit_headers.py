"""The providers' rate-limit headers: parsing both vendors' formats, ignoring garbage, and
the limiter slowing down before the 429 over a real loopback HTTP provider."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from _policies import collect, request
from hypothesis import given
from hypothesis import strategies as st

from vex_llm import (
    AnthropicProvider,
    OpenAIProvider,
    RateBudget,
    RateLimitConfig,
    RateLimited,
    RateLimitedProvider,
)
from vex_llm.policies._ratelimit_headers import Hint, go_duration, read_hints
from vex_llm.providers import HttpProvider
from vex_llm.testing import FakeLLMServer, ManualClock

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6m0s", 360.0),
        ("12ms", 0.012),
        ("1s", 1.0),
        ("1.5s", 1.5),
        ("1h2m3s", 3723.0),
        ("0s", 0.0),
        ("250us", 0.00025),
        ("20", 20.0),
    ],
)
def test_go_durations_are_read(text: str, seconds: float) -> None:
    """OpenAI's resets are Go durations (and some servers send plain seconds)."""
    assert go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "6m0", "m6s", "-1s", "1s2", "nan", "inf", "1e400s"])
def test_bad_go_durations_are_none(text: str) -> None:
    """Anything that is not a Go duration is no duration."""
    assert go_duration(text) is None


def test_openai_headers_give_both_hints() -> None:
    """x-ratelimit-* for requests and tokens: remaining, limit, reset."""
    headers = {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "59",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-limit-tokens": "150000",
        "x-ratelimit-remaining-tokens": "149984",
        "x-ratelimit-reset-tokens": "6m0s",
    }
    assert read_hints(headers, now=NOW) == (
        Hint("requests", 59.0, 60.0, 1.0),
        Hint("tokens", 149984.0, 150000.0, 360.0),
    )


def test_anthropic_headers_give_both_hints_with_rfc3339_resets() -> None:
    """anthropic-ratelimit-*: RFC 3339 resets become seconds from now (input-tokens when
    tokens-* is absent)."""
    at = datetime.fromtimestamp(NOW, UTC) + timedelta(seconds=30)
    headers = {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": at.isoformat().replace("+00:00", "Z"),
        "anthropic-ratelimit-input-tokens-limit": "40000",
        "anthropic-ratelimit-input-tokens-remaining": "39000",
        "anthropic-ratelimit-input-tokens-reset": at.isoformat(),
    }
    assert read_hints(headers, now=NOW) == (
        Hint("requests", 0.0, 50.0, pytest.approx(30.0)),  # type: ignore[arg-type]  # approx compares equal
        Hint("tokens", 39000.0, 40000.0, pytest.approx(30.0)),  # type: ignore[arg-type]  # as above
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-ratelimit-remaining-requests": "-1"},  # Azure
        {"x-ratelimit-remaining-requests": "0", "x-ratelimit-limit-requests": "0"},  # Azure
        {"x-ratelimit-remaining-requests": "lots"},
        {"x-ratelimit-remaining-requests": "nan"},
        {"anthropic-ratelimit-requests-remaining": "inf"},
        {"x-ratelimit-remaining-tokens": "1", "x-ratelimit-limit-tokens": "-5"},
    ],
)
def test_garbage_headers_give_no_hint(headers: dict[str, str]) -> None:
    """Missing, negative, non-finite or zero-limit headers are ignored."""
    assert read_hints(headers, now=NOW) == ()


def test_a_bad_reset_keeps_the_remaining_count() -> None:
    """An unreadable reset (or a date without a zone) drops only the reset."""
    headers = {
        "x-ratelimit-remaining-requests": "3",
        "x-ratelimit-reset-requests": "tomorrow",
        "anthropic-ratelimit-tokens-remaining": "1000",
        "anthropic-ratelimit-tokens-reset": "2030-01-01T00:00:00",
    }
    assert read_hints(headers, now=NOW) == (
        Hint("requests", 3.0, None, None),
        Hint("tokens", 1000.0, None, None),
    )


def test_resets_are_capped() -> None:
    """A reset far away (a skewed clock, a daily limit) stalls for at most ten minutes."""
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "100h"}
    assert read_hints(headers, now=NOW)[0].reset == 600.0


@given(
    st.dictionaries(
        st.sampled_from(
            _NAMES := [
                "x-ratelimit-limit-requests",
                "x-ratelimit-remaining-requests",
                "x-ratelimit-reset-requests",
                "x-ratelimit-remaining-tokens",
                "x-ratelimit-reset-tokens",
                "anthropic-ratelimit-requests-remaining",
                "anthropic-ratelimit-requests-reset",
                "anthropic-ratelimit-tokens-limit",
                "anthropic-ratelimit-tokens-remaining",
                "anthropic-ratelimit-tokens-reset",
            ]
        ),
        st.text(max_size=30),
    )
)
def test_any_header_text_is_read_without_raising(headers: dict[str, str]) -> None:
    """Whatever the values, reading never raises and every hint is sane."""
    for hint in read_hints(headers, now=NOW):
        assert hint.remaining >= 0
        assert hint.limit is None or hint.limit > 0
        assert hint.reset is None or 0 <= hint.reset <= 600


# -- over a real loopback provider ------------------------------------------------------

ANSWER = {
    "id": "c1",
    "object": "chat.completion",
    "model": "m",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}


@asynccontextmanager
async def upstream(status: int, headers: dict[str, str], hits: list[int]) -> AsyncIterator[str]:
    """A loopback OpenAI-like server answering every request with ``status`` and ``headers``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        await reader.readexactly(length)
        hits.append(1)
        body = json.dumps(ANSWER if status == 200 else {"error": {"message": "slow"}}).encode()
        lines = [f"HTTP/1.1 {status} X", "content-type: application/json", "connection: close"]
        lines += [f"content-length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.close()
        await server.wait_closed()


def _limiter(url: str, clock: ManualClock) -> RateLimitedProvider:
    provider = OpenAIProvider("m", base_url=url, api_key="k")
    config = RateLimitConfig(
        budget=RateBudget(requests=100, tokens_per_minute=100_000), max_wait=0.0
    )
    return RateLimitedProvider(provider, config, clock=clock, sleep=clock.sleep)


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only when told."""
    return ManualClock()


async def test_remaining_zero_slows_down_before_the_429(clock: ManualClock) -> None:
    """The provider says no request is left: the next call is refused locally, unsent."""
    hits: list[int] = []
    headers = {
        "x-ratelimit-limit-requests": "100",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "6s",
    }
    async with upstream(200, headers, hits) as url, _limiter(url, clock) as llm:
        await llm.complete(request())
        with pytest.raises(RateLimited) as caught:
            await llm.complete(request())
    assert caught.value.code == "local_rate_limit"
    assert caught.value.retry_after == pytest.approx(0.6)
    assert len(hits) == 1


async def test_a_429_with_headers_tightens_the_bucket_too(clock: ManualClock) -> None:
    """The provider's own 429 goes up as it is, and its headers still reach the limiter."""
    hits: list[int] = []
    headers = {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "30s"}
    async with upstream(429, headers, hits) as url, _limiter(url, clock) as llm:
        with pytest.raises(RateLimited) as first:
            await llm.complete(request())
        with pytest.raises(RateLimited) as second:
            await llm.complete(request())
    assert first.value.code != "local_rate_limit"
    assert second.value.code == "local_rate_limit"
    # 30 s for the provider's next token, then ours refill at our own rate.
    assert 30.0 <= (second.value.retry_after or 0) <= 31.0
    assert len(hits) == 1


async def test_garbage_headers_never_break_a_call(clock: ManualClock) -> None:
    """Azure-style -1 and 0, and unreadable resets: calls go on as the budget allows."""
    hits: list[int] = []
    headers = {
        "x-ratelimit-limit-requests": "0",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-remaining-tokens": "-1",
        "x-ratelimit-reset-tokens": "whenever",
    }
    async with upstream(200, headers, hits) as url, _limiter(url, clock) as llm:
        for _ in range(3):
            assert (await llm.complete(request())).content == "hi"
    assert len(hits) == 3


@pytest.mark.fake_server
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_the_headers_keep_a_loose_budget_below_the_providers_429(
    kind: str, stream: bool, clock: ManualClock
) -> None:
    """Our budget says 100 a minute, the provider 10: its headers stop us at 10, no 429."""
    async with FakeLLMServer(seed=0) as server:
        quota = server.limit(10, window=60.0)
        provider: HttpProvider = (
            OpenAIProvider("m", base_url=server.base_url, api_key="k")
            if kind == "openai"
            else AnthropicProvider("m", base_url=server.anthropic_base_url, api_key="k")
        )
        config = RateLimitConfig(budget=RateBudget(requests=100), max_wait=0.0)
        async with RateLimitedProvider(provider, config, clock=clock) as llm:
            outcomes = []
            for _ in range(15):
                try:
                    if stream:
                        await collect(llm.stream(request()))
                    else:
                        await llm.complete(request())
                    outcomes.append("ok")
                except RateLimited as exc:
                    outcomes.append(exc.code or "429")
    assert outcomes == ["ok"] * 10 + ["local_rate_limit"] * 5
    assert quota.refused == 0
