"""The rules that say when faults (and scripted answers) apply (pure data, no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, get_args

from ._checks import check_choice, check_count, check_probability, check_text, check_window
from ._faults import Fault
from ._script import Answer
from ._wire import Wire

_WIRES: Final = frozenset(get_args(Wire))

Step = Fault | Answer | None
"""One script step: a fault, an answer, or ``None`` (answer normally)."""


@dataclass(slots=True, kw_only=True)
class Rule:
    """When faults and answers apply: a sequence played one per matching request.

    Args:
        sequence: Steps in order: a ``Fault``, an ``Answer``, or ``None`` (answers
            normally, and no later rule applies).
        times: How many matching requests the rule takes before it is spent
            (``None``: no limit; the sequence repeats).
        rate: Probability that a matching request is taken (seeded draws).
        wire: Only ``"openai"`` or ``"anthropic"`` requests (``None``: both).
        stream: Only streamed (``True``) or non-streamed (``False``) requests.
        model: Only requests for this model.
        between: Only from ``t0`` to ``t1`` seconds after the server started (an outage
            window, read from the server's clock).

    Raises:
        ValueError: On a bad filter, naming it: ``times`` not an integer >= 0, ``rate``
            not a number in [0, 1], an unknown ``wire``, ``stream`` not a bool, ``model``
            not a string, ``between`` not two finite seconds ``0 <= t0 <= t1``.
        TypeError: On a step that is not a ``Fault``, an ``Answer`` or ``None``.
    """

    sequence: tuple[Step, ...]
    times: int | None = None
    rate: float = 1.0
    wire: Wire | None = None
    stream: bool | None = None
    model: str | None = None
    between: tuple[float, float] | None = None
    id: int = 0
    hits: int = 0
    """How many requests the rule has taken."""

    def __post_init__(self) -> None:
        self.sequence = rules_from(self.sequence)
        if not self.sequence:
            msg = "Rule sequence must hold at least one fault (or None)"
            raise ValueError(msg)
        check_count("Rule", "times", self.times, optional=True)
        check_probability("Rule", "rate", self.rate)
        check_choice("Rule", "wire", self.wire, [*sorted(_WIRES), None])
        check_choice("Rule", "stream", self.stream, [True, False, None])
        check_text("Rule", "model", self.model)
        self.between = check_window("Rule", self.between)

    @property
    def is_spent(self) -> bool:
        """Whether the rule has taken all the requests it may."""
        return self.times is not None and self.hits >= self.times

    def matches(self, wire: Wire, model: str, stream: bool, elapsed: float) -> bool:
        """Whether a request falls under this rule (ignoring its rate)."""
        if self.is_spent:
            return False
        if self.wire is not None and self.wire != wire:
            return False
        if self.stream is not None and self.stream != stream:
            return False
        if self.model is not None and self.model != model:
            return False
        return self.between is None or self.between[0] <= elapsed < self.between[1]

    def to_dict(self) -> dict[str, object]:
        """This rule as JSON-ready data."""
        return {
            "id": self.id,
            "script": [None if f is None else f.to_dict() for f in self.sequence],
            "times": self.times,
            "rate": self.rate,
            "wire": self.wire,
            "stream": self.stream,
            "model": self.model,
            "between": list(self.between) if self.between else None,
            "hits": self.hits,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Rule:
        """Build a rule from admin data: ``{"fault": {...}}`` or ``{"script": [...]}``
        plus the filters (``times``, ``rate``, ``wire``, ``stream``, ``model``, ``between``).

        Raises:
            ValueError: On unknown keys or bad values.
        """
        known = {"fault", "script", "times", "rate", "wire", "stream", "model", "between", "cycle"}
        unknown = set(data) - known
        if unknown:
            msg = f"unknown rule fields {sorted(unknown)}; known: {sorted(known)}"
            raise ValueError(msg)
        if ("fault" in data) == ("script" in data):
            msg = "give exactly one of 'fault' (one fault) or 'script' (a list of faults/null)"
            raise ValueError(msg)
        if "fault" in data:
            sequence: tuple[Step, ...] = (_step(data["fault"]),)
            times = data.get("times")
        else:
            script = data["script"]
            if not isinstance(script, list):
                msg = "'script' must be a list of faults or null"
                raise ValueError(msg)
            sequence = tuple(None if item is None else _step(item) for item in script)
            cycle = data.get("cycle", False)
            check_choice("Rule", "cycle", cycle, [True, False])
            times = data.get("times", None if cycle else len(sequence))
        # Every value goes through __post_init__'s checks as sent: nothing is coerced, so
        # "times": 1.5 or "rate": "0.5" is refused rather than read as something else.
        return cls(
            sequence=sequence,
            times=times,  # type: ignore[arg-type]  # checked in __post_init__
            rate=data.get("rate", 1.0),  # type: ignore[arg-type]  # checked in __post_init__
            wire=data.get("wire"),  # type: ignore[arg-type]  # checked in __post_init__
            stream=data.get("stream"),  # type: ignore[arg-type]  # checked in __post_init__
            model=data.get("model"),  # type: ignore[arg-type]  # checked in __post_init__
            between=data.get("between"),  # type: ignore[arg-type]  # checked in __post_init__
        )


def _step(data: object) -> Fault | Answer:
    if not isinstance(data, dict):
        msg = f"a fault must be an object, got {data!r}"
        raise ValueError(msg)
    if data.get("kind") == "answer":
        return Answer.from_dict(data)
    return Fault.from_dict(data)


def rules_from(faults: Iterable[Step]) -> tuple[Step, ...]:
    """Check a script's steps."""
    steps = tuple(faults)
    items: tuple[object, ...] = steps  # callers without a type checker pass anything
    for step in items:
        if step is not None and not isinstance(step, Fault | Answer):
            msg = f"a script step must be an Answer, a Fault or None, got {type(step).__name__}"
            raise TypeError(msg)
    return steps


def as_between(window: Sequence[float] | None) -> tuple[float, float] | None:
    """An outage window as a pair of floats."""
    if window is None:
        return None
    start, end = window
    return (float(start), float(end))
