"""The decision trace: what the policies did during one call, and the log lines for it.

A trace is collected per call through a context variable (``with trace() as t:``), so it
works the same for ``complete()`` and for streams (which have no response object to
carry it) and follows a call into hedged tasks. Every event also goes to the
``"vex_llm"`` logger. Events name providers, error classes and codes, never prompts,
completions, error message bodies or keys.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Final, Literal

from .._clock import Clock
from .._errors import LlmError
from .._observe import Call, Observer, current_call, notify, observers
from .._provider import LlmProvider

logger: Final = logging.getLogger("vex_llm")

EventKind = Literal[
    "attempt",
    "success",
    "failure",
    "timeout",
    "wait",
    "give_up",
    "skip",
    "fallback",
    "hedge",
    "cancelled",
    "stream_break",
    "stream_reset",
]
"""What happened:

- ``attempt``: a provider is called (``attempt`` numbers retries of one provider).
- ``success`` / ``failure``: how that call ended (``error``, ``code``).
- ``timeout``: a limit cut an attempt short (``detail``: which one; ``wait``: its seconds).
- ``wait``: a retry waits ``wait`` seconds (``detail``: ``backoff`` or ``retry_after``).
- ``give_up``: a retry layer stops (``detail`` says why: attempts, budget, deadline, ...).
- ``skip``: a provider was not called (``detail``: circuit open, context too small, deadline).
- ``fallback``: the call moves on to ``provider``.
- ``hedge``: a hedged copy of the request starts on ``provider`` after ``wait`` seconds.
- ``cancelled``: the losing hedge on ``provider`` was cancelled.
- ``stream_break``: a stream broke after its first chunk; ``detail`` is the policy that
  applied (``raise``: the error goes to the caller; ``restart``: the request is replayed
  on the next provider), ``error`` what broke it.
- ``stream_reset``: a broken stream restarts on ``provider``; drop the partial output.
"""

_LEVELS: Final[dict[str, int]] = {
    "attempt": logging.DEBUG,
    "success": logging.DEBUG,
    "failure": logging.INFO,
    "timeout": logging.INFO,
    "wait": logging.INFO,
    "give_up": logging.INFO,
    "skip": logging.INFO,
    "fallback": logging.INFO,
    "hedge": logging.INFO,
    "cancelled": logging.DEBUG,
    "stream_break": logging.INFO,
    "stream_reset": logging.INFO,
}


_ROUTINE: Final = frozenset({"attempt", "success", "cancelled"})
"""Not sent to observers (a first attempt, a success): the attempt and call events say it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceEvent:
    """One decision or outcome during a call.

    Args:
        kind: What happened (see ``EventKind``).
        provider: The name of the provider concerned (the innermost, unwrapped name).
        at: Seconds since the trace started.
        attempt: The attempt number on this provider, where it applies (1 = first try).
        error: The error's class name, for failures, timeouts and waits.
        code: The provider's error code, when it sent one.
        wait: Seconds waited or allowed (a backoff, a Retry-After, a limit, a hedge delay).
        detail: A short, fixed reason (``"circuit_open"``, ``"budget"``, ``"first_token"``).
    """

    kind: EventKind
    provider: str
    at: float
    attempt: int | None = None
    error: str | None = None
    code: str | None = None
    wait: float | None = None
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.at:8.3f}s {self.kind:<12} {self.provider} {self.facts()}".rstrip()

    def facts(self) -> str:
        """The optional fields that are set, as ``key=value`` text."""
        parts: list[str] = []
        if self.attempt is not None:
            parts.append(f"attempt={self.attempt}")
        if self.error is not None:
            parts.append(f"error={self.error}")
        if self.code is not None:
            parts.append(f"code={self.code}")
        if self.wait is not None:
            parts.append(f"wait={self.wait:.3f}s")
        if self.detail:
            parts.append(self.detail)
        return " ".join(parts)


@dataclass(slots=True)
class Trace:
    """The events of the calls made inside one ``trace()`` block, in order.

    Args:
        clock: The clock event times are read on.
        started: The clock reading the trace started at.
        events: The events so far.
    """

    clock: Clock
    started: float
    events: list[TraceEvent] = field(default_factory=list)

    def __iter__(self) -> Iterator[TraceEvent]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def of_kind(self, kind: EventKind) -> list[TraceEvent]:
        """The events of one kind, in order."""
        return [event for event in self.events if event.kind == kind]

    def format(self) -> str:
        """The trace as text, one event per line."""
        return "\n".join(str(event) for event in self.events)


_TRACE: ContextVar[Trace | None] = ContextVar("vex_llm_trace", default=None)


@contextmanager
def trace(*, clock: Clock = time.monotonic) -> Iterator[Trace]:
    """Collect the decision trace of every vex-llm call made inside the block.

    Example::

        with vex_llm.trace() as t:
            answer = await llm.complete(request)
        print(t.format())     # attempts, waits, skipped providers and why, fallbacks

    Args:
        clock: The clock event times are read on (default ``time.monotonic``).

    Yields:
        The ``Trace``; it fills up while the calls run.
    """
    collected = Trace(clock=clock, started=clock())
    token = _TRACE.set(collected)
    try:
        yield collected
    finally:
        _TRACE.reset(token)


def base_name(provider: LlmProvider) -> str:
    """The name of the provider at the bottom of a stack of single-provider wrappers."""
    current = provider
    for _ in range(32):  # wrappers nest a handful deep; the bound guards against a cycle
        inner = getattr(current, "inner", None)
        if not isinstance(inner, LlmProvider):
            break
        current = inner
    return current.name


def emit(
    kind: EventKind,
    provider: str,
    *,
    attempt: int | None = None,
    error: BaseException | None = None,
    wait: float | None = None,
    detail: str = "",
) -> None:
    """Record one event in the current trace, if any, and log it to ``"vex_llm"``."""
    collected = _TRACE.get()
    level = _LEVELS[kind]
    targets: tuple[Observer, ...] = observers()
    if targets and kind in _ROUTINE and (attempt or 1) == 1:
        targets = ()
    if collected is None and not targets and not logger.isEnabledFor(level):
        return
    code = error.code if isinstance(error, LlmError) else None
    event = TraceEvent(
        kind=kind,
        provider=provider,
        at=0.0 if collected is None else collected.clock() - collected.started,
        attempt=attempt,
        error=None if error is None else type(error).__name__,
        code=code,
        wait=wait,
        detail=detail,
    )
    if collected is not None:
        collected.events.append(event)
    if targets:
        _decided(targets, event)
    if logger.isEnabledFor(level):
        logger.log(
            level,
            "vex_llm %s provider=%s %s",
            kind,
            provider,
            event.facts(),
            extra={"vex_llm_event": event},
        )


def _decided(targets: tuple[Observer, ...], event: TraceEvent) -> None:
    """Keep what a later fallback or hedge needs on the call, then tell the observers."""
    call = current_call()
    if call is not None:
        _remember(call, event)
    notify(targets, "decided", call, event)


def _remember(call: Call, event: TraceEvent) -> None:
    kind = event.kind
    if kind in ("failure", "timeout", "stream_break"):
        call.last_failure = (event.provider, event.error or event.detail or kind)
    elif kind == "skip":
        call.last_failure = (event.provider, event.detail)
    elif kind == "hedge":
        call.hedged.append(event.provider)
