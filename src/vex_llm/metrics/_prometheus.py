"""The Prometheus observer: vex-llm's events as prometheus-client metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, TypeVar, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .._errors import DeadlineExceeded
from .._observe import Attempt, Call, Decision, Observer, Transition

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

_M = TypeVar("_M", Counter, Gauge, Histogram)

STATES: Final = ("closed", "open", "half_open", "forced_open")
"""The values of ``vex_llm_circuit_state``'s ``state`` label (one-hot)."""

_CALL_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
_FIRST_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
_CHUNK_BUCKETS: Final = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_TOKEN_TYPES: Final = (
    ("input", "prompt_tokens"),
    ("output", "completion_tokens"),
    ("cached_input", "cached_input_tokens"),
    ("reasoning", "reasoning_tokens"),
)


_Spec = tuple[str, type[Counter | Gauge | Histogram], str, str, tuple[str, ...], tuple[float, ...]]
_PM: Final = ("provider", "model")
_METRICS: Final[tuple[_Spec, ...]] = (
    # (attribute, type, name, help, labels, histogram buckets); counters get "_total".
    ("requests", Counter, "vex_llm_requests",
     "Logical calls, by the provider that answered (or failed last), and outcome.",
     (*_PM, "outcome"), ()),
    ("duration", Histogram, "vex_llm_request_duration_seconds",
     "Duration of logical calls (retries and fallbacks included), seconds.", _PM, _CALL_BUCKETS),
    ("attempts", Counter, "vex_llm_attempts",
     "Upstream attempts admitted by a circuit, by outcome and error class.",
     (*_PM, "outcome", "error"), ()),
    ("first_token", Histogram, "vex_llm_time_to_first_token_seconds",
     "Time from the start of a streamed call to its first chunk, seconds.", _PM, _FIRST_BUCKETS),
    ("inter_chunk", Histogram, "vex_llm_inter_chunk_seconds",
     "Time between consecutive chunks of a stream, seconds.", _PM, _CHUNK_BUCKETS),
    ("tokens", Counter, "vex_llm_tokens",
     "Tokens reported by the providers (input, output, cached_input, reasoning).",
     (*_PM, "type"), ()),
    ("retries", Counter, "vex_llm_retries",
     "Retries, by provider and the error class that caused them.", ("provider", "reason"), ()),
    ("fallbacks", Counter, "vex_llm_fallbacks",
     "Moves to the next provider of a fallback chain.", ("from", "to", "reason"), ()),
    ("hedges", Counter, "vex_llm_hedges",
     "Hedged requests: fired, won (the hedge answered), wasted (it did not).", ("outcome",), ()),
    ("deadlines", Counter, "vex_llm_deadline_exceeded",
     "Logical calls that ended because their overall deadline was spent.", (), ()),
    ("state", Gauge, "vex_llm_circuit_state",
     "Circuit state, one-hot (the state this process last saw).", ("circuit", "state"), ()),
    ("transitions", Counter, "vex_llm_circuit_transitions",
     "Circuit state transitions.", ("circuit", "from", "to"), ()),
    ("rejections", Counter, "vex_llm_circuit_rejections",
     "Calls refused or skipped because a circuit was open.", ("circuit", "reason"), ()),
    ("failure_rate", Gauge, "vex_llm_circuit_failure_rate",
     "Failure rate over the circuit's window (ratio mode), 0..1.", ("circuit",), ()),
    ("store_degraded", Gauge, "vex_llm_store_degraded",
     "1 while a shared store is unreachable and circuits run on local state.", ("store",), ()),
    ("store_errors", Counter, "vex_llm_store_errors",
     "Failed operations on a shared store.", ("store",), ()),
)  # fmt: skip


def state_name(state: str, *, isolated: bool) -> str:
    """The gauge's state name: ``forced_open`` for a circuit held open by hand."""
    return "forced_open" if isolated and state == "open" else state


class PrometheusObserver(Observer):
    """Counts and times vex-llm's calls, attempts, decisions and circuits in a registry.

    Args:
        registry: Where the metrics are registered.

    Raises:
        ValueError: If the registry already holds vex-llm's metrics (one observer per
            registry: uninstall the other first).
    """

    requests: Counter
    duration: Histogram
    attempts: Counter
    first_token: Histogram
    inter_chunk: Histogram
    tokens: Counter
    retries: Counter
    fallbacks: Counter
    hedges: Counter
    deadlines: Counter
    state: Gauge
    transitions: Counter
    rejections: Counter
    failure_rate: Gauge
    store_degraded: Gauge
    store_errors: Counter

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._made: list[Collector] = []
        self._circuits: set[str] = set()
        # Labelled children by (metric, label values): a dict hit instead of labels()' checks
        # and lock on every call. Label values are bounded, so is this.
        self._children: dict[tuple[object, tuple[str, ...]], object] = {}
        try:
            self._build(registry)
        except ValueError:
            self.unregister()
            raise

    def _build(self, registry: CollectorRegistry) -> None:
        for attribute, kind, name, text, labels, buckets in _METRICS:
            if kind is Histogram:
                metric: Counter | Gauge | Histogram = Histogram(
                    name, text, labels, buckets=buckets, registry=registry
                )
            else:
                metric = kind(name, text, labels, registry=registry)
            self._made.append(metric)
            setattr(self, attribute, metric)

    def _child(self, metric: _M, *labels: str) -> _M:
        key = (metric, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return cast(_M, child)  # labels() of an _M is an _M

    def unregister(self) -> None:
        """Remove the metrics from the registry."""
        for metric in self._made:
            try:
                self.registry.unregister(metric)
            except KeyError:  # never registered (a clash while building)
                continue
        self._made.clear()

    # -- calls ------------------------------------------------------------------------

    def call_ended(self, call: Call, outcome: str) -> None:
        provider = call.provider or call.stack
        model = call.model
        child = self._child
        child(self.requests, provider, model, outcome).inc()
        child(self.duration, provider, model).observe(call.clock() - call.started)
        usage = call.usage
        if usage is not None:
            for kind, field in _TOKEN_TYPES:
                count = getattr(usage, field)
                if count:
                    child(self.tokens, provider, model, kind).inc(count)
        if isinstance(call.error, DeadlineExceeded):
            self.deadlines.inc()
        if call.hedged:
            won = outcome == "success" and call.provider in call.hedged
            child(self.hedges, "won" if won else "wasted").inc()

    def first_chunk(self, call: Call, seconds: float) -> None:
        self._timers(call).first.observe(seconds)

    def chunk(self, call: Call, seconds: float) -> None:
        self._timers(call).gap.observe(seconds)

    def _timers(self, call: Call) -> _Timers:
        cached = call.marks.get(self)
        if not isinstance(cached, _Timers) or cached.provider != call.provider:
            cached = _Timers(self, call)
            call.marks[self] = cached
        return cached

    # -- attempts ---------------------------------------------------------------------

    def attempt_started(self, attempt: Attempt) -> None:
        if attempt.circuit not in self._circuits:
            self._circuits.add(attempt.circuit)
            self._set_state(attempt.circuit, attempt.state)

    def attempt_ended(self, attempt: Attempt, outcome: str) -> None:
        error = "" if attempt.error is None else type(attempt.error).__name__
        self._child(self.attempts, attempt.provider, attempt.model, outcome, error).inc()
        if attempt.failure_rate is not None:
            self.failure_rate.labels(attempt.circuit).set(attempt.failure_rate)

    # -- decisions and circuits ---------------------------------------------------------

    def decided(self, call: Call | None, decision: Decision) -> None:
        kind = decision.kind
        if kind == "wait":
            self._child(self.retries, decision.provider, decision.error or decision.detail).inc()
        elif kind == "fallback":
            source, why = (
                ("", "") if call is None or call.last_failure is None else call.last_failure
            )
            self.fallbacks.labels(source, decision.provider, why).inc()
        elif kind == "hedge":
            self.hedges.labels("fired").inc()
        elif kind == "skip" and decision.detail == "circuit_open":
            self.rejections.labels(decision.provider, "open").inc()

    def state_changed(self, change: Transition) -> None:
        isolated = change.manual and change.open_until is None
        before = change.from_state.value
        after = state_name(change.to_state.value, isolated=isolated)
        self.transitions.labels(change.breaker, before, after).inc()
        self._circuits.add(change.breaker)
        self._set_state(change.breaker, after)

    def _set_state(self, circuit: str, current: str) -> None:
        for name in STATES:
            self.state.labels(circuit, name).set(1.0 if name == current else 0.0)

    def rejected(self, circuit: str, reason: str) -> None:
        self.rejections.labels(circuit, reason).inc()

    def store_health(self, store: str, degraded: bool, failed: bool) -> None:
        self.store_degraded.labels(store).set(1.0 if degraded else 0.0)
        if failed:
            self.store_errors.labels(store).inc()


class _Timers:
    """A stream's two histogram children, looked up once per provider (not per chunk)."""

    __slots__ = ("first", "gap", "provider")

    def __init__(self, observer: PrometheusObserver, call: Call) -> None:
        self.provider = call.provider
        labels = (call.provider or call.stack, call.model)
        self.first = observer.first_token.labels(*labels)
        self.gap = observer.inter_chunk.labels(*labels)
