"""The pure state machine, driven by Hypothesis against a small reference model."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
)

from vex_llm import CircuitConfig, CircuitState, Outcome
from vex_llm.circuit import machine as _machine


@dataclass
class Model:
    """The seed's rules plus the fixes DESIGN.md asks for, written as plainly as possible."""

    failure_threshold: int
    success_threshold: int
    reset_timeout: float
    budget: int
    lease_ttl: float
    state: str = "closed"
    generation: int = 1
    failures: int = 0
    successes: int = 0
    open_until: float = 0.0
    isolated: bool = False
    leases: dict[int, float] = field(default_factory=dict)
    next_lease: int = 0
    opens: int = 0
    rejected: int = 0
    stale: int = 0

    def _to(self, state: str) -> None:
        self.state = state
        self.generation += 1
        self.failures = 0
        self.successes = 0
        self.leases = {}

    def trip(self, now: float) -> None:
        self._to("open")
        self.isolated = False
        self.open_until = now + self.reset_timeout
        self.opens += 1

    def advance(self, now: float) -> None:
        if self.state == "open" and not self.isolated and now >= self.open_until:
            self._to("half_open")

    def acquire(self, now: float) -> tuple[bool, int, int]:
        self.advance(now)
        if self.state == "closed":
            return True, self.generation, 0
        if self.state == "open":
            self.rejected += 1
            return False, self.generation, 0
        self.leases = {k: v for k, v in self.leases.items() if v > now}
        if len(self.leases) < self.budget:
            self.next_lease += 1
            self.leases[self.next_lease] = now + self.lease_ttl
            return True, self.generation, self.next_lease
        self.rejected += 1
        return False, self.generation, 0

    def record(self, generation: int, lease: int, outcome: Outcome, now: float) -> None:
        if generation != self.generation:
            self.stale += 1
            return
        if self.state == "open":
            return
        if self.state == "half_open":
            self.leases.pop(lease, None)
            if outcome is Outcome.FAILURE:
                self.trip(now)
            elif outcome is Outcome.SUCCESS:
                self.successes += 1
                if self.successes >= self.success_threshold:
                    self._to("closed")
            return
        if outcome is Outcome.FAILURE:
            self.failures += 1
            if self.failures >= self.failure_threshold:
                self.trip(now)
        elif outcome is Outcome.SUCCESS:
            self.failures = 0

    def release(self, generation: int, lease: int) -> None:
        if generation == self.generation:
            self.leases.pop(lease, None)


@settings(max_examples=150, stateful_step_count=60, deadline=None)
class MachineAgainstModel(RuleBasedStateMachine):
    """Random interleavings of time, admissions, outcomes and manual actions."""

    permits = Bundle("permits")

    @initialize(
        failure_threshold=st.integers(1, 4),
        success_threshold=st.integers(1, 3),
        reset_timeout=st.sampled_from([1.0, 5.0, 30.0]),
        half_open_max_calls=st.none() | st.integers(1, 3),
        probe_lease_ttl=st.sampled_from([2.0, 10.0, 120.0]),
    )
    def setup(
        self,
        failure_threshold: int,
        success_threshold: int,
        reset_timeout: float,
        half_open_max_calls: int | None,
        probe_lease_ttl: float,
    ) -> None:
        self.config = CircuitConfig(
            failure_threshold=failure_threshold,
            success_threshold=success_threshold,
            reset_timeout=reset_timeout,
            half_open_max_calls=half_open_max_calls,
            probe_lease_ttl=probe_lease_ttl,
        )
        self.record = _machine.CircuitRecord()
        self.model = Model(
            failure_threshold,
            success_threshold,
            reset_timeout,
            self.config.probe_budget,
            probe_lease_ttl,
        )
        self.now = 100.0

    @rule(seconds=st.sampled_from([0.0, 0.5, 1.0, 2.0, 5.0, 30.0, 200.0]))
    def wait(self, seconds: float) -> None:
        self.now += seconds

    @rule(target=permits)
    def acquire(self) -> tuple[bool, int, int]:
        admission = _machine.acquire(self.record, self.config, self.now)
        expected = self.model.acquire(self.now)
        assert (admission.admitted, admission.generation, admission.lease) == expected
        return expected

    @rule(
        permit=consumes(permits),
        outcome=st.sampled_from([Outcome.SUCCESS, Outcome.FAILURE, Outcome.IGNORED]),
    )
    def finish(self, permit: tuple[bool, int, int], outcome: Outcome) -> None:
        admitted, generation, lease = permit
        if not admitted:
            return
        _machine.record_outcome(self.record, self.config, generation, lease, outcome, self.now)
        self.model.record(generation, lease, outcome, self.now)

    @rule(permit=consumes(permits))
    def release(self, permit: tuple[bool, int, int]) -> None:
        admitted, generation, lease = permit
        if admitted:
            _machine.release(self.record, generation, lease)
            self.model.release(generation, lease)

    @rule()
    def read_state(self) -> None:
        _machine.advance(self.record, self.now)
        self.model.advance(self.now)

    @rule()
    def close_by_hand(self) -> None:
        changed = _machine.force(self.record, self.config, "close", self.now)
        if self.model.state != "closed":
            self.model._to("closed")
            self.model.isolated = False
            assert changed is not None
        else:
            assert changed is None

    @rule()
    def isolate(self) -> None:
        _machine.force(self.record, self.config, "isolate", self.now)
        if not (self.model.state == "open" and self.model.isolated):
            self.model._to("open")
            self.model.isolated = True

    @invariant()
    def same_state(self) -> None:
        record, model = self.record, self.model
        assert record.state.value == model.state
        assert record.generation == model.generation
        assert record.failures == model.failures
        cold = record.cold
        if cold is not None:
            assert cold.opens == model.opens
            assert _machine.count_value(cold.rejected) == model.rejected
            assert cold.stale == model.stale
            assert cold.isolated == model.isolated
            assert len(cold.leases) <= self.config.probe_budget
            if record.state is CircuitState.HALF_OPEN:
                assert cold.successes == model.successes
                assert set(cold.leases) == set(model.leases)


TestMachineAgainstModel = MachineAgainstModel.TestCase


@given(
    reset_timeout=st.floats(0.1, 100.0),
    multiplier=st.floats(1.0, 10.0),
    cap_factor=st.floats(1.0, 50.0),
    jitter=st.floats(0.0, 0.99),
    open_count=st.integers(1, 10_000),
    u=st.floats(0.0, 1.0, exclude_max=True),
)
def test_open_duration_stays_within_cap_and_jitter(
    reset_timeout: float,
    multiplier: float,
    cap_factor: float,
    jitter: float,
    open_count: int,
    u: float,
) -> None:
    """B33/B34: the open duration never exceeds the cap nor drops below cap-bound jitter."""
    cap = reset_timeout * cap_factor
    config = CircuitConfig(
        reset_timeout=reset_timeout,
        backoff_multiplier=multiplier,
        max_reset_timeout=cap,
        jitter=jitter,
    )
    duration = _machine.open_duration(config, open_count, u, None)
    assert math.isfinite(duration)
    assert duration <= cap * (1 + 1e-9)
    assert duration >= reset_timeout * (1 - jitter) * (1 - 1e-9)


@given(open_count=st.integers(1, 8))
def test_open_duration_grows_geometrically_until_the_cap(open_count: int) -> None:
    """B31/B32: the n-th open of an episode lasts reset_timeout * multiplier**(n-1), capped."""
    config = CircuitConfig(reset_timeout=5.0, backoff_multiplier=1.5, max_reset_timeout=60.0)
    expected = min(60.0, 5.0 * 1.5 ** (open_count - 1))
    assert _machine.open_duration(config, open_count, 0.0, None) == pytest.approx(expected)


def test_open_duration_does_not_overflow_on_absurd_counts() -> None:
    """B33: a huge exponent yields the cap, not an OverflowError."""
    config = CircuitConfig(reset_timeout=1.0, backoff_multiplier=10.0, max_reset_timeout=1e7)
    assert _machine.open_duration(config, 10**9, 0.0, None) == 1e7


@pytest.mark.parametrize(
    ("hint", "expected"),
    [(None, 30.0), (10.0, 30.0), (90.0, 90.0), (10_000.0, 300.0)],
)
def test_retry_after_lengthens_the_open_period_up_to_the_cap(
    hint: float | None, expected: float
) -> None:
    """B35: a Retry-After hint longer than the backoff sets the open period, capped."""
    assert _machine.open_duration(CircuitConfig(), 1, 0.0, hint) == expected


def test_retry_after_ignored_when_configured() -> None:
    """B35: with retry_after='ignore' the hint changes nothing."""
    config = CircuitConfig(retry_after="ignore")
    assert _machine.open_duration(config, 1, 0.0, 120.0) == 30.0


def test_count_window_evicts_the_oldest() -> None:
    """B08: a count window of 5 aggregates only the last 5 outcomes."""
    window = _machine.CountWindow(5)
    for failed in (True, True, False, False, False, False):
        window.add(failed, False, 0.0)
    assert window.totals(0.0) == (5, 1, 0)


def test_time_window_forgets_an_outcome_exactly_one_window_later() -> None:
    """B10: an outcome recorded at t0 is not counted at t0 + window."""
    window = _machine.TimeWindow(10.0, 10)
    window.add(True, False, 100.0)
    assert window.totals(109.999) == (1, 1, 0)
    assert window.totals(110.0) == (0, 0, 0)


def test_time_window_rolls_across_bucket_boundaries() -> None:
    """B09: failures at the end of one period and the start of the next combine."""
    window = _machine.TimeWindow(10.0, 10)
    window.add(True, False, 109.9)
    window.add(True, True, 110.1)
    assert window.totals(110.1) == (2, 2, 1)


def test_a_spent_deadline_is_not_evidence_against_the_provider() -> None:
    """A DeadlineExceeded counts neither way; a provider's own Timeout fails."""
    from vex_llm import DeadlineExceeded, Timeout, classify_error

    assert DeadlineExceeded("caller out of time").code == "deadline_exceeded"
    assert classify_error(DeadlineExceeded("caller out of time")) is (Outcome.IGNORED)
    assert classify_error(Timeout("no first token in 1s")) is Outcome.FAILURE
