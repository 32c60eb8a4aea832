"""vex_llm.tracing over real sockets: spans and metrics read from the SDK's in-memory exporters."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx2
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import vex_llm.tracing
from vex_llm import (
    CircuitConfig,
    DeadlineExceeded,
    LlmRequest,
    OpenAIProvider,
    RetryConfig,
    stack,
)
from vex_llm.testing import FakeLLMServer, Fault

pytestmark = pytest.mark.fake_server

KEY = "sk-test-do-not-leak-0123456789"
PROMPT = "the secret prompt about project nightingale"
FAST_RETRY = RetryConfig(attempts=2, base_delay=0.001, max_delay=0.001)


@dataclass
class Otel:
    """The SDK's in-memory span exporter and metric reader behind an installed tracer."""

    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader

    def finished(self) -> list[ReadableSpan]:
        """The finished spans, in the order they ended."""
        return list(self.spans.get_finished_spans())

    def points(self, name: str) -> list[tuple[dict[str, object], object]]:
        """(attributes, data point) of every point of one metric."""
        data = self.metrics.get_metrics_data()
        assert data is not None
        return [
            (dict(point.attributes or {}), point)
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]


@pytest.fixture
def otel() -> Iterator[Otel]:
    """SDK tracer and meter providers with in-memory exporters; tracing installed on them."""
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    handle = vex_llm.tracing.install(tracer_provider, meter_provider)
    yield Otel(spans, reader)
    handle.uninstall()
    tracer_provider.shutdown()
    meter_provider.shutdown()


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


def ask() -> LlmRequest:
    """A request carrying a prompt that must never reach an attribute."""
    return LlmRequest.from_prompt(PROMPT)


def events(span: ReadableSpan) -> list[tuple[str, dict[str, object]]]:
    """A span's events as (name, attributes)."""
    return [(event.name, dict(event.attributes or {})) for event in span.events]


async def test_a_retry_and_a_fallback_make_one_call_span_with_three_attempt_children(
    server: FakeLLMServer, pair: tuple[OpenAIProvider, OpenAIProvider], otel: Otel
) -> None:
    """503 twice on the primary, then the secondary: the span tree and its events."""
    server.inject(Fault.error(503), model="primary")
    llm = stack(list(pair), retry=FAST_RETRY)
    response = await llm.complete(ask())
    *attempts, call = otel.finished()
    assert call.name == "chat secondary"
    assert call.parent is None
    attributes = dict(call.attributes or {})
    usage = response.usage
    assert usage is not None
    assert attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "secondary",
        "gen_ai.request.model": "secondary",
        "gen_ai.response.model": response.model,
        "gen_ai.response.finish_reasons": (response.finish_reason,),
        "gen_ai.usage.input_tokens": usage.prompt_tokens,
        "gen_ai.usage.output_tokens": usage.completion_tokens,
        "server.address": "127.0.0.1",
        "server.port": urlsplit(server.base_url).port,
    }
    assert [span.name for span in attempts] == [
        "attempt primary",
        "attempt primary",
        "attempt secondary",
    ]
    assert call.context is not None
    for span in attempts:
        assert span.parent is not None
        assert span.parent.span_id == call.context.span_id
        assert span.context is not None
        assert span.context.trace_id == call.context.trace_id
    failed = dict(attempts[0].attributes or {})
    assert failed["error.type"] == "NotAvailable"
    assert failed["gen_ai.provider.name"] == "primary"
    assert failed["gen_ai.request.model"] == "primary"
    assert failed["server.address"] == "127.0.0.1"
    assert attempts[0].status.status_code is StatusCode.ERROR
    assert "error.type" not in dict(attempts[2].attributes or {})
    names = [name for name, _ in events(call)]
    assert names == ["vex_llm.wait", "vex_llm.retry", "vex_llm.give_up", "vex_llm.fallback"]
    wait, retry, _, fallback = (attrs for _, attrs in events(call))
    assert wait["vex_llm.reason"] == "backoff"
    assert wait["error.type"] == "NotAvailable"
    assert retry["vex_llm.attempt"] == 2
    assert fallback == {
        "vex_llm.provider": "secondary",
        "vex_llm.from": "primary",
        "vex_llm.reason": "NotAvailable",
    }


async def test_an_open_circuit_is_a_skip_event_and_its_opening_a_state_event(
    server: FakeLLMServer, pair: tuple[OpenAIProvider, OpenAIProvider], otel: Otel
) -> None:
    """Once the primary's circuit opened, the next call skips it without an attempt span."""
    server.inject(Fault.error(503), model="primary")
    llm = stack(list(pair), retry=FAST_RETRY, circuit=CircuitConfig(failure_threshold=2))
    await llm.complete(ask())
    first = otel.finished()[-1]
    opened = [attrs for name, attrs in events(first) if name == "vex_llm.circuit_state"]
    assert opened == [
        {
            "vex_llm.circuit": "primary",
            "vex_llm.from": "closed",
            "vex_llm.to": "open",
            "vex_llm.reason": "failure_threshold",
        }
    ]
    otel.spans.clear()
    await llm.complete(ask())
    *attempts, call = otel.finished()
    assert [span.name for span in attempts] == ["attempt secondary"]
    assert events(call)[0] == (
        "vex_llm.skip",
        {"vex_llm.provider": "primary", "vex_llm.reason": "circuit_open"},
    )


async def test_a_spent_deadline_ends_the_call_span_with_its_error_type(
    server: FakeLLMServer, pair: tuple[OpenAIProvider, OpenAIProvider], otel: Otel
) -> None:
    """A hanging provider past the deadline: the call span says DeadlineExceeded."""
    server.inject(Fault.hang())
    llm = stack(list(pair), deadline=0.2)
    with pytest.raises(DeadlineExceeded):
        await llm.complete(ask())
    call = otel.finished()[-1]
    assert call.name == "chat primary"
    assert dict(call.attributes or {})["error.type"] == "DeadlineExceeded"
    assert call.status.status_code is StatusCode.ERROR
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert duration[0]["error.type"] == "DeadlineExceeded"


async def test_a_stream_records_the_genai_metrics(
    pair: tuple[OpenAIProvider, OpenAIProvider], otel: Otel
) -> None:
    """Duration, time to first chunk and token usage, with the GenAI attribute names."""
    llm = stack(list(pair))
    chunks = [chunk async for chunk in llm.stream(ask())]
    usage = chunks[-1].usage
    assert usage is not None
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert duration[0]["gen_ai.provider.name"] == "primary"
    assert duration[0]["gen_ai.request.model"] == "primary"
    (first,) = otel.points("gen_ai.client.operation.time_to_first_chunk")
    assert getattr(first[1], "count", None) == 1
    tokens = {
        attrs["gen_ai.token.type"]: getattr(point, "sum", None)
        for attrs, point in otel.points("gen_ai.client.token.usage")
    }
    assert tokens == {"input": usage.prompt_tokens, "output": usage.completion_tokens}
    (call,) = [span for span in otel.finished() if span.name.startswith("chat")]
    attributes = dict(call.attributes or {})
    assert attributes["gen_ai.response.finish_reasons"] == (chunks[-1].finish_reason,)


def test_the_newer_metric_names_are_opt_in() -> None:
    """gen_ai_latest_experimental in OTEL_SEMCONV_STABILITY_OPT_IN selects the newer names."""
    assert vex_llm.tracing.metric_names("")[0] == "gen_ai.client.operation.duration"
    assert vex_llm.tracing.metric_names("http, gen_ai_latest_experimental") == (
        "gen_ai.client.inference.operation.duration",
        "gen_ai.client.inference.time_to_first_chunk",
        "gen_ai.client.inference.token.usage",
    )


async def test_no_attribute_holds_a_key_or_a_prompt(
    server: FakeLLMServer, pair: tuple[OpenAIProvider, OpenAIProvider], otel: Otel
) -> None:
    """Neither span attributes nor event attributes carry the API key or the prompt."""
    server.inject(Fault.error(503), model="primary", times=1)
    llm = stack(list(pair), retry=FAST_RETRY)
    await llm.complete(ask())
    _ = [chunk async for chunk in llm.stream(ask())]
    values = [
        str(value)
        for span in otel.finished()
        for attributes in (span.attributes or {}, *(e.attributes or {} for e in span.events))
        for value in attributes.values()
    ]
    assert values
    assert not [value for value in values if KEY in value or "nightingale" in value]


@pytest.mark.parametrize("streamed", [False, True])
async def test_each_attempt_sends_its_own_traceparent(
    server: FakeLLMServer, otel: Otel, streamed: bool
) -> None:
    """The W3C traceparent on each outgoing request names that attempt's span."""
    sent: list[str | None] = []

    async def capture(outgoing: httpx2.Request) -> None:
        sent.append(outgoing.headers.get("traceparent"))

    server.inject(Fault.error(503), model="primary", times=1)
    async with httpx2.AsyncClient(event_hooks={"request": [capture]}) as client:
        primary = OpenAIProvider(
            "primary", base_url=server.base_url, name="primary", api_key=KEY, client=client
        )
        llm = stack([primary], retry=FAST_RETRY)
        if streamed:
            _ = [chunk async for chunk in llm.stream(ask())]
        else:
            await llm.complete(ask())
    attempts = [span for span in otel.finished() if span.name.startswith("attempt")]
    expected = []
    for span in attempts:
        assert span.context is not None
        expected.append(f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}")
    assert len(attempts) == 2
    assert [None if header is None else header[:52] for header in sent] == expected


async def test_no_traceparent_without_tracing(server: FakeLLMServer) -> None:
    """Nothing installed: requests go out with the provider's own headers only."""
    sent: list[str | None] = []

    async def capture(outgoing: httpx2.Request) -> None:
        sent.append(outgoing.headers.get("traceparent"))

    async with httpx2.AsyncClient(event_hooks={"request": [capture]}) as client:
        primary = OpenAIProvider(
            "primary", base_url=server.base_url, name="primary", api_key=KEY, client=client
        )
        await stack([primary]).complete(ask())
    assert sent == [None]


@pytest.mark.parametrize("streamed", [False, True])
async def test_contents_are_recorded_only_when_asked(
    pair: tuple[OpenAIProvider, OpenAIProvider], streamed: bool
) -> None:
    """capture_content=True puts the messages and the answer on the call span, as JSON."""
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    llm = stack(list(pair))
    with vex_llm.tracing.install(tracer_provider, MeterProvider(), capture_content=True):
        if streamed:
            chunks = [chunk async for chunk in llm.stream(ask())]
            answer = "".join(chunk.delta for chunk in chunks)
            finish = chunks[-1].finish_reason
        else:
            response = await llm.complete(ask())
            answer, finish = response.content, response.finish_reason
    (call,) = [span for span in spans.get_finished_spans() if span.name.startswith("chat")]
    attributes = dict(call.attributes or {})
    assert json.loads(str(attributes["gen_ai.input.messages"])) == [
        {"role": "user", "parts": [{"type": "text", "content": PROMPT}]}
    ]
    assert json.loads(str(attributes["gen_ai.output.messages"])) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": answer}],
            "finish_reason": finish,
        }
    ]
    tracer_provider.shutdown()
