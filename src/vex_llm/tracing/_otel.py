"""The OpenTelemetry observer: GenAI spans, span events and metrics from vex-llm's events."""

from __future__ import annotations

import json
import os
from typing import Final

from opentelemetry import propagate, trace
from opentelemetry.metrics import Histogram, Meter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from .._observe import Attempt, Call, Decision, Observer, Transition, current_call

_LATEST: Final = "gen_ai_latest_experimental"
_DURATION_BUCKETS: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
_TOKEN_BUCKETS: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
_EVENTS: Final = {
    "wait": "vex_llm.wait",
    "skip": "vex_llm.skip",
    "fallback": "vex_llm.fallback",
    "hedge": "vex_llm.hedge",
    "stream_reset": "vex_llm.stream_reset",
    "give_up": "vex_llm.give_up",
}


def metric_names(opt_in: str | None = None) -> tuple[str, str, str]:
    """The (duration, time-to-first-chunk, token usage) metric names.

    Args:
        opt_in: The value of ``OTEL_SEMCONV_STABILITY_OPT_IN`` (default: read from the
            environment). ``gen_ai_latest_experimental`` in it selects the newer names.

    Returns:
        The three names.
    """
    value = os.environ.get("OTEL_SEMCONV_STABILITY_OPT_IN", "") if opt_in is None else opt_in
    if _LATEST in (part.strip() for part in value.split(",")):
        return (
            "gen_ai.client.inference.operation.duration",
            "gen_ai.client.inference.time_to_first_chunk",
            "gen_ai.client.inference.token.usage",
        )
    return (
        "gen_ai.client.operation.duration",
        "gen_ai.client.operation.time_to_first_chunk",
        "gen_ai.client.token.usage",
    )


class TracingObserver(Observer):
    """One ``chat {model}`` span per logical call, a child span per upstream attempt, the
    policies' decisions as span events, and the GenAI client metrics.

    Args:
        tracer: Where spans go.
        meter: Where metrics go.
        names: The (duration, time-to-first-chunk, token usage) metric names.
        capture_content: Record the messages and the answer on the call span
            (``gen_ai.input.messages``, ``gen_ai.output.messages``). Off by default, as
            the GenAI conventions require: prompts and completions may be sensitive.
    """

    def __init__(
        self,
        tracer: Tracer,
        meter: Meter,
        names: tuple[str, str, str],
        *,
        capture_content: bool = False,
    ) -> None:
        self._tracer = tracer
        self.wants_content = capture_content
        duration, first_chunk, tokens = names
        self._duration: Histogram = meter.create_histogram(
            duration,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(_DURATION_BUCKETS),
        )
        self._first_chunk: Histogram = meter.create_histogram(
            first_chunk,
            unit="s",
            description="Time to the first chunk of a streamed GenAI operation.",
            explicit_bucket_boundaries_advisory=list(_DURATION_BUCKETS),
        )
        self._tokens: Histogram = meter.create_histogram(
            tokens,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(_TOKEN_BUCKETS),
        )

    # -- the logical call -----------------------------------------------------------------

    def call_started(self, call: Call) -> None:
        attributes: dict[str, str] = {"gen_ai.operation.name": "chat"}
        if call.model:
            attributes["gen_ai.request.model"] = call.model
        span = self._tracer.start_span(
            f"chat {call.model}".rstrip(), kind=SpanKind.CLIENT, attributes=attributes
        )
        call.marks[self] = span

    def call_ended(self, call: Call, outcome: str) -> None:
        span = call.marks.pop(self, None)
        if not isinstance(span, Span):
            return
        if call.model:
            span.update_name(f"chat {call.model}")
            span.set_attribute("gen_ai.request.model", call.model)
        common = _common(call.provider, call.model, call.server)
        span.set_attributes(common)
        if call.response_model:
            span.set_attribute("gen_ai.response.model", call.response_model)
        if call.finish_reason is not None:
            span.set_attribute("gen_ai.response.finish_reasons", [call.finish_reason])
        usage = call.usage
        metric_attributes = {"gen_ai.operation.name": "chat", **common}
        if usage is not None:
            span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
            for kind, count in (
                ("input", usage.prompt_tokens),
                ("output", usage.completion_tokens),
            ):
                self._tokens.record(count, {**metric_attributes, "gen_ai.token.type": kind})
        if call.error is not None:
            error = type(call.error).__name__
            span.set_attribute("error.type", error)
            span.set_status(Status(StatusCode.ERROR))
            metric_attributes["error.type"] = error
        elif outcome == "abandoned":
            span.set_attribute("vex_llm.outcome", "abandoned")
        if self.wants_content:
            _contents(span, call)
        self._duration.record(call.clock() - call.started, metric_attributes)
        span.end()

    def first_chunk(self, call: Call, seconds: float) -> None:
        attributes = {"gen_ai.operation.name": "chat", **_common(call.provider, call.model)}
        self._first_chunk.record(seconds, attributes)

    # -- attempts -------------------------------------------------------------------------

    def attempt_started(self, attempt: Attempt) -> None:
        call = attempt.call
        parent = None if call is None else call.marks.get(self)
        context = trace.set_span_in_context(parent) if isinstance(parent, Span) else None
        attributes = {
            "gen_ai.operation.name": "chat",
            **_common(attempt.provider, attempt.model, attempt.server),
            "vex_llm.circuit": attempt.circuit,
        }
        span = self._tracer.start_span(
            f"attempt {attempt.provider}",
            context=context,
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )
        attempt.marks[self] = span

    def attempt_ended(self, attempt: Attempt, outcome: str) -> None:
        span = attempt.marks.pop(self, None)
        if not isinstance(span, Span):
            return
        if attempt.error is not None:
            span.set_attribute("error.type", type(attempt.error).__name__)
            span.set_status(Status(StatusCode.ERROR))
        elif outcome == "abandoned":
            span.set_attribute("vex_llm.outcome", "abandoned")
        span.end()

    def outgoing(self, attempt: Attempt, headers: dict[str, str]) -> None:
        span = attempt.marks.get(self)
        if isinstance(span, Span):
            propagate.inject(headers, context=trace.set_span_in_context(span))

    # -- decisions and circuits -------------------------------------------------------------

    def decided(self, call: Call | None, decision: Decision) -> None:
        kind = decision.kind
        if kind == "attempt" and (decision.attempt or 1) > 1:
            name = "vex_llm.retry"
        else:
            found = _EVENTS.get(kind)
            if found is None:
                return
            name = found
        attributes: dict[str, str | int | float] = {"vex_llm.provider": decision.provider}
        if decision.detail:
            attributes["vex_llm.reason"] = decision.detail
        if decision.error is not None:
            attributes["error.type"] = decision.error
        if decision.attempt is not None:
            attributes["vex_llm.attempt"] = decision.attempt
        if decision.wait is not None:
            attributes["vex_llm.wait_seconds"] = decision.wait
        if kind == "fallback" and call is not None and call.last_failure is not None:
            attributes["vex_llm.from"], attributes["vex_llm.reason"] = call.last_failure
        self._span_of(call).add_event(name, attributes)

    def rejected(self, circuit: str, reason: str) -> None:
        attributes = {"vex_llm.circuit": circuit, "vex_llm.reason": reason}
        self._span_of(current_call()).add_event("vex_llm.circuit_rejected", attributes)

    def state_changed(self, change: Transition) -> None:
        attributes = {
            "vex_llm.circuit": change.breaker,
            "vex_llm.from": change.from_state.value,
            "vex_llm.to": change.to_state.value,
            "vex_llm.reason": change.reason,
        }
        self._span_of(current_call()).add_event("vex_llm.circuit_state", attributes)

    def _span_of(self, call: Call | None) -> Span:
        """The call's span, else the current one (a no-op span when there is none)."""
        span = None if call is None else call.marks.get(self)
        return span if isinstance(span, Span) else trace.get_current_span()


def _contents(span: Span, call: Call) -> None:
    """The messages and the answer, as the GenAI conventions spell them (opt-in only)."""
    if call.request is not None:
        messages = [
            {"role": m.role, "parts": [{"type": "text", "content": m.content}]}
            for m in call.request.messages
        ]
        span.set_attribute("gen_ai.input.messages", json.dumps(messages))
    if call.output is not None:
        answer = {
            "role": "assistant",
            "parts": [{"type": "text", "content": call.output}],
            "finish_reason": call.finish_reason or "",
        }
        span.set_attribute("gen_ai.output.messages", json.dumps([answer]))


def _common(provider: str, model: str, server: str = "") -> dict[str, str | int]:
    """The attributes every span and metric of a call or attempt shares."""
    attributes: dict[str, str | int] = {}
    if provider:
        attributes["gen_ai.provider.name"] = provider
    if model:
        attributes["gen_ai.request.model"] = model
    if server:
        host, _, port = server.rpartition(":")
        if host and port.isdigit():
            attributes["server.address"] = host
            attributes["server.port"] = int(port)
        else:
            attributes["server.address"] = server
    return attributes
