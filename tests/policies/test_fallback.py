"""FallbackProvider: order, skipping open circuits, when to stop, one error, streams."""

from __future__ import annotations

import pytest
from _policies import BreakingStream, collect, request

from vex_llm import (
    AllProvidersFailed,
    AuthenticationFailed,
    CircuitOpenError,
    ConnectionFailed,
    ContextLengthExceeded,
    FallbackProvider,
    InvalidRequest,
    LlmError,
    MockProvider,
    RateLimited,
    ResilientProvider,
    ServerError,
    StreamChunk,
    StreamInterrupted,
    StreamReset,
    Timeout,
    deadline,
    on_stream_break,
    trace,
)
from vex_llm.testing import ManualClock


@pytest.mark.parametrize(
    "error",
    [ServerError("x", status=503), Timeout("slow"), RateLimited("429"), CircuitOpenError("open")],
)
async def test_moves_on_after_transient_errors(error: LlmError) -> None:
    """Retryable errors, timeouts and circuit rejections move on; the answer says who."""
    backup = MockProvider.smart(name="backup")
    chain = FallbackProvider([MockProvider.failing(error, name="primary"), backup])
    response = await chain.complete(request())
    assert response.provider == "backup"
    assert backup.calls == 1


async def test_skips_an_open_circuit_without_calling_it() -> None:
    """An open primary is skipped: not called, not even counted as a breaker rejection."""
    primary = MockProvider.smart(name="primary")
    guarded = ResilientProvider(primary)
    guarded.breaker.force_open()
    chain = FallbackProvider([guarded, MockProvider.smart(name="backup")])
    with trace() as events:
        response = await chain.complete(request())
    assert response.provider == "backup"
    assert primary.calls == 0
    assert guarded.stats().rejected == 0
    assert [(e.provider, e.detail) for e in events.of_kind("skip")] == [("primary", "circuit_open")]


@pytest.mark.parametrize("error", [InvalidRequest("bad"), AuthenticationFailed("no key")])
async def test_stops_at_caller_errors(error: LlmError) -> None:
    """A caller error is raised as it is; the next provider is not asked."""
    backup = MockProvider.smart(name="backup")
    chain = FallbackProvider([MockProvider.failing(error, name="primary"), backup])
    with pytest.raises(type(error)) as caught:
        await chain.complete(request())
    assert not isinstance(caught.value, AllProvidersFailed)
    assert backup.calls == 0
    assert "not falling back" in caught.value.__notes__[-1]


async def test_context_length_routes_to_a_longer_context_only() -> None:
    """A context-length error skips providers with windows no larger and tries a larger one."""
    small = MockProvider.failing(ContextLengthExceeded("too long"), name="small")
    same = MockProvider.smart(name="same")
    large = MockProvider.smart(name="large")
    chain = FallbackProvider(
        [small, same, large], context_windows={small: 8_000, same: 8_000, large: 200_000}
    )
    with trace() as events:
        response = await chain.complete(request())
    assert response.provider == "large"
    assert same.calls == 0
    assert [e.detail for e in events.of_kind("skip")] == ["context_too_small"]


async def test_context_length_without_a_longer_provider_is_raised() -> None:
    """With no larger window configured, the context-length error itself is raised."""
    backup = MockProvider.smart(name="backup")
    chain = FallbackProvider([MockProvider.failing(ContextLengthExceeded("long")), backup])
    with pytest.raises(ContextLengthExceeded):
        await chain.complete(request())
    assert backup.calls == 0


async def test_all_failing_raises_one_group_with_every_error() -> None:
    """Every provider failed: one AllProvidersFailed, an LlmError and an ExceptionGroup."""
    chain = FallbackProvider(
        [
            MockProvider.failing(ServerError("a", status=500), name="a"),
            MockProvider.failing(RateLimited("b", retry_after=3.0), name="b"),
            MockProvider.failing(ConnectionFailed("c"), name="c"),
        ]
    )
    with pytest.raises(AllProvidersFailed) as caught:
        await chain.complete(request())
    group = caught.value
    assert isinstance(group, LlmError)
    assert isinstance(group, ExceptionGroup)
    assert [type(e) for e in group.exceptions] == [ServerError, RateLimited, ConnectionFailed]
    assert [e.provider for e in group.exceptions] == ["a", "b", "c"]
    assert group.retryable
    rate_limited, rest = group.split(RateLimited)
    assert isinstance(rate_limited, AllProvidersFailed)
    assert rest is not None
    assert len(rest.exceptions) == 2


async def test_except_star_matches_a_member() -> None:
    """Callers can branch on one kind of failure with except*."""
    chain = FallbackProvider([MockProvider.failing(Timeout("t"), name="a")])
    caught: list[BaseException] = []
    try:
        await chain.complete(request())
    except* Timeout as group:
        caught.extend(group.exceptions)
    assert [type(e) for e in caught] == [Timeout]


async def test_a_spent_deadline_stops_the_chain() -> None:
    """Once the call's deadline is spent, the remaining providers are not tried."""
    clock = ManualClock()
    backup = MockProvider.smart(name="backup")

    class Slow(MockProvider):
        async def complete(self, req: object) -> object:  # type: ignore[override]  # test double
            clock.advance(5.0)
            raise ServerError("late", provider="slow")

    chain = FallbackProvider([Slow(name="slow"), backup])
    async with deadline(2.0, clock=clock):
        with pytest.raises(AllProvidersFailed) as caught:
            await chain.complete(request())
    assert backup.calls == 0
    assert [type(e) for e in caught.value.exceptions] == [ServerError, Timeout]


async def test_every_circuit_open_raises_without_calls() -> None:
    """All circuits open: the group holds one CircuitOpenError per skipped provider."""
    guarded = [ResilientProvider(MockProvider.smart(name=n)) for n in ("a", "b")]
    for provider in guarded:
        provider.breaker.force_open()
    with pytest.raises(AllProvidersFailed) as caught:
        await FallbackProvider(guarded).complete(request())
    assert [type(e) for e in caught.value.exceptions] == [CircuitOpenError, CircuitOpenError]
    assert all(p.stats().rejected == 0 for p in guarded)


async def test_streams_fall_back_before_their_first_chunk() -> None:
    """A stream that fails to start moves on; the first chunk names the backup."""
    chain = FallbackProvider(
        [MockProvider.failing(ServerError("x"), name="a"), MockProvider.smart(name="b")]
    )
    chunks = await collect(chain.stream(request()))
    assert chunks[0].provider == "b"
    assert chunks[-1].finish_reason == "stop"


async def _read(chain: FallbackProvider) -> tuple[list[StreamChunk], BaseException | None]:
    seen: list[StreamChunk] = []
    try:
        async for chunk in chain.stream(request()):
            seen.append(chunk)
    except LlmError as exc:
        return seen, exc
    return seen, None


@pytest.mark.parametrize("error", [ServerError("cut"), None, StreamInterrupted("cut")])
async def test_a_stream_broken_after_its_start_raises_with_the_partial_text(
    error: LlmError | None,
) -> None:
    """Default policy: StreamInterrupted with the partial text; the backup is not asked."""
    backup = BreakingStream(["x"], finish=True, name="backup")
    chain = FallbackProvider([BreakingStream(["a", "b", "c"], error=error), backup])
    seen, exc = await _read(chain)
    assert [c.delta for c in seen] == ["a", "b", "c"]
    assert isinstance(exc, StreamInterrupted)
    assert exc.partial == "abc"
    assert backup.calls == 0


async def test_restart_policy_replays_on_the_next_provider_after_a_reset_marker() -> None:
    """restart: partial text, then a StreamReset carrying it, then the backup's whole answer."""
    primary = BreakingStream(["a", "b", "c"], error=ServerError("cut"), name="primary")
    backup = BreakingStream(["x", "y"], finish=True, name="backup")
    chain = FallbackProvider([primary, backup], on_stream_break="restart")
    with trace() as events:
        seen, exc = await _read(chain)
    assert exc is None
    resets = [c for c in seen if isinstance(c, StreamReset)]
    assert len(resets) == 1
    assert resets[0].discarded == "abc"
    assert resets[0].provider == "primary"
    after = seen[seen.index(resets[0]) + 1 :]
    assert "".join(c.delta for c in after) == "xy"
    assert after[0].provider == "backup"
    assert primary.closed_streams == 1
    assert len(events.of_kind("stream_reset")) == 1


async def test_per_call_policy_overrides_the_default() -> None:
    """on_stream_break('restart') switches one call's policy without touching the chain."""
    chain = FallbackProvider(
        [
            BreakingStream(["a"], error=ServerError("cut")),
            BreakingStream(["z"], finish=True, name="b"),
        ]
    )
    with on_stream_break("restart"):
        seen, exc = await _read(chain)
    assert exc is None
    assert any(isinstance(c, StreamReset) for c in seen)
    seen, exc = await _read(chain)
    assert isinstance(exc, StreamInterrupted)


async def test_restart_with_no_provider_left_raises_the_group() -> None:
    """restart with nobody left: the interruption is raised in the group, never a fake end."""
    chain = FallbackProvider(
        [BreakingStream(["a", "b"], error=None, name="only")], on_stream_break="restart"
    )
    seen, exc = await _read(chain)
    assert [c.delta for c in seen] == ["a", "b"]
    assert isinstance(exc, AllProvidersFailed)
    assert isinstance(exc.exceptions[0], StreamInterrupted)
    assert exc.exceptions[0].partial == "ab"


def test_bad_settings_fail_at_construction() -> None:
    """Empty chains, unknown policies and bad context windows raise ValueError."""
    mock = MockProvider.smart()
    with pytest.raises(ValueError, match="at least one"):
        FallbackProvider([])
    with pytest.raises(ValueError, match="on_stream_break"):
        FallbackProvider([mock], on_stream_break="continue")  # type: ignore[arg-type]  # bad on purpose
    with pytest.raises(ValueError, match="context_windows"):
        FallbackProvider([mock], context_windows={mock: 0})
    with pytest.raises(ValueError, match="context_windows"):
        FallbackProvider([mock], context_windows={MockProvider.smart(): 10})
    with pytest.raises(TypeError):
        FallbackProvider(["openai"])  # type: ignore[list-item]  # bad on purpose
    with pytest.raises(ValueError, match="policy"), on_stream_break("continue"):  # type: ignore[arg-type]  # bad on purpose
        pass
