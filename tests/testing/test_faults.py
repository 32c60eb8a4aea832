"""Faults and rules: validation, the admin data format, and how a request's plan is chosen."""

from __future__ import annotations

import pytest

from vex_llm.testing import Answer, Fault, JournalEntry, Rule, ToolUse
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


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Fault.error(101), "status"),
        (lambda: Fault.error(204), "status"),
        (lambda: Fault.error(304), "status"),
        (lambda: Fault.error(200), "status"),
        (lambda: Fault.error(600), "status"),
        (lambda: Fault.error(503.0), "status"),  # type: ignore[arg-type]
        (lambda: Fault.error(True), "status"),  # type: ignore[arg-type]
        (lambda: Fault.rate_limited(retry_after="1\r\nSet-Cookie: x=1"), "retry_after"),
        (lambda: Fault.rate_limited(retry_after="2\n"), "retry_after"),
        (lambda: Fault.rate_limited(retry_after="\x00"), "retry_after"),
        (lambda: Fault.rate_limited(retry_after=""), "retry_after"),
        (lambda: Fault.rate_limited(retry_after=" 2"), "retry_after"),
        (lambda: Fault.rate_limited(retry_after="zwei Minuten \u00fcber"), "retry_after"),
        (lambda: Fault.rate_limited(retry_after="9" * 300), "retry_after"),
        (lambda: Fault.rate_limited(retry_after=float("inf")), "retry_after"),
        (lambda: Fault.rate_limited(retry_after=-1), "retry_after"),
        (lambda: Fault.rate_limited(retry_after_ms=float("nan")), "retry_after_ms"),
        (lambda: Fault.cut(after_chunks=1.5), "after_chunks"),  # type: ignore[arg-type]
        (lambda: Fault.stall(after_chunks=True), "after_chunks"),
        (lambda: Fault.reset(after_chunks=-2), "after_chunks"),
        (lambda: Fault.stream_error(after_chunks=2.0), "after_chunks"),  # type: ignore[arg-type]
        (lambda: Fault.stream_error(code=3), "code"),  # type: ignore[arg-type]
        (lambda: Fault.error(500, message=["x"]), "message"),  # type: ignore[arg-type]
        (lambda: Fault.latency(float("inf")), "seconds"),
        (lambda: Fault.latency(0.1, jitter=-0.1), "jitter"),
        (lambda: Fault.slow_first_token("3"), "seconds"),  # type: ignore[arg-type]
        (lambda: Fault.stall(seconds=float("nan")), "seconds"),
        (lambda: Fault(kind="cut", seconds=2.0), "seconds"),
        (lambda: Fault(kind="hang", status=503), "status"),
        (lambda: Fault(kind="latency", seconds=1.0, after_chunks=2), "after_chunks"),
        (lambda: Fault(kind="reset", retry_after=2), "retry_after"),
        (lambda: Fault(kind="slow_first_token", seconds=1.0, jitter=0.5), "jitter"),
        (lambda: Fault(kind="nope"), "kind"),  # type: ignore[arg-type]
    ],
)
def test_fault_fields_are_checked_when_built(build: object, field: str) -> None:
    """Every field is checked for its kind: statuses, header-safe strings, counts, durations."""
    assert callable(build)
    with pytest.raises(ValueError, match=f"Fault {field} "):
        build()


@pytest.mark.parametrize("status", [400, 401, 418, 429, 499, 500, 503, 529, 599])
def test_error_statuses_are_accepted(status: int) -> None:
    """Every 4xx and 5xx status is a valid error answer, plain or inside a stream."""
    assert Fault.error(status).status == status
    assert Fault(kind="stream_error", status=status).status == status


def test_http_date_retry_after_is_a_valid_header() -> None:
    """A Retry-After HTTP date (spaces, commas, colons) passes the header check."""
    when = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert Fault.rate_limited(retry_after=when).retry_after == when


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"fault": {"kind": "hang"}, "times": 1.5}, "times"),
        ({"fault": {"kind": "hang"}, "times": "3"}, "times"),
        ({"fault": {"kind": "hang"}, "times": True}, "times"),
        ({"script": [None], "times": 2.0}, "times"),
        ({"fault": {"kind": "hang"}, "rate": "0.5"}, "rate"),
        ({"fault": {"kind": "hang"}, "rate": float("nan")}, "rate"),
        ({"fault": {"kind": "hang"}, "rate": -0.1}, "rate"),
        ({"fault": {"kind": "hang"}, "rate": True}, "rate"),
        ({"fault": {"kind": "hang"}, "stream": 1}, "stream"),
        ({"fault": {"kind": "hang"}, "stream": "yes"}, "stream"),
        ({"fault": {"kind": "hang"}, "model": 7}, "model"),
        ({"fault": {"kind": "hang"}, "between": [1]}, "between"),
        ({"fault": {"kind": "hang"}, "between": ["0", "1"]}, "between"),
        ({"fault": {"kind": "hang"}, "between": [0, float("inf")]}, "between"),
        ({"fault": {"kind": "hang"}, "between": [-1, 1]}, "between"),
        ({"fault": {"kind": "hang"}, "between": "0-1"}, "between"),
        ({"script": [None], "cycle": "yes"}, "cycle"),
        ({"fault": {"status": 500}}, "kind"),
        ({"fault": {"kind": "status", "status": 101}}, "status"),
        ({"fault": {"kind": "status", "retry_after": "1\r\nX: y"}}, "retry_after"),
        ({"fault": {"kind": "cut", "after_chunks": 1.5}}, "after_chunks"),
    ],
)
def test_rule_fields_are_checked(data: dict[str, object], field: str) -> None:
    """Admin rule data is checked field by field, never coerced (1.5 times is not 'unlimited')."""
    with pytest.raises(ValueError, match=field):
        Rule.from_dict(data)


def test_rules_built_in_python_are_checked() -> None:
    """Rule() checks its steps and filters like the admin data."""
    with pytest.raises(TypeError, match="Fault or None"):
        Rule(sequence=("hang",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="times"):
        Rule(sequence=(None,), times=0.5)  # type: ignore[arg-type]
    assert Rule(sequence=(None,), between=(1, 2)).between == (1.0, 2.0)


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


def test_answers_and_faults_combine_in_one_plan() -> None:
    """The first Answer and the first fault both apply, whichever rule comes first;
    latencies before the fault add up."""
    faults = Faults(seed=0)
    answer = Answer.tool_call("f")
    faults.add(Rule(sequence=(Fault.latency(0.1),)))
    faults.add(Rule(sequence=(Fault.cut(after_chunks=2),)))
    faults.add(Rule(sequence=(answer,)))
    chosen = plan(faults)
    assert (chosen.delay, chosen.fault, chosen.answer) == (0.1, Fault.cut(after_chunks=2), answer)
    assert chosen.names == ("latency", "cut")


def test_a_second_answer_rule_is_passed_over_not_spent() -> None:
    """Once an answer is chosen, a later rule whose next step is an answer keeps it."""
    faults = Faults(seed=0)
    first, second = Answer(text="one"), Answer(text="two")
    faults.add(Rule(sequence=(first,), times=1))
    later = faults.add(Rule(sequence=(second,), times=1))
    assert plan(faults).answer == first
    assert later.hits == 0
    assert plan(faults).answer == second
    assert plan(faults).answer is None


def test_none_step_ends_the_search_for_answers_too() -> None:
    """A None step answers normally: a later answer rule does not apply."""
    faults = Faults(seed=0)
    faults.add(Rule(sequence=(None,), times=1))
    faults.add(Rule(sequence=(Answer.tool_call("f"),)))
    assert plan(faults) == Plan()
    assert plan(faults).answer == Answer.tool_call("f")


def test_answer_steps_round_trip_through_rule_dicts() -> None:
    """A rule's answer steps survive to_dict / from_dict (the admin format)."""
    answer = Answer(text="hi", tool_calls=(ToolUse(name="f", arguments='{"a": 1}', id="x"),))
    rule = Rule(sequence=(answer, Fault.reset(), None))
    data = rule.to_dict()
    assert Rule.from_dict({"script": data["script"]}).sequence == rule.sequence
