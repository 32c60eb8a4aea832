"""vex_llm.metrics over real sockets: a stack on FakeLLMServer, scraped from its registry."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import vex_llm.metrics
from vex_llm import (
    CircuitConfig,
    CircuitOpenError,
    DeadlineExceeded,
    HedgeConfig,
    LlmRequest,
    NotAvailable,
    OpenAIProvider,
    ResilientProvider,
    RetryConfig,
    stack,
)
from vex_llm.testing import FakeLLMServer, Fault

pytestmark = pytest.mark.fake_server

KEY = "sk-test-do-not-leak-0123456789"
PROMPT = "the secret prompt about project nightingale"
FAST_RETRY = RetryConfig(attempts=2, base_delay=0.001, max_delay=0.001)


@pytest.fixture
async def server() -> AsyncIterator[FakeLLMServer]:
    """A fake LLM server in the test's event loop, stopped after the test."""
    async with FakeLLMServer(seed=0, shutdown_timeout=0.1) as running:
        yield running


@pytest.fixture
async def pair(server: FakeLLMServer) -> AsyncIterator[tuple[OpenAIProvider, OpenAIProvider]]:
    """Primary and secondary providers on the fake server, closed after the test."""
    async with (
        OpenAIProvider("primary", base_url=server.base_url, name="primary", api_key=KEY) as a,
        OpenAIProvider("secondary", base_url=server.base_url, name="secondary", api_key=KEY) as b,
    ):
        yield a, b


@pytest.fixture
def registry() -> Iterator[CollectorRegistry]:
    """A registry of the test's own, with vex-llm's metrics installed in this context."""
    own = CollectorRegistry()
    handle = vex_llm.metrics.install(own)
    yield own
    handle.uninstall()


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    """One sample's value (``None`` when absent)."""
    return registry.get_sample_value(name, labels)


def ask() -> LlmRequest:
    """A request carrying a prompt that must never reach a label."""
    return LlmRequest.from_prompt(PROMPT)


async def test_a_503_is_retried_then_falls_back_and_every_step_is_counted(
    server: FakeLLMServer,
    pair: tuple[OpenAIProvider, OpenAIProvider],
    registry: CollectorRegistry,
) -> None:
    """503 twice on the primary: two failed attempts, one retry, one fallback, one success."""
    server.inject(Fault.error(503), model="primary")
    llm = stack(list(pair), retry=FAST_RETRY)
    response = await llm.complete(ask())
    assert response.provider == "secondary"
    assert value(registry, "vex_llm_requests_total", provider="secondary", model="secondary",
                 outcome="success") == 1.0  # fmt: skip
    assert value(registry, "vex_llm_request_duration_seconds_count", provider="secondary",
                 model="secondary") == 1.0  # fmt: skip
    assert value(registry, "vex_llm_attempts_total", provider="primary", model="primary",
                 outcome="error", error="NotAvailable") == 2.0  # fmt: skip
    assert value(registry, "vex_llm_attempts_total", provider="secondary", model="secondary",
                 outcome="success", error="") == 1.0  # fmt: skip
    assert value(registry, "vex_llm_retries_total", provider="primary",
                 reason="NotAvailable") == 1.0  # fmt: skip
    assert value(registry, "vex_llm_fallbacks_total", **{"from": "primary", "to": "secondary",
                 "reason": "NotAvailable"}) == 1.0  # fmt: skip
    usage = response.usage
    assert usage is not None
    assert value(registry, "vex_llm_tokens_total", provider="secondary", model="secondary",
                 type="input") == usage.prompt_tokens  # fmt: skip
    assert value(registry, "vex_llm_tokens_total", provider="secondary", model="secondary",
                 type="output") == usage.completion_tokens  # fmt: skip
    assert value(registry, "vex_llm_deadline_exceeded_total") == 0.0


async def test_an_outage_opens_the_circuit_and_later_calls_count_as_rejections(
    server: FakeLLMServer,
    pair: tuple[OpenAIProvider, OpenAIProvider],
    registry: CollectorRegistry,
) -> None:
    """The transition, the one-hot state and the skipped calls are all visible."""
    server.inject(Fault.error(503), model="primary")
    llm = stack(list(pair), retry=FAST_RETRY, circuit=CircuitConfig(failure_threshold=2))
    for _ in range(3):
        await llm.complete(ask())
    transitions = {"circuit": "primary", "from": "closed", "to": "open"}
    assert value(registry, "vex_llm_circuit_transitions_total", **transitions) == 1.0
    states = {s: value(registry, "vex_llm_circuit_state", circuit="primary", state=s)
              for s in vex_llm.metrics.STATES}  # fmt: skip
    assert states == {"closed": 0.0, "open": 1.0, "half_open": 0.0, "forced_open": 0.0}
    assert value(registry, "vex_llm_circuit_state", circuit="secondary", state="closed") == 1.0
    assert value(registry, "vex_llm_circuit_rejections_total", circuit="primary",
                 reason="open") == 2.0  # fmt: skip
    assert value(registry, "vex_llm_fallbacks_total", **{"from": "primary", "to": "secondary",
                 "reason": "circuit_open"}) == 2.0  # fmt: skip
    assert value(registry, "vex_llm_attempts_total", provider="primary", model="primary",
                 outcome="error", error="NotAvailable") == 2.0  # fmt: skip


async def test_a_breaker_rejection_and_a_circuit_held_open_by_hand(
    pair: tuple[OpenAIProvider, OpenAIProvider], registry: CollectorRegistry
) -> None:
    """A rejected call counts with the breaker's reason; force_open() shows as forced_open."""
    guarded = ResilientProvider(pair[0])
    guarded.breaker.force_open()
    with pytest.raises(CircuitOpenError):
        await guarded.complete(ask())
    assert value(registry, "vex_llm_circuit_state", circuit="primary", state="forced_open") == 1.0
    assert value(registry, "vex_llm_circuit_state", circuit="primary", state="open") == 0.0
    assert value(registry, "vex_llm_circuit_rejections_total", circuit="primary",
                 reason="isolated") == 1.0  # fmt: skip
    guarded.breaker.force_open(duration=30.0)
    with pytest.raises(CircuitOpenError):
        await guarded.complete(ask())
    assert value(registry, "vex_llm_circuit_rejections_total", circuit="primary",
                 reason="open") == 1.0  # fmt: skip
    assert value(registry, "vex_llm_circuit_state", circuit="primary", state="open") == 1.0


async def test_a_spent_deadline_counts_once_per_call(
    server: FakeLLMServer,
    pair: tuple[OpenAIProvider, OpenAIProvider],
    registry: CollectorRegistry,
) -> None:
    """Both providers hang past the call's deadline: one error call, one deadline counted."""
    server.inject(Fault.hang())
    llm = stack(list(pair), deadline=0.2)
    with pytest.raises(DeadlineExceeded):
        await llm.complete(ask())
    assert value(registry, "vex_llm_deadline_exceeded_total") == 1.0
    assert value(registry, "vex_llm_requests_total", provider="primary", model="primary",
                 outcome="error") == 1.0  # fmt: skip


async def test_a_stream_reports_its_first_token_and_every_gap(
    pair: tuple[OpenAIProvider, OpenAIProvider], registry: CollectorRegistry
) -> None:
    """One time-to-first-token sample per stream and one inter-chunk sample per later chunk."""
    llm = stack(list(pair))
    chunks = [chunk async for chunk in llm.stream(ask())]
    labels = {"provider": "primary", "model": "primary"}
    assert value(registry, "vex_llm_time_to_first_token_seconds_count", **labels) == 1.0
    assert value(registry, "vex_llm_inter_chunk_seconds_count", **labels) == len(chunks) - 1
    assert value(registry, "vex_llm_requests_total", outcome="success", **labels) == 1.0
    assert value(registry, "vex_llm_attempts_total", outcome="success", error="",
                 **labels) == 1.0  # fmt: skip
    usage = chunks[-1].usage
    assert usage is not None
    assert value(registry, "vex_llm_tokens_total", type="output", **labels) == (
        usage.completion_tokens
    )


async def test_ratio_mode_reports_the_failure_rate(
    server: FakeLLMServer, pair: tuple[OpenAIProvider, OpenAIProvider], registry: CollectorRegistry
) -> None:
    """In ratio mode the failure-rate gauge follows the window."""
    server.script([Fault.error(503), None, None, None], model="primary")
    config = CircuitConfig(mode="ratio", window_size=4, minimum_calls=4, failure_rate_threshold=0.9)
    guarded = ResilientProvider(pair[0], config)
    for _ in range(4):
        with contextlib.suppress(NotAvailable):  # the first one fails on purpose
            await guarded.complete(ask())
    assert value(registry, "vex_llm_circuit_failure_rate", circuit="primary") == 0.25


async def test_labels_never_hold_a_key_or_a_prompt(
    server: FakeLLMServer,
    pair: tuple[OpenAIProvider, OpenAIProvider],
    registry: CollectorRegistry,
) -> None:
    """Scraped with the text parser, no label value carries the API key or the prompt."""
    server.inject(Fault.error(503), model="primary", times=1)
    llm = stack(list(pair), retry=FAST_RETRY)
    await llm.complete(ask())
    _ = [chunk async for chunk in llm.stream(ask())]
    text = generate_latest(registry).decode()
    labels = [
        label
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        for label in sample.labels.values()
    ]
    assert labels
    assert not [label for label in labels if KEY in label or "nightingale" in label]
    assert KEY not in text
    assert "nightingale" not in text


async def test_nothing_is_counted_after_uninstall_and_the_metrics_are_gone(
    pair: tuple[OpenAIProvider, OpenAIProvider],
) -> None:
    """uninstall() stops the reporting and frees the registry for another install()."""
    own = CollectorRegistry()
    handle = vex_llm.metrics.install(own)
    with pytest.raises(ValueError, match="Duplicated"):
        vex_llm.metrics.install(own)
    llm = stack(list(pair))
    await llm.complete(ask())
    assert own.get_sample_value("vex_llm_requests_total", {"provider": "primary",
                                "model": "primary", "outcome": "success"}) == 1.0  # fmt: skip
    handle.uninstall()
    assert "vex_llm" not in generate_latest(own).decode()
    await llm.complete(ask())
    with vex_llm.metrics.install(own):
        await llm.complete(ask())
        assert own.get_sample_value("vex_llm_requests_total", {"provider": "primary",
                                    "model": "primary", "outcome": "success"}) == 1.0  # fmt: skip


@pytest.mark.parametrize(
    ("slow", "outcome", "winner"),
    [("primary", "won", "secondary"), ("secondary", "wasted", "primary")],
)
async def test_a_hedge_is_fired_then_won_or_wasted(
    server: FakeLLMServer,
    pair: tuple[OpenAIProvider, OpenAIProvider],
    registry: CollectorRegistry,
    slow: str,
    outcome: str,
    winner: str,
) -> None:
    """The hedge fires after its delay; it wins when the primary is slow, else it is wasted."""
    server.inject(Fault.latency(0.3 if slow == "primary" else 0.0), model="primary")
    if slow == "secondary":
        server.inject(Fault.latency(0.15), model="primary")
        server.inject(Fault.latency(0.5), model="secondary")
    llm = stack(list(pair), hedge=HedgeConfig(delay=0.05))
    response = await llm.complete(ask())
    assert response.provider == winner
    assert value(registry, "vex_llm_hedges_total", outcome="fired") == 1.0
    assert value(registry, "vex_llm_hedges_total", outcome=outcome) == 1.0
    assert value(registry, "vex_llm_requests_total", provider=winner, model=winner,
                 outcome="success") == 1.0  # fmt: skip
