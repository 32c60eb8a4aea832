"""The fake server's bookkeeping: rules in force, the request journal, and each request's plan.

No I/O. The server asks ``Faults.plan(...)`` once per request and acts on the answer; a
seeded ``random.Random`` makes rates and jitter reproducible.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Final

from ._faults import Fault
from ._rules import Rule
from ._script import Answer
from ._wire import Wire


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do with one request: wait ``delay`` seconds, then the ``fault`` (or answer);
    ``answer`` is the scripted answer (``None``: the server's default text)."""

    delay: float = 0.0
    fault: Fault | None = None
    names: tuple[str, ...] = ()
    answer: Answer | None = None


NO_FAULT: Final = Plan()
_Jitter = Callable[[Fault], float]


@dataclass(slots=True)
class JournalEntry:
    """One request the fake server received.

    Args:
        at: Seconds since the server started (server clock).
        path: The request path.
        wire: ``"openai"`` or ``"anthropic"``.
        model: The model asked for (``None`` when the body was unreadable).
        stream: Whether a stream was asked for.
        fault: The faults applied, joined with ``+`` (``None``: answered normally).
        status: The status sent (``None`` until the answer starts, or if none ever did).
        rules: The ids of the rules that took the request.
        body: The request body exactly as received (bytes); ``json()`` parses it.
    """

    at: float
    path: str
    wire: Wire
    model: str | None
    stream: bool
    fault: str | None = None
    status: int | None = None
    rules: list[int] = field(default_factory=list)
    body: bytes = b""

    def json(self) -> object:
        """The body parsed as JSON (``None`` when it is not JSON)."""
        try:
            parsed: object = json.loads(self.body)
        except ValueError:
            return None
        return parsed

    def to_dict(self) -> dict[str, object]:
        """This entry as JSON-ready data; ``body`` is the exact body as text (UTF-8)."""
        out = asdict(self)
        out["body"] = self.body.decode("utf-8", errors="replace")
        return out


class Faults:
    """The rules in force and the journal, safe to use from the test's thread and the
    server's thread at once (one lock, never held across an await)."""

    def __init__(self, seed: int | None) -> None:
        self._seed = seed
        self._rng = random.Random(seed)
        self._rules: list[Rule] = []
        self._journal: list[JournalEntry] = []
        self._next_id = 1
        self._lock = threading.Lock()

    def add(self, rule: Rule) -> Rule:
        """Put a rule after those already in force."""
        with self._lock:
            rule.id = self._next_id
            self._next_id += 1
            self._rules.append(rule)
        return rule

    def remove(self, rule_id: int) -> bool:
        """Take a rule out of force; tell whether it was there."""
        with self._lock:
            before = len(self._rules)
            self._rules = [r for r in self._rules if r.id != rule_id]
            return len(self._rules) != before

    def clear(self) -> None:
        """Take every rule out of force."""
        with self._lock:
            self._rules.clear()

    def reset(self) -> None:
        """Clear rules and journal and reseed the random source."""
        with self._lock:
            self._rules.clear()
            self._journal.clear()
            self._rng = random.Random(self._seed)

    def rules(self) -> list[Rule]:
        """The rules in force, in order."""
        with self._lock:
            return list(self._rules)

    def journal(self) -> list[JournalEntry]:
        """A copy of the journal, oldest first."""
        with self._lock:
            return list(self._journal)

    def plan(self, entry: JournalEntry, elapsed: float) -> Plan:
        """Choose what happens to a request, record it in the journal, and return it.

        Rules are tried in order. Every latency that applies adds up; the first other
        fault is the fault; the first ``Answer`` is the answer. Once a fault is chosen,
        later rules are tried for an answer only; once an answer is chosen, a rule whose
        next step is an answer is passed over (not spent). A ``None`` step ends the search.
        """
        with self._lock:
            self._journal.append(entry)
            if not self._rules:
                return NO_FAULT
            search = _Search()
            model = entry.model or ""
            for rule in self._rules:
                if not rule.matches(entry.wire, model, entry.stream, elapsed):
                    continue
                step = rule.sequence[rule.hits % len(rule.sequence)]
                if not search.wants(step):
                    continue
                if rule.rate < 1.0 and self._rng.random() >= rule.rate:
                    continue
                rule.hits += 1
                entry.rules.append(rule.id)
                if not search.take(step, self._jitter):
                    break
            if search.names:
                entry.fault = "+".join(search.names)
            return Plan(
                delay=search.delay,
                fault=search.fault,
                names=tuple(search.names),
                answer=search.answer,
            )

    def jitter(self, fault: Fault) -> float:
        """A seeded draw of a fault's jitter (thread-safe)."""
        with self._lock:
            return self._jitter(fault)

    def _jitter(self, fault: Fault) -> float:
        return self._rng.uniform(0.0, fault.jitter) if fault.jitter > 0 else 0.0


@dataclass(slots=True)
class _Search:
    """What ``Faults.plan`` found so far."""

    delay: float = 0.0
    fault: Fault | None = None
    answer: Answer | None = None
    names: list[str] = field(default_factory=list)

    def wants(self, step: Fault | Answer | None) -> bool:
        """Whether a rule whose next step is ``step`` takes part (before its rate draw)."""
        if isinstance(step, Answer):
            return self.answer is None
        return self.fault is None

    def take(self, step: Fault | Answer | None, jitter: _Jitter) -> bool:
        """Count ``step`` in; false when the search ends."""
        if step is None:
            return False
        if isinstance(step, Answer):
            self.answer = step
        elif step.kind == "latency":
            self.delay += (step.seconds or 0.0) + jitter(step)
            self.names.append("latency")
        else:
            self.fault = step
            self.names.append(step.kind)
        return self.fault is None or self.answer is None
