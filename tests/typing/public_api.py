"""Public-API usages checked by mypy --strict (not collected by pytest)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import assert_type

from vex_llm import (
    CircuitBreaker,
    CircuitConfig,
    CircuitOpenError,
    CircuitState,
    CircuitStats,
    LlmError,
    LlmRequest,
    LlmResponse,
    MockProvider,
    RateLimited,
    ResilientProvider,
    StreamChunk,
)
from vex_llm.testing import ManualClock


async def uses() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(CircuitConfig(failure_threshold=3), name="db", clock=clock)

    async def fetch(x: int) -> str:
        return str(x)

    assert_type(await breaker.call(fetch, 1), str)

    @breaker
    def compute(x: int) -> int:
        return x * 2

    assert_type(compute(2), int)

    @breaker
    async def remote(x: int) -> float:
        return x / 2

    assert_type(await remote(2), float)
    assert_type(breaker.state, CircuitState)
    assert_type(breaker.stats(), CircuitStats)

    provider = ResilientProvider(MockProvider.smart(), CircuitConfig.conservative(), clock=clock)
    response = await provider.complete(LlmRequest.from_prompt("hi"))
    assert_type(response, LlmResponse)
    assert_type(provider.circuit_state, CircuitState)
    try:
        await provider.ask("x")
    except CircuitOpenError as exc:
        assert_type(exc.retry_after, float | None)
    except RateLimited as exc:
        assert_type(exc.retry_after, float | None)


async def policy_uses() -> None:
    from vex_llm import AllProvidersFailed, RetryConfig, TimeoutConfig, deadline, stack, trace

    llm = stack(
        [MockProvider.smart(name="a"), MockProvider.smart(name="b")],
        deadline=20.0,
        retry=RetryConfig(attempts=2),
        timeouts=TimeoutConfig(attempt_timeout=5.0),
    )
    with trace() as events:
        try:
            async with deadline(5.0):
                assert_type(await llm.ask("hi"), str)
        except AllProvidersFailed as group:
            assert_type(group.exceptions, tuple[LlmError | ExceptionGroup[LlmError], ...])
    assert_type(events.format(), str)
    assert_type(llm.circuits["a"].circuit_state, CircuitState)


async def rich_request_uses() -> None:
    from vex_llm import (
        Capabilities,
        ImagePart,
        Message,
        Reasoning,
        ResponseFormat,
        TextPart,
        Tool,
        ToolCall,
        ToolChoice,
        check_capabilities,
        collect,
    )
    from vex_llm.wire import anthropic, openai

    request = LlmRequest(
        [
            Message("user", [TextPart("what is this?"), ImagePart(url="https://x/cat.png")]),
            Message("assistant", "", tool_calls=[ToolCall("c1", "look", "{}")]),
            Message("tool", "a cat", tool_call_id="c1"),
        ],
        tools=[Tool(name="look", parameters={"type": "object"})],
        tool_choice=ToolChoice.tool("look"),
        response_format=ResponseFormat.json_schema("answer", {"type": "object"}),
        reasoning=Reasoning(effort="low"),
        extra={"openai": {"logprobs": True}},
    )
    assert_type(request.messages[0].content, str)
    assert_type(request.to_openai(stream=True), dict[str, object])
    assert_type(LlmRequest.from_anthropic(request.to_anthropic()), LlmRequest)
    check_capabilities(request, Capabilities.for_kind("openai"))
    response = await collect(MockProvider.smart().stream(request))
    assert_type(response.tool_calls, Sequence[ToolCall])
    assert_type(LlmResponse.from_openai(response.to_openai()), LlmResponse)
    decoder = anthropic.StreamDecoder()
    assert_type(decoder.feed({"type": "ping"}), StreamChunk | None)
    assert_type(openai.events_from_chunk(StreamChunk("x")), list[dict[str, object]])


async def http_provider_uses() -> None:
    from collections.abc import Mapping

    from vex_llm import Capabilities, OpenAIProvider, StreamInterrupted, ToolCall
    from vex_llm.providers import EventReader, HttpProvider, SseEvent
    from vex_llm.wire import openai

    llm = OpenAIProvider("m", capabilities=Capabilities(vision=False))
    assert_type(llm.capabilities, Capabilities)
    try:
        [chunk async for chunk in llm.stream(LlmRequest.from_prompt("hi"))]
    except StreamInterrupted as exc:
        assert_type(exc.partial_tool_calls, tuple[ToolCall, ...])

    class Mine(HttpProvider):
        def build_body(self, request: LlmRequest, model: str, *, stream: bool) -> dict[str, object]:
            return openai.request_to_body(request, model=model, stream=stream)

        def read_answer(self, data: Mapping[str, object]) -> LlmResponse:
            return openai.response_from_body(data)

        def stream_reader(self, model: str) -> EventReader:
            return Events(model, self)

    class Events(EventReader):
        def feed(self, event: SseEvent) -> str | StreamChunk:
            return self.note(self.convert(openai.chunk_from_event, self.parse(event.data)))

    async with Mine("m", base_url="http://127.0.0.1:9/v1", path="/chat/completions", name="x"):
        pass


async def cache_uses() -> None:
    from vex_llm import (
        CacheConfig,
        CachedProvider,
        CacheStats,
        MemoryCache,
        MockProvider,
        RedisCache,
        cache_control,
        current_tenant,
        stack,
        tenant,
    )

    redis_cache = RedisCache("redis://127.0.0.1:6379/0", prefix="app", max_value_bytes=65536)
    config = CacheConfig(ttl=600.0, idle_ttl=60.0, store=MemoryCache(max_entries=100))
    llm = stack([MockProvider.smart()], cache=config)
    cache = llm.cache
    assert cache is not None
    assert_type(cache.stats(), CacheStats)
    with tenant("acme"), cache_control("refresh"):
        assert_type(current_tenant(), str | None)
        await CachedProvider(MockProvider.smart(), CacheConfig(store=redis_cache)).complete(
            LlmRequest.from_prompt("hi")
        )
    await redis_cache.aclose()


def sdk_transports_and_blocking() -> None:
    """The transports under an httpx2 client, and blocking() from plain code."""
    import httpx2

    from vex_llm import BlockingProvider, MockProvider, RetryConfig, blocking
    from vex_llm.transport import AsyncResilientTransport, ResilientTransport, Upstream

    backup = Upstream("http://127.0.0.1:9/v1", api_key="sk-b", model="m2")
    transport = AsyncResilientTransport([backup], retry=RetryConfig(attempts=2))
    assert_type(httpx2.AsyncClient(transport=transport), httpx2.AsyncClient)
    assert_type(httpx2.Client(transport=ResilientTransport([backup])), httpx2.Client)
    with blocking(MockProvider.smart()) as llm:
        assert_type(llm, BlockingProvider)
        assert_type(llm.ask("hi"), str)
        for chunk in llm.stream(LlmRequest.from_prompt("hi")):
            assert_type(chunk, StreamChunk)


def observability_uses() -> None:
    from prometheus_client import CollectorRegistry

    import vex_llm.metrics
    import vex_llm.tracing

    with vex_llm.metrics.install(CollectorRegistry()) as metrics:
        assert_type(metrics, vex_llm.metrics.Observing)
    tracing = vex_llm.tracing.install()
    assert_type(tracing, vex_llm.tracing.Observing)
    assert_type(vex_llm.tracing.metric_names(), tuple[str, str, str])
    tracing.uninstall()


async def rate_limit_uses() -> None:
    from vex_llm import (
        MemoryBuckets,
        MockProvider,
        RateBudget,
        RateLimitConfig,
        RateLimitedProvider,
        RedisBuckets,
        RedisStore,
        current_tenant,
        stack,
        tenant,
    )
    from vex_llm.stores import BucketStore

    mock = MockProvider.smart()
    config = RateLimitConfig(
        budget=RateBudget(requests=60, tokens_per_minute=90_000),
        tiers={"free": RateBudget(requests=5)},
        default_tier="free",
    )
    store: BucketStore = RedisBuckets(RedisStore("redis://127.0.0.1:9/0"), local_share=0.25)
    limited = RateLimitedProvider(mock, config, store=MemoryBuckets())
    assert_type(limited.store, BucketStore)
    with tenant("acme"):
        assert_type(current_tenant(), str | None)
        assert_type(await limited.complete(LlmRequest.from_prompt("hi")), LlmResponse)
    llm = stack([mock], rate_limits={mock: config}, rate_limit_store=store)
    await llm.aclose()
