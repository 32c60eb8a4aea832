"""Faults and rules: validation, the admin data format, and how a request's plan is chosen."""

from __future__ import annotations

import pytest

from vex_llm.testing import Fault, JournalEntry, Rule
from vex_llm.testing._plan import Faults, Plan


def entry(model: str = "m", *, wire: str = "openai", stream: bool = False) -> JournalEntry:
    """A journal entry for a request."""
    return JournalEntry(at=0.0, path="/v1/x", wire=wire, model=model, stream=stream)  # type: ignore[arg-type]


def plan(faults: Faults, *, elapsed: float = 0.0, **kwargs: object) -> Plan:
    """The plan for one request."""
    return faults.plan(entry(**kwargs), elapsed)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fault",
    [
        Fault.error(429, retry_after=1.5, retry_after_ms=200, code="x", message="m"),
        Fault.error(503),
        Fault.context_length(),
        Fault.overloaded(),
        Fault.latency(0.2, jitter=0.1),
        Fault.slow_first_token(1.0),
        Fault.stall(after_chunks=2, seconds=0.5),
        Fault.stall(),
        Fault.cut(after_chunks=3),
        Fault.reset(),
        Fault.reset(after_chunks=2),
        Fault.hang(),
        Fault.malformed(),
        Fault.garbage_sse(),
        Fault.noisy_sse(),
        Fault.stream_error("api_error", after_chunks=1),
    ],
)
def test_fault_round_trips_through_dicts(fault: Fault) -> None:
    """Every fault survives to_dict / from_dict (the admin endpoint's format)."""
    assert Fault.from_dict(fault.to_dict()) == fault


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "explode"},
        {"kind": "status", "status": 99},
        {"kind": "latency", "seconds": -1},
        {"kind": "latency", "jitter": float("nan")},
        {"kind": "cut", "after_chunks": -1},
        {"kind": "status", "colour": "red"},
    ],
)
def test_bad_faults_are_refused(data: dict[str, object]) -> None:
    """Unknown kinds and fields, and out-of-range values, raise ValueError."""
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        Fault.from_dict(data)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"fault": {"kind": "hang"}, "script": []},
        {"fault": {"kind": "hang"}, "rate": 2},
        {"fault": {"kind": "hang"}, "wire": "grpc"},
        {"fault": {"kind": "hang"}, "between": [5, 1]},
        {"fault": {"kind": "hang"}, "times": -1},
        {"script": "hang"},
        {"fault": {"kind": "hang"}, "when": "now"},
    ],
)
def test_bad_rules_are_refused(data: dict[str, object]) -> None:
    """Malformed admin rules raise ValueError."""
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        Rule.from_dict(data)


def test_rule_from_admin_data() -> None:
    """A script from admin data is spent after its length unless it cycles."""
    rule = Rule.from_dict({"script": [{"kind": "reset"}, None], "wire": "anthropic"})
    assert rule.sequence == (Fault.reset(), None)
    assert (rule.times, rule.wire) == (2, "anthropic")
    assert Rule.from_dict({"script": [None], "cycle": True}).times is None
    data = rule.to_dict()
    assert data["script"] == [{"kind": "reset"}, None]


def test_first_matching_fault_wins_and_latencies_add() -> None:
    """Latencies of every matching rule add up; the first other fault ends the search."""
    faults = Faults(seed=0)
    faults.add(Rule(sequence=(Fault.latency(0.1),)))
    faults.add(Rule(sequence=(Fault.error(500),), wire="anthropic"))
    faults.add(Rule(sequence=(Fault.latency(0.2),)))
    faults.add(Rule(sequence=(Fault.error(503),)))
    faults.add(Rule(sequence=(Fault.error(504),)))
    chosen = plan(faults)
    assert chosen.delay == pytest.approx(0.3)
    assert chosen.fault == Fault.error(503)
    assert chosen.names == ("latency", "latency", "status")
    assert faults.journal()[0].fault == "latency+latency+status"


def test_times_and_scripts() -> None:
    """A rule with times is spent after that many requests; a None step answers normally."""
    faults = Faults(seed=0)
    faults.add(Rule(sequence=(Fault.error(500), None, Fault.reset()), times=3))
    faults.add(Rule(sequence=(Fault.hang(),), times=1, stream=True))
    kinds = [plan(faults).fault for _ in range(4)]
    assert kinds == [Fault.error(500), None, Fault.reset(), None]
    assert plan(faults, stream=True).fault == Fault.hang()
    assert all(rule.is_spent for rule in faults.rules())


def test_filters() -> None:
    """wire, stream and model filters narrow a rule to matching requests."""
    faults = Faults(seed=0)
    faults.add(Rule(sequence=(Fault.reset(),), wire="anthropic", stream=True, model="big"))
    assert plan(faults, wire="openai", stream=True, model="big").fault is None
    assert plan(faults, wire="anthropic", stream=False, model="big").fault is None
    assert plan(faults, wire="anthropic", stream=True, model="small").fault is None
    assert plan(faults, wire="anthropic", stream=True, model="big").fault == Fault.reset()


def test_outage_window() -> None:
    """A window applies from t0 (inclusive) to t1 (exclusive) after the start."""
    faults = Faults(seed=0)
    faults.add(Rule(sequence=(Fault.error(503),), between=(1.0, 2.0)))
    assert [plan(faults, elapsed=t).fault is not None for t in (0.5, 1.0, 1.99, 2.0)] == [
        False,
        True,
        True,
        False,
    ]


def test_rates_are_seeded() -> None:
    """The same seed gives the same failures; the rate is roughly honoured."""

    def run(seed: int) -> list[bool]:
        faults = Faults(seed=seed)
        faults.add(Rule(sequence=(Fault.error(500),), rate=0.3))
        return [plan(faults).fault is not None for _ in range(500)]

    assert run(1) == run(1)
    assert run(1) != run(2)
    assert 100 <= sum(run(1)) <= 200


def test_reset_clears_and_reseeds() -> None:
    """reset() drops rules and journal and restarts the random sequence."""
    faults = Faults(seed=3)
    rule = Rule(sequence=(Fault.latency(0.0, jitter=1.0),))
    faults.add(rule)
    before = [plan(faults).delay for _ in range(3)]
    faults.reset()
    assert faults.journal() == []
    assert faults.rules() == []
    faults.add(Rule(sequence=(Fault.latency(0.0, jitter=1.0),)))
    assert [plan(faults).delay for _ in range(3)] == before
