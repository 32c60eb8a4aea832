"""CachedProvider: what is a hit, what is stored, how long entries live, per-call control."""

from __future__ import annotations

import dataclasses

import pytest

from vex_llm import (
    CacheConfig,
    CachedProvider,
    DocumentPart,
    ImagePart,
    InvalidRequest,
    LlmRequest,
    LlmResponse,
    MemoryCache,
    Message,
    MockProvider,
    Reasoning,
    ResponseFormat,
    RetryConfig,
    ServerError,
    TextPart,
    Tool,
    ToolCall,
    ToolChoice,
    cache_control,
    collect,
    stack,
    tenant,
)
from vex_llm.testing import ManualClock

BASE = LlmRequest(
    [Message("system", "be brief"), Message("user", "what is a circuit breaker?")],
    model="m-1",
    max_tokens=100,
    temperature=0.0,
    tools=[Tool(name="lookup", description="look up", parameters={"type": "object"})],
)

VARIANTS: dict[str, LlmRequest] = {
    "message text": dataclasses.replace(
        BASE, messages=[Message("system", "be brief"), Message("user", "what is a breaker?")]
    ),
    "message role": dataclasses.replace(
        BASE, messages=[Message("user", "be brief"), Message("user", "what is a circuit breaker?")]
    ),
    "message parts": dataclasses.replace(
        BASE,
        messages=[
            Message("system", "be brief"),
            Message(
                "user",
                [TextPart("what is a circuit breaker?"), ImagePart(url="https://x.test/a.png")],
            ),
        ],
    ),
    "image bytes": dataclasses.replace(
        BASE,
        messages=[
            Message("system", "be brief"),
            Message(
                "user",
                [
                    TextPart("what is a circuit breaker?"),
                    DocumentPart(data=b"%PDF-2", media_type="application/pdf"),
                ],
            ),
        ],
    ),
    "part extra": dataclasses.replace(
        BASE,
        messages=[
            Message("system", "be brief"),
            Message(
                "user",
                [
                    TextPart(
                        "what is a circuit breaker?",
                        extra={"anthropic": {"cache_control": {"type": "ephemeral"}}},
                    )
                ],
            ),
        ],
    ),
    "assistant tool call": dataclasses.replace(
        BASE,
        messages=[
            *BASE.messages,
            Message("assistant", "", tool_calls=[ToolCall("c1", "lookup", "{}")]),
            Message("tool", "found", tool_call_id="c1"),
        ],
    ),
    "model": dataclasses.replace(BASE, model="m-2"),
    "max_tokens": dataclasses.replace(BASE, max_tokens=101),
    "top_p": dataclasses.replace(BASE, top_p=0.5),
    "stop": dataclasses.replace(BASE, stop=["\n"]),
    "tool description": dataclasses.replace(
        BASE, tools=[Tool(name="lookup", description="find", parameters={"type": "object"})]
    ),
    "tool schema": dataclasses.replace(
        BASE, tools=[Tool(name="lookup", description="look up", parameters={"type": "array"})]
    ),
    "no tools": dataclasses.replace(BASE, tools=[]),
    "tool choice": dataclasses.replace(BASE, tool_choice=ToolChoice.tool("lookup")),
    "response format": dataclasses.replace(
        BASE, response_format=ResponseFormat(type="json_object")
    ),
    "seed": dataclasses.replace(BASE, seed=7),
    "user": dataclasses.replace(BASE, user="u-1"),
    "parallel tool calls": dataclasses.replace(BASE, parallel_tool_calls=False),
    "reasoning": dataclasses.replace(BASE, reasoning=Reasoning(effort="low")),
    "extra": dataclasses.replace(BASE, extra={"openai": {"logprobs": True}}),
    "extra value": dataclasses.replace(BASE, extra={"openai": {"logprobs": False}}),
}


def cached(
    mock: MockProvider | None = None, clock: ManualClock | None = None, **settings: object
) -> tuple[CachedProvider, MockProvider, ManualClock]:
    """A cache over a smart mock, on a manual clock."""
    mock = mock or MockProvider.smart()
    clock = clock or ManualClock(1000.0)
    config = CacheConfig(**settings)  # type: ignore[arg-type]  # the test's own settings
    return CachedProvider(mock, config, clock=clock), mock, clock


async def test_repeat_is_a_hit_and_costs_no_call() -> None:
    """The same request twice: one provider call, the second answer is the stored one."""
    cache, mock, _ = cached()
    first = await cache.complete(BASE)
    again = await cache.complete(dataclasses.replace(BASE))
    assert again.content == first.content
    assert mock.calls == 1
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.stored) == (1, 1, 1)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
async def test_every_field_change_is_a_miss(variant: str) -> None:
    """A change in any field that shapes the answer is another entry."""
    cache, mock, _ = cached()
    await cache.complete(BASE)
    await cache.complete(VARIANTS[variant])
    assert mock.calls == 2
    assert cache.key(BASE) != cache.key(VARIANTS[variant])


async def test_dict_order_does_not_change_the_key() -> None:
    """Equal extras and schemas written in another key order are one entry."""
    cache, _, _ = cached()
    one = dataclasses.replace(BASE, extra={"openai": {"a": 1, "b": [1, {"x": 1, "y": 2}]}})
    two = dataclasses.replace(BASE, extra={"openai": {"b": [1, {"y": 2, "x": 1}], "a": 1}})
    assert cache.key(one) == cache.key(two)


async def test_tenants_never_share_entries() -> None:
    """Tenant A's answer is not served to tenant B, nor to calls without a tenant."""
    cache, mock, _ = cached()
    with tenant("acme"):
        await cache.complete(BASE)
        await cache.complete(BASE)
    with tenant("globex"):
        await cache.complete(BASE)
    await cache.complete(BASE)
    assert mock.calls == 3
    with tenant("acme"):
        assert cache.key(BASE) != cache.key(BASE.from_prompt("x"))
        acme = cache.key(BASE)
    assert acme != cache.key(BASE)


async def test_namespace_separates_caches_over_one_store() -> None:
    """Two caches over one store with different namespaces never serve each other."""
    store = MemoryCache()
    one = CachedProvider(MockProvider.smart(name="a"), CacheConfig(store=store))
    two = CachedProvider(MockProvider.smart(name="b"), CacheConfig(store=store))
    await one.complete(BASE)
    await two.complete(BASE)
    assert (one.stats().stored, two.stats().hits) == (1, 0)


async def test_ttl_expires_an_entry() -> None:
    """An entry is served until ``ttl`` seconds after it was stored, then it is a miss."""
    cache, mock, clock = cached(ttl=60.0)
    await cache.complete(BASE)
    clock.advance(59.9)
    await cache.complete(BASE)
    assert mock.calls == 1
    clock.advance(0.1)
    await cache.complete(BASE)
    assert mock.calls == 2
    assert cache.stats().expirations == 1


async def test_idle_ttl_expires_an_unused_entry_and_reads_keep_it() -> None:
    """Reads keep an entry alive; ``idle_ttl`` seconds without one and it is gone."""
    cache, mock, clock = cached(ttl=1000.0, idle_ttl=10.0)
    await cache.complete(BASE)
    for _ in range(5):
        clock.advance(9.0)
        await cache.complete(BASE)
    assert mock.calls == 1
    clock.advance(10.0)
    await cache.complete(BASE)
    assert mock.calls == 2


async def test_max_entries_drops_the_least_recently_used() -> None:
    """Past ``max_entries`` the entry read longest ago goes first."""
    cache, mock, _ = cached(max_entries=2)
    a, b, c = (LlmRequest.from_prompt(p) for p in ("a", "b", "c"))
    await cache.complete(a)
    await cache.complete(b)
    await cache.complete(a)  # a is now the most recently used
    await cache.complete(c)  # evicts b
    assert cache.stats().evictions == 1
    calls = mock.calls
    await cache.complete(a)
    assert mock.calls == calls
    await cache.complete(b)
    assert mock.calls == calls + 1


@pytest.mark.parametrize(
    "answer",
    [
        LlmResponse("cut", finish_reason="length"),
        LlmResponse("", refusal="I can't help with that", finish_reason="stop"),
        LlmResponse("", finish_reason="content_filter"),
    ],
    ids=["truncated", "refusal", "content_filter"],
)
async def test_broken_answers_are_never_stored(answer: LlmResponse) -> None:
    """Truncated answers and refusals go to the caller and are not kept."""
    mock = MockProvider.scripted([answer], cycle=True)
    cache, _, _ = cached(mock)
    first = await cache.complete(BASE)
    assert first.content == answer.content
    await cache.complete(BASE)
    assert mock.calls == 2
    assert cache.stats().not_stored == 2


async def test_truncated_answers_are_stored_when_opted_in() -> None:
    """``cache_truncated`` keeps answers cut by max_tokens."""
    mock = MockProvider.scripted([LlmResponse("cut", finish_reason="length")], cycle=True)
    cache, _, _ = cached(mock, cache_truncated=True)
    await cache.complete(BASE)
    assert (await cache.complete(BASE)).finish_reason == "length"
    assert mock.calls == 1


async def test_errors_are_not_stored() -> None:
    """A failed call raises to the caller; the next identical call goes upstream again."""
    mock = MockProvider.scripted([ServerError("boom", status=503), "ok"])
    cache, _, _ = cached(mock)
    with pytest.raises(ServerError):
        await cache.complete(BASE)
    assert (await cache.complete(BASE)).content == "ok"
    assert mock.calls == 2


async def test_sampled_requests_pass_through_unless_configured() -> None:
    """``temperature > 0`` is not cached by default; ``cache_sampled`` caches it."""
    hot = dataclasses.replace(BASE, temperature=0.7)
    cache, mock, _ = cached()
    await cache.complete(hot)
    await cache.complete(hot)
    assert (mock.calls, cache.stats().passed) == (2, 2)
    cache, mock, _ = cached(cache_sampled=True)
    await cache.complete(hot)
    await cache.complete(hot)
    assert mock.calls == 1


async def test_bypass_neither_reads_nor_stores() -> None:
    """Inside ``cache_control("bypass")`` every call goes upstream and nothing is kept."""
    cache, mock, _ = cached()
    await cache.complete(BASE)
    with cache_control("bypass"):
        await cache.complete(BASE)
        await cache.complete(LlmRequest.from_prompt("new"))
    await cache.complete(LlmRequest.from_prompt("new"))
    assert mock.calls == 4
    assert cache.stats().passed == 2


async def test_refresh_calls_upstream_and_replaces_the_entry() -> None:
    """``cache_control("refresh")`` skips the read and stores the new answer."""
    mock = MockProvider.scripted(["old", "new"])
    cache, _, _ = cached(mock)
    assert (await cache.complete(BASE)).content == "old"
    with cache_control("refresh"):
        assert (await cache.complete(BASE)).content == "new"
    assert (await cache.complete(BASE)).content == "new"
    assert mock.calls == 2


def test_cache_control_rejects_unknown_modes() -> None:
    """A mode other than use, bypass and refresh is a ValueError."""
    with pytest.raises(ValueError, match="cache_control mode"), cache_control("skip"):  # type: ignore[arg-type]  # the point
        pass


async def test_unkeyable_request_passes_through() -> None:
    """A request holding a value with no stable form is served, never cached."""
    cache, mock, _ = cached()
    odd = dataclasses.replace(BASE, extra={"openai": {"x": object()}})
    await cache.complete(odd)
    await cache.complete(odd)
    assert (mock.calls, cache.stats().passed) == (2, 2)


async def test_hit_has_no_latency_and_names_the_provider() -> None:
    """A hit reports latency 0 and the provider that produced the answer."""
    mock = MockProvider(latency=0.5, sleep=ManualClock(auto_advance=True).sleep)
    cache, _, _ = cached(mock)
    first = await cache.complete(BASE)
    hit = await cache.complete(BASE)
    assert first.latency_s == 0.5
    assert (hit.latency_s, hit.provider, hit.content) == (0.0, "mock", first.content)


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"ttl": 0}, "CacheConfig.ttl"),
        ({"idle_ttl": -1.0}, "CacheConfig.idle_ttl"),
        ({"max_entries": 0}, "CacheConfig.max_entries"),
    ],
)
def test_bad_settings_fail_when_built(settings: dict[str, object], match: str) -> None:
    """Invalid settings raise ValueError naming the field."""
    with pytest.raises(ValueError, match=match):
        CacheConfig(**settings)  # type: ignore[arg-type]  # the point


def test_store_must_be_a_cache_store() -> None:
    """A store that is not a CacheStore is a TypeError."""
    with pytest.raises(TypeError, match=r"CacheConfig\.store"):
        CacheConfig(store=object())  # type: ignore[arg-type]  # the point


async def test_stack_puts_the_cache_outermost() -> None:
    """``stack(cache=...)`` wraps the whole stack: a hit does not reach the fallback even
    while every provider is down, and the answer from the fallback is the one cached."""
    primary = MockProvider.failing(ServerError("down", status=503), name="primary")
    backup = MockProvider.smart(name="backup")
    resilient = stack(
        [primary, backup], cache=CacheConfig(), clock=ManualClock(), retry=RetryConfig(attempts=1)
    )
    assert isinstance(resilient.outer, CachedProvider)
    assert resilient.cache is resilient.outer
    first = await resilient.complete(BASE)
    calls = (primary.calls, backup.calls)
    again = await resilient.complete(BASE)
    assert again.provider == first.provider == "backup"
    assert (primary.calls, backup.calls) == calls
    assert resilient.cache.stats().hits == 1


async def test_stack_without_cache_has_none() -> None:
    """A stack built without ``cache`` has no cache layer."""
    assert stack([MockProvider.smart()]).cache is None


async def test_caller_errors_pass_through_and_are_not_stored() -> None:
    """An InvalidRequest raised below reaches the caller unchanged."""
    mock = MockProvider.failing(InvalidRequest("bad", code="context_length_exceeded"))
    cache, _, _ = cached(mock)
    with pytest.raises(InvalidRequest) as caught:
        await cache.complete(BASE)
    assert caught.value.code == "context_length_exceeded"
    assert cache.stats().stored == 0


class BrokenStore(MemoryCache):
    """A store whose every operation raises."""

    async def get(self, key: str, now: float) -> LlmResponse | None:
        raise OSError("disk gone")

    async def put(
        self, key: str, answer: LlmResponse, now: float, *, ttl: float, idle_ttl: float | None
    ) -> bool:
        raise OSError("disk gone")


async def test_a_broken_store_never_fails_a_call(caplog: pytest.LogCaptureFixture) -> None:
    """A store that raises is a miss and a skipped write; the call is answered."""
    mock = MockProvider.smart()
    cache = CachedProvider(mock, CacheConfig(store=BrokenStore()))
    prompt = LlmRequest.from_prompt("hello")
    await cache.complete(prompt)
    assert (await collect(cache.stream(prompt))).content
    assert mock.calls == 2
    assert cache.stats().not_stored == 2
    assert [r.getMessage() for r in caplog.records].count("cache_store_error") == 4


async def test_caches_share_a_store_they_are_given() -> None:
    """Two caches over one (empty) MemoryCache and one namespace serve each other's
    entries."""
    store = MemoryCache()
    one = CachedProvider(MockProvider.smart(name="a"), CacheConfig(store=store, namespace="app"))
    other = MockProvider.smart(name="b")
    two = CachedProvider(other, CacheConfig(store=store, namespace="app"))
    assert one.store is store
    await one.complete(BASE)
    await two.complete(BASE)
    assert (other.calls, two.stats().hits, len(store)) == (0, 1, 1)
