"""The Prometheus observer: vex-llm's events as prometheus-client metrics.

The series every call or chunk touches (requests, durations, attempts, tokens, time to
first token, inter-chunk gaps) are kept as plain numbers under one lock and exported by
a collector of our own (``_Hot``), with the names, labels, buckets and ``_created``
samples prometheus-client's own ``Counter`` and ``Histogram`` would give them: an
``inc()`` or ``observe()`` there takes a lock per value and checks its labels and
exemplars, a microsecond or more each, several times per call and once per chunk. The
rare events (retries, fallbacks, hedges, deadlines, circuits, stores) stay on
prometheus-client's metrics.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from typing import TYPE_CHECKING, Final, TypeVar, cast

import prometheus_client.metrics
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

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
_PM: Final = ("provider", "model")

_Spec = tuple[str, type[Counter | Gauge], str, str, tuple[str, ...]]
_METRICS: Final[tuple[_Spec, ...]] = (
    # (attribute, type, name, help, labels); counters get "_total". Registered after _Hot.
    ("retries", Counter, "vex_llm_retries",
     "Retries, by provider and the error class that caused them.", ("provider", "reason")),
    ("fallbacks", Counter, "vex_llm_fallbacks",
     "Moves to the next provider of a fallback chain.", ("from", "to", "reason")),
    ("hedges", Counter, "vex_llm_hedges",
     "Hedged requests: fired, won (the hedge answered), wasted (it did not).", ("outcome",)),
    ("deadlines", Counter, "vex_llm_deadline_exceeded",
     "Logical calls that ended because their overall deadline was spent.", ()),
    ("state", Gauge, "vex_llm_circuit_state",
     "Circuit state, one-hot (the state this process last saw).", ("circuit", "state")),
    ("transitions", Counter, "vex_llm_circuit_transitions",
     "Circuit state transitions.", ("circuit", "from", "to")),
    ("rejections", Counter, "vex_llm_circuit_rejections",
     "Calls refused or skipped because a circuit was open.", ("circuit", "reason")),
    ("failure_rate", Gauge, "vex_llm_circuit_failure_rate",
     "Failure rate over the circuit's window (ratio mode), 0..1.", ("circuit",)),
    ("store_degraded", Gauge, "vex_llm_store_degraded",
     "1 while a shared store is unreachable and circuits run on local state.", ("store",)),
    ("store_errors", Counter, "vex_llm_store_errors",
     "Failed operations on a shared store.", ("store",)),
)  # fmt: skip


def state_name(state: str, *, isolated: bool) -> str:
    """The gauge's state name: ``forced_open`` for a circuit held open by hand."""
    return "forced_open" if isolated and state == "open" else state


class _Buckets:
    """One histogram series as plain numbers: counts per bucket (not cumulative; the
    last is ``+Inf``), their sum and when the series was made (unix seconds)."""

    __slots__ = ("counts", "created", "sum")

    def __init__(self, size: int) -> None:
        self.counts = [0] * (size + 1)
        self.sum = 0.0
        self.created = time.time()


class _Family:
    """One metric's series by label values: ``[value, created]`` for a counter,
    ``_Buckets`` for a histogram (``bounds`` not empty)."""

    __slots__ = ("bounds", "help", "labels", "les", "name", "series")

    def __init__(
        self, name: str, text: str, labels: tuple[str, ...], bounds: tuple[float, ...] = ()
    ) -> None:
        self.name = name
        self.help = text
        self.labels = labels
        self.bounds = bounds
        # The "le" label of each bucket, spelled as prometheus-client spells it.
        self.les: tuple[str, ...] = tuple(
            floatToGoString(bound)  # type: ignore[no-untyped-call]  # untyped in the library
            for bound in (*bounds, float("inf"))
        )
        self.series: dict[tuple[str, ...], list[float] | _Buckets] = {}

    def add(self, values: tuple[str, ...], amount: float = 1.0) -> None:
        """Count ``amount`` on a counter's series (the caller holds the lock)."""
        cell = self.series.get(values)
        if cell is None:
            self.series[values] = [amount, time.time()]
        else:
            cast("list[float]", cell)[0] += amount

    def cell(self, values: tuple[str, ...]) -> list[float]:
        """A counter's series, ``[value, created]`` (the caller holds the lock)."""
        cell = self.series.get(values)
        if cell is None:
            cell = self.series[values] = [0.0, time.time()]
        return cast("list[float]", cell)

    def buckets(self, values: tuple[str, ...]) -> _Buckets:
        """A histogram's series (the caller holds the lock)."""
        cell = self.series.get(values)
        if cell is None:
            cell = self.series[values] = _Buckets(len(self.bounds))
        return cast("_Buckets", cell)

    def observe(self, values: tuple[str, ...], seconds: float) -> None:
        """One observation on a histogram's series (the caller holds the lock)."""
        cell = self.buckets(values)
        cell.counts[bisect_left(self.bounds, seconds)] += 1  # le: the first bound >= it
        cell.sum += seconds

    def metric(self) -> Metric:
        """The empty family, as ``describe()`` gives it."""
        return Metric(self.name, self.help, "histogram" if self.bounds else "counter")

    def export(self, created: bool) -> Metric:
        """The family with its samples, as prometheus-client's own metric would give them
        (the caller holds the lock)."""
        metric = self.metric()
        add = metric.add_sample
        name = self.name
        for values, cell in self.series.items():
            labels = dict(zip(self.labels, values, strict=True))
            if isinstance(cell, _Buckets):
                total = 0.0
                for le, count in zip(self.les, cell.counts, strict=True):
                    total += count
                    add(f"{name}_bucket", {**labels, "le": le}, total)
                add(f"{name}_count", labels, total)
                add(f"{name}_sum", labels, cell.sum)
                stamp = cell.created
            else:
                add(f"{name}_total", labels, cell[0])
                stamp = cell[1]
            if created:
                add(f"{name}_created", labels, stamp)
        return metric


class _Hot:
    """The collector of the per-call and per-chunk series, kept under one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = _Family(
            "vex_llm_requests",
            "Logical calls, by the provider that answered (or failed last), and outcome.",
            (*_PM, "outcome"),
        )
        self.duration = _Family(
            "vex_llm_request_duration_seconds",
            "Duration of logical calls (retries and fallbacks included), seconds.",
            _PM,
            _CALL_BUCKETS,
        )
        self.attempts = _Family(
            "vex_llm_attempts",
            "Upstream attempts admitted by a circuit, by outcome and error class.",
            (*_PM, "outcome", "error"),
        )
        self.first_token = _Family(
            "vex_llm_time_to_first_token_seconds",
            "Time from the start of a streamed call to its first chunk, seconds.",
            _PM,
            _FIRST_BUCKETS,
        )
        self.inter_chunk = _Family(
            "vex_llm_inter_chunk_seconds",
            "Time between consecutive chunks of a stream, seconds.",
            _PM,
            _CHUNK_BUCKETS,
        )
        self.tokens = _Family(
            "vex_llm_tokens",
            "Tokens reported by the providers (input, output, cached_input, reasoning).",
            (*_PM, "type"),
        )
        # The series of each (provider, model), found with one lookup per event.
        self.pairs: dict[tuple[str, str], _Pair] = {}
        self.families = (
            self.requests,
            self.duration,
            self.attempts,
            self.first_token,
            self.inter_chunk,
            self.tokens,
        )

    def pair(self, provider: str, model: str) -> _Pair:
        """The series of one (provider, model) (the caller holds the lock)."""
        key = (provider, model)
        found = self.pairs.get(key)
        if found is None:
            found = self.pairs[key] = _Pair(self, key)
        return found

    def describe(self) -> Iterable[Metric]:
        """The families' names and types (the registry refuses a second install by them)."""
        return [family.metric() for family in self.families]

    def collect(self) -> Iterator[Metric]:
        """Every series, as prometheus-client's ``Counter`` and ``Histogram`` export them
        (``_created`` unless prometheus-client was told to leave it out)."""
        created = bool(getattr(prometheus_client.metrics, "_use_created", True))
        with self.lock:
            exported = [family.export(created) for family in self.families]
        yield from exported


class PrometheusObserver(Observer):
    """Counts and times vex-llm's calls, attempts, decisions and circuits in a registry.

    Args:
        registry: Where the metrics are registered.

    Raises:
        ValueError: If the registry already holds vex-llm's metrics (one observer per
            registry: uninstall the other first).
    """

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
        self._hot = _Hot()
        # Labelled children by (metric, label values): a dict hit instead of labels()' checks
        # and lock on every call. Label values are bounded, so is this.
        self._children: dict[tuple[object, tuple[str, ...]], object] = {}
        try:
            self._build(registry)
        except ValueError:
            self.unregister()
            raise

    def _build(self, registry: CollectorRegistry) -> None:
        registry.register(self._hot)
        self._made.append(self._hot)
        for attribute, kind, name, text, labels in _METRICS:
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
        seconds = call.clock() - call.started
        provider = call.provider or call.stack
        hot = self._hot
        usage = call.usage
        with hot.lock:
            pair = hot.pairs.get((provider, call.model)) or hot.pair(provider, call.model)
            requests = pair.requests.get(outcome) or pair.request(outcome)
            requests[0] += 1.0
            duration = pair.duration
            duration.counts[bisect_left(_CALL_BUCKETS, seconds)] += 1
            duration.sum += seconds
            if usage is not None:
                # The types in _TOKEN_TYPES' order; a type appears once it was non-zero.
                tokens = pair.tokens
                if count := usage.prompt_tokens:
                    (tokens[0] or pair.token(0))[0] += count
                if count := usage.completion_tokens:
                    (tokens[1] or pair.token(1))[0] += count
                if count := usage.cached_input_tokens:
                    (tokens[2] or pair.token(2))[0] += count
                if count := usage.reasoning_tokens:
                    (tokens[3] or pair.token(3))[0] += count
        if call.error is not None and isinstance(call.error, DeadlineExceeded):
            self.deadlines.inc()
        if call.hedged:
            won = outcome == "success" and call.provider in call.hedged
            self._child(self.hedges, "won" if won else "wasted").inc()

    def first_chunk(self, call: Call, seconds: float) -> None:
        timed = self._timed(call)
        hot = self._hot
        with hot.lock:
            cell = timed.first
            cell.counts[bisect_left(_FIRST_BUCKETS, seconds)] += 1
            cell.sum += seconds

    def chunks(self, call: Call, gaps: Sequence[float]) -> None:
        timed = self._timed(call)
        slot = partial(bisect_left, _CHUNK_BUCKETS)  # le: the first bound >= the gap
        total = sum(gaps)
        with self._hot.lock:
            cell = timed.gap
            counts = cell.counts
            for index in map(slot, gaps):
                counts[index] += 1
            cell.sum += total

    def _timed(self, call: Call) -> _Timed:
        """The stream's two histogram series, looked up once per provider (not per chunk)."""
        timed = cast("_Timed | None", call.marks.get(self))
        if timed is None or timed.provider != call.provider:
            labels = (call.provider or call.stack, call.model)
            hot = self._hot
            with hot.lock:
                pair = hot.pair(*labels)
                timed = _Timed(call.provider, pair.first_token(), pair.inter_chunk())
            call.marks[self] = timed
        return timed

    # -- attempts ---------------------------------------------------------------------

    def attempt_ended(self, attempt: Attempt, outcome: str) -> None:
        error = "" if attempt.error is None else type(attempt.error).__name__
        hot = self._hot
        with hot.lock:
            pair = hot.pairs.get((attempt.provider, attempt.model)) or hot.pair(
                attempt.provider, attempt.model
            )
            cell = pair.attempts.get((outcome, error)) or pair.attempt(outcome, error)
            cell[0] += 1.0
        if attempt.circuit not in self._circuits:
            # A circuit's gauge starts at its first attempt. Had this attempt moved it,
            # state_changed would have set the gauge already: its state now is the one
            # that admitted the attempt.
            self._circuits.add(attempt.circuit)
            self._set_state(attempt.circuit, attempt.state)
        if attempt.failure_rate is not None:
            self._child(self.failure_rate, attempt.circuit).set(attempt.failure_rate)

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


class _Timed:
    """A stream's two histogram series and the provider they are labelled with."""

    __slots__ = ("first", "gap", "provider")

    def __init__(self, provider: str, first: _Buckets, gap: _Buckets) -> None:
        self.provider = provider
        self.first = first
        self.gap = gap


class _Pair:
    """The series of one (provider, model), each made in its family on first use."""

    __slots__ = ("_hot", "attempts", "duration", "key", "requests", "tokens")

    def __init__(self, hot: _Hot, key: tuple[str, str]) -> None:
        self._hot = hot
        self.key = key
        self.requests: dict[str, list[float]] = {}
        self.attempts: dict[tuple[str, str], list[float]] = {}
        self.tokens: list[list[float] | None] = [None] * len(_TOKEN_TYPES)
        self.duration = hot.duration.buckets(key)

    def request(self, outcome: str) -> list[float]:
        cell = self.requests[outcome] = self._hot.requests.cell((*self.key, outcome))
        return cell

    def attempt(self, outcome: str, error: str) -> list[float]:
        cell = self.attempts[outcome, error] = self._hot.attempts.cell((*self.key, outcome, error))
        return cell

    def token(self, index: int) -> list[float]:
        cell = self.tokens[index]
        if cell is None:
            kind = _TOKEN_TYPES[index][0]
            cell = self.tokens[index] = self._hot.tokens.cell((*self.key, kind))
        return cell

    def first_token(self) -> _Buckets:
        return self._hot.first_token.buckets(self.key)

    def inter_chunk(self) -> _Buckets:
        return self._hot.inter_chunk.buckets(self.key)
