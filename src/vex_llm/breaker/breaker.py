"""CircuitBreaker: the state machine put to work around real calls.

The shape is allow-then-record: take a permit (no lock held afterwards), run the call,
record its outcome in ``finally``. A permit remembers the generation it was issued in,
so a call that started before a transition cannot change the state after it.
"""

from __future__ import annotations

import functools
import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, ParamSpec, TypeVar, overload

from .._clock import Clock
from .._errors import RejectReason, rejection
from ..circuit import (
    Admission,
    CircuitConfig,
    CircuitRecord,
    CircuitState,
    CircuitStore,
    ManualAction,
    Outcome,
    Snapshot,
    Ticket,
    Transition,
    TransitionReason,
    count_call,
    lock_for,
)
from ..circuit import machine as _machine

if TYPE_CHECKING:
    from types import TracebackType

P = ParamSpec("P")
T = TypeVar("T")


logger: Final = logging.getLogger("vex_llm")

_CLOSED: Final = CircuitState.CLOSED
_OPEN: Final = CircuitState.OPEN
_DEFAULT_CONFIG: Final = CircuitConfig()


@dataclass(frozen=True, slots=True)
class StateChange:
    """A committed state transition, as delivered to ``on_state_change`` listeners.

    Args:
        breaker: The breaker's name.
        from_state: The state before.
        to_state: The state after.
        reason: Why (``"failure_threshold"``, ``"failure_rate"``, ``"slow_call_rate"``,
            ``"retry_after"``, ``"reset_timeout"``, ``"probe_failed"``,
            ``"probes_succeeded"``, ``"manual"``, ``"reset"``).
        generation: The generation the new state started.
        at: Clock time of the transition (seconds).
        open_until: Clock time an open period ends, when ``to_state`` is OPEN (``None``
            when isolated by hand).
        manual: True for transitions made by ``force_open`` / ``force_closed`` / ``reset``.
    """

    breaker: str
    from_state: CircuitState
    to_state: CircuitState
    reason: TransitionReason
    generation: int
    at: float
    open_until: float | None = None
    manual: bool = False


StateListener = Callable[[StateChange], object]


@dataclass(frozen=True, slots=True)
class CircuitStats:
    """A breaker's counters and state at one moment.

    Args:
        name: The breaker's name.
        state: Its state.
        total_requests: Every call, rejected ones included (as the seed counts).
        total_failures: Counted failures.
        circuit_opens: Times the circuit opened.
        rejected: Calls rejected without running.
        ignored: Outcomes that counted neither way (caller errors, cancellation).
        stale_outcomes: Outcomes dropped because the breaker had moved on meanwhile.
        slow_calls: Calls slower than ``slow_call_duration``.
        consecutive_failures: The current failure streak (closed state).
        failure_rate: Ratio mode: failure rate over the window, ``None`` until the window
            holds ``minimum_calls`` (or in consecutive mode).
        slow_call_rate: Ratio mode: slow-call rate over the window, likewise.
        calls_in_window: Ratio mode: calls in the window.
        half_open_in_flight: Probe calls out now.
        retry_after: Seconds until a probe is admitted (open, not isolated), else ``None``.
        generation: The current generation.
        isolated: Held open by hand (``force_open()`` without a duration).
    """

    name: str
    state: CircuitState
    total_requests: int
    total_failures: int
    circuit_opens: int
    rejected: int
    ignored: int = 0
    stale_outcomes: int = 0
    slow_calls: int = 0
    consecutive_failures: int = 0
    failure_rate: float | None = None
    slow_call_rate: float | None = None
    calls_in_window: int = 0
    half_open_in_flight: int = 0
    retry_after: float | None = None
    generation: int = 1
    isolated: bool = False


class _Hooks:
    """Listeners and the error that last tripped the circuit (made on first need)."""

    __slots__ = ("cause", "listeners", "open_message", "open_where")

    def __init__(self, name: str) -> None:
        self.listeners: list[StateListener] = []
        self.cause: BaseException | None = None
        self.open_message = ""
        self.open_where: tuple[str, str, RejectReason] = (name, "open", "open")

    def set_open_message(self, name: str) -> str:
        self.open_message = f"circuit {name!r} is open"
        return self.open_message


class CircuitBreaker:
    """A circuit breaker for async (and plain) callables.

    Closed: calls pass and counted failures are tallied; open: calls are rejected at once
    with ``CircuitOpenError``; half-open: a limited number of probes test recovery. See
    ``CircuitConfig`` for the rules.

    Use ``await breaker.call(fn, *args)``, or decorate a function (async or plain) with
    ``@breaker``; for calls that outlive one await (streams) take a ``Permit`` with
    ``await breaker.acquire()``.

    With the default ``store=None`` the breaker keeps a record of its own; with a shared
    store that keeps state elsewhere, its record is the last state this process saw.

    Args:
        config: The rules (default: the seed's 5 / 2 / 30 s).
        name: The circuit's name: in errors, logs and stats, and the key under which a
            shared store keeps it (breakers with one name over one store are one circuit).
        clock: Monotonic seconds (default ``time.monotonic``); tests pass a ``ManualClock``.
        store: Where the state lives: ``None`` (this breaker alone), a ``MemoryStore``
            (shared by name in this process) or a shared store such as ``RedisStore``.

    Raises:
        TypeError: If ``config`` is not a ``CircuitConfig`` or ``store`` not a ``CircuitStore``.
    """

    __slots__ = ("_clock", "_config", "_fast", "_hooks", "_incarnation", "_name", "_rec", "_remote")

    def __init__(
        self,
        config: CircuitConfig = _DEFAULT_CONFIG,
        *,
        name: str = "default",
        clock: Clock = time.monotonic,
        store: CircuitStore | None = None,
    ) -> None:
        config_value: object = config
        if not isinstance(config_value, CircuitConfig):
            msg = f"config must be a CircuitConfig, got {type(config_value).__name__}"
            raise TypeError(msg)
        store_value: object = store
        if store_value is not None and not isinstance(store_value, CircuitStore):
            msg = f"store must be a CircuitStore, got {type(store_value).__name__}"
            raise TypeError(msg)
        self._config = config
        self._name = name
        self._clock = clock
        self._hooks: _Hooks | None = None
        shared = None if store is None else store.local_record(name)
        self._rec: CircuitRecord = CircuitRecord() if shared is None else shared
        # A store that hands out no local record keeps the state elsewhere: every
        # operation goes through its async, atomic interface.
        self._remote = store if (store is not None and shared is None) else None
        self._incarnation = ""
        # Closed-state calls of a local, count-based circuit need no lock and no clock.
        self._fast = self._remote is None and not config.needs_clock

    def __repr__(self) -> str:
        return f"CircuitBreaker(name={self._name!r}, state={self._rec.state.value})"

    # -- properties -----------------------------------------------------------------

    @property
    def name(self) -> str:
        """The circuit's name."""
        return self._name

    @property
    def config(self) -> CircuitConfig:
        """The rules this breaker applies."""
        return self._config

    @property
    def state(self) -> CircuitState:
        """The current state; reading it makes the lazy OPEN -> HALF_OPEN step when due.

        With a shared store this is the last state this process saw (no I/O); use
        ``await current_state()`` for the authoritative one.
        """
        rec = self._rec
        if self._remote is not None or rec.state is not _machine.OPEN:
            return rec.state
        now = self._clock()
        with lock_for(rec):
            transition = _machine.advance(rec, now)
        if transition is not None:
            self._emit(transition, now)
        return rec.state

    async def current_state(self) -> CircuitState:
        """The authoritative state (asks a shared store; applies the lazy step)."""
        if self._remote is None:
            return self.state
        snapshot = await self._remote.snapshot(self._name, self._config, self._clock())
        self._adopt(snapshot.state, snapshot.generation)
        if snapshot.transition is not None:
            self._emit(snapshot.transition, self._clock())
        return snapshot.state

    def is_open(self) -> bool:
        """Whether calls are rejected right now without a probe (open, or isolated)."""
        return self.state is _machine.OPEN

    # -- stats ----------------------------------------------------------------------

    def stats(self) -> CircuitStats:
        """The counters and state (local; with a shared store, what this process saw)."""
        rec = self._rec
        now = self._clock()
        with lock_for(rec):
            transition = None if self._remote is not None else _machine.advance(rec, now)
            snapshot = _machine.snapshot(rec, now)
            calls, rate, slow_rate = _machine.window_rates(rec, self._config, now)
        if transition is not None:
            self._emit(transition, now)
        return self._stats_from(snapshot, calls, rate, slow_rate)

    async def fetch_stats(self) -> CircuitStats:
        """The authoritative counters and state (asks a shared store)."""
        if self._remote is None:
            return self.stats()
        snapshot = await self._remote.snapshot(self._name, self._config, self._clock())
        self._adopt(snapshot.state, snapshot.generation)
        if snapshot.transition is not None:
            self._emit(snapshot.transition, self._clock())
        return self._stats_from(snapshot, 0, None, None)

    def _stats_from(
        self, snapshot: Snapshot, calls: int, rate: float | None, slow_rate: float | None
    ) -> CircuitStats:
        return CircuitStats(
            name=self._name,
            state=snapshot.state,
            total_requests=snapshot.total_requests,
            total_failures=snapshot.total_failures,
            circuit_opens=snapshot.circuit_opens,
            rejected=snapshot.rejected,
            ignored=snapshot.ignored,
            stale_outcomes=snapshot.stale,
            slow_calls=snapshot.slow_calls,
            consecutive_failures=snapshot.consecutive_failures,
            failure_rate=rate,
            slow_call_rate=slow_rate,
            calls_in_window=calls,
            half_open_in_flight=snapshot.half_open_in_flight,
            retry_after=snapshot.retry_after,
            generation=snapshot.generation,
            isolated=snapshot.isolated,
        )

    # -- listeners ------------------------------------------------------------------

    def on_state_change(self, listener: StateListener) -> Callable[[], None]:
        """Call ``listener(StateChange)`` after every transition this process makes.

        Listeners run after the state is committed, outside any lock, in the order
        they were added; they may read the breaker. One that raises is logged, never
        propagated into the call that caused the transition.

        Args:
            listener: A plain callable (schedule async work yourself).

        Returns:
            A function that removes the listener.
        """
        hooks = self._ensure_hooks()
        hooks.listeners.append(listener)

        def remove() -> None:
            if listener in hooks.listeners:
                hooks.listeners.remove(listener)

        return remove

    def _ensure_hooks(self) -> _Hooks:
        hooks = self._hooks
        if hooks is None:
            hooks = self._hooks = _Hooks(self._name)
        return hooks

    def _emit(self, transition: Transition, now: float) -> None:
        event = StateChange(
            breaker=self._name,
            from_state=transition.from_state,
            to_state=transition.to_state,
            reason=transition.reason,
            generation=transition.generation,
            at=now,
            open_until=transition.open_until,
            manual=transition.manual,
        )
        details = {
            "circuit": self._name,
            "breaker": self._name,
            "from_state": event.from_state.value,
            "to_state": event.to_state.value,
            "reason": event.reason,
            "generation": event.generation,
        }
        # The event name first, then the facts a reader needs without a structured handler.
        facts = (self._name, event.reason, event.from_state.value)
        if event.to_state is _machine.OPEN:
            logger.warning("circuit_opened circuit=%s reason=%s from=%s", *facts, extra=details)
        elif event.to_state is _machine.HALF_OPEN:
            logger.info("circuit_half_open circuit=%s reason=%s from=%s", *facts, extra=details)
        else:
            logger.info("circuit_closed circuit=%s reason=%s from=%s", *facts, extra=details)
        hooks = self._hooks
        if hooks is None:
            return
        for listener in tuple(hooks.listeners):
            try:
                listener(event)
            except Exception:
                logger.exception("circuit_listener_failed", extra=details)

    # -- manual control -------------------------------------------------------------

    def force_open(self, duration: float | None = None) -> None:
        """Open the circuit by hand.

        Args:
            duration: Seconds to stay open before probing; ``None`` (default) isolates
                it: it stays open until ``force_closed()`` or ``reset()``.

        Raises:
            ValueError: On a non-positive duration.
            TypeError: With a shared store (use ``await apply(...)``).
        """
        self._force_local("isolate" if duration is None else "open", duration)

    def force_closed(self) -> None:
        """Close the circuit by hand (counts cleared; in-flight outcomes become stale).

        Raises:
            TypeError: With a shared store (use ``await apply("close")``).
        """
        self._force_local("close", None)

    def reset(self) -> None:
        """Back to a fresh closed circuit: state, counters and backoff cleared.

        Raises:
            TypeError: With a shared store (use ``await apply("reset")``).
        """
        self._force_local("reset", None)

    async def apply(self, action: ManualAction, *, duration: float | None = None) -> None:
        """Apply a manual action on any store (shared ones included).

        Args:
            action: ``"isolate"``, ``"open"`` (for ``duration`` seconds, default
                ``reset_timeout``), ``"close"`` or ``"reset"``.
            duration: Seconds, for ``"open"``.

        Raises:
            ValueError: On any other action (nothing is changed).
        """
        if action not in ("isolate", "open", "close", "reset"):
            msg = f"unknown manual action {action!r}: use 'isolate', 'open', 'close' or 'reset'"
            raise ValueError(msg)
        if self._remote is None:
            self._force_local(action, duration)
            return
        now = self._clock()
        transition = await self._remote.force(
            self._name, self._config, action, now, duration=duration
        )
        with lock_for(self._rec):
            _machine.force(self._rec, self._config, action, now, duration=duration)
        if transition is not None:
            if transition.to_state is _machine.OPEN and self._hooks is not None:
                self._hooks.cause = None  # opened by hand: no failure tripped it
            self._emit(transition, now)

    def _force_local(self, action: ManualAction, duration: float | None) -> None:
        if self._remote is not None:
            msg = (
                f"breaker {self._name!r} keeps its state in a shared store; "
                f"use 'await breaker.apply({action!r})'"
            )
            raise TypeError(msg)
        rec = self._rec
        now = self._clock()
        with lock_for(rec):
            transition = _machine.force(rec, self._config, action, now, duration=duration)
        if action == "reset":
            logger.info(
                "circuit_reset circuit=%s reason=manual",
                self._name,
                extra={"circuit": self._name, "breaker": self._name, "reason": "manual"},
            )
        if transition is not None:
            if transition.to_state is _machine.OPEN and self._hooks is not None:
                self._hooks.cause = None  # opened by hand: no failure tripped it
            self._emit(transition, now)

    # -- admission and recording ----------------------------------------------------

    async def acquire(self) -> Permit:
        """Take a permit for one call that you run and report yourself.

        Returns:
            The permit: report with ``success()``, ``failure(exc)``, ``record_error(exc)``
            or ``release()``; exactly one of them counts.

        Raises:
            CircuitOpenError: When the circuit rejects the call.
        """
        admission, now = await self._admit()
        return Permit(self, admission, now)

    async def _admit(self) -> tuple[Admission, float]:
        now = self._clock()
        if self._remote is None:
            rec = self._rec
            with lock_for(rec):
                admission = _machine.acquire(rec, self._config, now)
            if admission.admitted:
                count_call(rec)
        else:
            admission = await self._remote.acquire(self._name, self._config, now)
            self._adopt(admission.state, admission.generation, admission.incarnation)
        if admission.transition is not None:
            self._emit(admission.transition, now)
        if not admission.admitted:
            self._reject(admission)
        return admission, now

    def _admit_sync(self) -> tuple[Admission, float]:
        now = self._clock()
        rec = self._rec
        with lock_for(rec):
            admission = _machine.acquire(rec, self._config, now)
        if admission.admitted:
            count_call(rec)
        if admission.transition is not None:
            self._emit(admission.transition, now)
        if not admission.admitted:
            self._reject(admission)
        return admission, now

    def _reject(self, admission: Admission) -> None:
        reason = admission.reason or "open"
        if reason == "isolated":
            text = f"circuit {self._name!r} is held open by hand; close it with force_closed()"
        elif reason == "half_open_full":
            text = (
                f"circuit {self._name!r} is half-open and all {self._config.probe_budget} "
                "probe slots are taken"
            )
        else:
            hooks = self._ensure_hooks()
            text = hooks.open_message or hooks.set_open_message(self._name)
        retry_after = admission.retry_after
        if retry_after is not None:
            retry_after = max(0.0, retry_after)
        known = self._hooks
        raise rejection(text, (self._name, admission.state.value, reason), retry_after) from (
            None if known is None else known.cause
        )

    def _adopt(self, state: CircuitState, generation: int, incarnation: str | None = None) -> None:
        """Remember what a shared store said (the local record is its shadow).

        Generations compare only within one incarnation of the stored state: an
        admission from another one (the shared record was lost and recreated, or the
        store fell back to local state) is adopted whatever its generation.
        """
        rec = self._rec
        moved = incarnation is not None and incarnation != self._incarnation
        if moved or generation >= rec.generation:
            rec.state = state
            rec.generation = generation
        if incarnation is not None:
            self._incarnation = incarnation

    def _outcome_of(self, exc: BaseException) -> Outcome:
        if not isinstance(exc, Exception):
            return Outcome.IGNORED  # cancellation and interpreter exits are never evidence
        try:
            return self._config.classify(exc)
        except Exception:
            logger.exception(
                "circuit_classify_failed", extra={"circuit": self._name, "breaker": self._name}
            )
            return Outcome.IGNORED

    def _settle_local(
        self,
        ticket_generation: int,
        lease: int,
        outcome: Outcome,
        started: float | None,
        error: BaseException | None,
    ) -> None:
        rec = self._rec
        config = self._config
        # A success of a closed, count-based call is the one outcome that needs no time.
        timeless = started is None and outcome is Outcome.SUCCESS and not config.needs_clock
        now = 0.0 if timeless else self._clock()
        duration = None if started is None else now - started
        retry_after = _retry_after_of(error) if outcome is Outcome.FAILURE else None
        u = random.random() if config.jitter else 0.0
        with lock_for(rec):
            transition = _machine.record_outcome(
                rec,
                config,
                ticket_generation,
                lease,
                outcome,
                now,
                duration=duration,
                retry_after=retry_after,
                u=u,
            )
        if transition is not None:
            if transition.to_state is _machine.OPEN:
                self._ensure_hooks().cause = error  # None: no failure object to blame
            self._emit(transition, now)

    async def _settle(
        self,
        admission: Admission,
        outcome: Outcome,
        started: float,
        error: BaseException | None,
    ) -> None:
        remote = self._remote
        if remote is None:
            self._settle_local(admission.generation, admission.lease, outcome, started, error)
            return
        ticket = Ticket(admission.generation, admission.lease, admission.incarnation)
        now = self._clock()
        if outcome is Outcome.IGNORED:
            await remote.release(self._name, ticket)
            return
        retry_after = _retry_after_of(error) if outcome is Outcome.FAILURE else None
        transition = await remote.record(
            self._name,
            self._config,
            ticket,
            outcome,
            now,
            duration=now - started,
            retry_after=retry_after,
            u=random.random() if self._config.jitter else 0.0,
        )
        if transition is not None:
            self._adopt(transition.to_state, transition.generation)
            if transition.to_state is _machine.OPEN:
                self._ensure_hooks().cause = error  # None: no failure object to blame
            self._emit(transition, now)

    # -- calling --------------------------------------------------------------------

    async def call(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``await fn(*args, **kwargs)`` under the breaker.

        Args:
            fn: An async callable.
            *args: Its positional arguments.
            **kwargs: Its keyword arguments.

        Returns:
            What ``fn`` returned.

        Raises:
            CircuitOpenError: When the circuit rejects the call (``fn`` is not called).
            BaseException: Whatever ``fn`` raised, unchanged, after it was counted.
        """
        rec = self._rec
        generation = rec.generation
        state = rec.state
        if state is _CLOSED and self._fast:
            # The hot path: admitting needs no lock and no clock, and a success with no
            # failure streak changes nothing. Counting is an atomic next() on a counter.
            calls = rec.calls
            if calls is None:
                count_call(rec)
            else:
                next(calls)
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                self._settle_local(generation, 0, self._outcome_of(exc), None, exc)
                raise
            if rec.failures or rec.generation != generation:
                self._settle_local(generation, 0, Outcome.SUCCESS, None, None)
            return result
        if state is _OPEN and self._remote is None:
            # Reject without the lock while the open period clearly still runs. Only
            # reads and atomic counters: the worst a race can do is reject a call that a
            # transition a moment later would have admitted as a probe.
            cold = rec.cold
            assert cold is not None  # a local record that is open always has its cold part
            wait = cold.open_until - self._clock()
            if wait > 0 and not cold.isolated:
                next(cold.rejected)
                hooks = self._hooks
                if hooks is None:
                    hooks = self._ensure_hooks()
                raise rejection(
                    hooks.open_message or hooks.set_open_message(self._name),
                    hooks.open_where,
                    wait,
                ) from hooks.cause
        admission, started = await self._admit()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            await self._settle(admission, self._outcome_of(exc), started, exc)
            raise
        await self._settle(admission, Outcome.SUCCESS, started, None)
        return result

    def call_sync(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a plain (blocking) function under the breaker; safe from many threads.

        Args:
            fn: A plain callable.
            *args: Its positional arguments.
            **kwargs: Its keyword arguments.

        Returns:
            What ``fn`` returned.

        Raises:
            CircuitOpenError: When the circuit rejects the call.
            TypeError: With a shared store (its operations are async).
            BaseException: Whatever ``fn`` raised, unchanged, after it was counted.
        """
        if self._remote is not None:
            msg = f"breaker {self._name!r} uses a shared store: only async calls can use it"
            raise TypeError(msg)
        rec = self._rec
        generation = rec.generation
        state = rec.state
        if state is _CLOSED and self._fast:
            count_call(rec)
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                self._settle_local(generation, 0, self._outcome_of(exc), None, exc)
                raise
            if rec.failures or rec.generation != generation:
                self._settle_local(generation, 0, Outcome.SUCCESS, None, None)
            return result
        admission, started = self._admit_sync()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            self._settle_local(
                admission.generation, admission.lease, self._outcome_of(exc), started, exc
            )
            raise
        self._settle_local(admission.generation, admission.lease, Outcome.SUCCESS, started, None)
        return result

    @overload
    def __call__(self, fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]: ...

    @overload
    def __call__(self, fn: Callable[P, T]) -> Callable[P, T]: ...

    def __call__(self, fn: Callable[P, object]) -> Callable[P, object]:
        """Decorate an async or plain function so every call goes through the breaker.

        Raises:
            TypeError: When decorating a plain function with a shared store.
        """
        if inspect.isasyncgenfunction(fn):
            msg = (
                f"cannot decorate async generator {fn!r}: a stream holds its permit until it "
                "ends; take one with 'await breaker.acquire()' (see ResilientProvider.stream)"
            )
            raise TypeError(msg)
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def guarded_async(*args: P.args, **kwargs: P.kwargs) -> object:
                return await self.call(fn, *args, **kwargs)

            return guarded_async
        if self._remote is not None:
            msg = f"breaker {self._name!r} uses a shared store: it can only guard async functions"
            raise TypeError(msg)

        @functools.wraps(fn)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> object:
            return self.call_sync(fn, *args, **kwargs)

        return guarded


class Permit:
    """The right to make one call, from ``CircuitBreaker.acquire()``.

    Report the call's outcome exactly once; later reports are no-ops. Used as an async
    context manager it records an exception leaving the block (cancellation releases it)
    and a clean exit as a success.
    """

    __slots__ = ("_admission", "_breaker", "_done", "_started")

    def __init__(self, breaker: CircuitBreaker, admission: Admission, started: float) -> None:
        self._breaker = breaker
        self._admission = admission
        self._started = started
        self._done = False

    @property
    def generation(self) -> int:
        """The generation the call was admitted in."""
        return self._admission.generation

    @property
    def is_probe(self) -> bool:
        """Whether this call is a half-open probe."""
        return self._admission.lease != 0

    @property
    def done(self) -> bool:
        """Whether an outcome was reported."""
        return self._done

    async def success(self) -> None:
        """Report that the call succeeded."""
        await self._resolve(Outcome.SUCCESS, None)

    async def failure(self, error: BaseException | None = None) -> None:
        """Report a counted failure (``error`` supplies a Retry-After hint and the cause)."""
        await self._resolve(Outcome.FAILURE, error)

    async def record_error(self, error: BaseException) -> None:
        """Report an exception; the breaker's classifier decides how it counts."""
        await self._resolve(self._breaker._outcome_of(error), error)

    async def release(self) -> None:
        """Give the permit back without a verdict (counts neither way)."""
        await self._resolve(Outcome.IGNORED, None)

    async def _resolve(self, outcome: Outcome, error: BaseException | None) -> None:
        if self._done:
            return
        self._done = True
        await self._breaker._settle(self._admission, outcome, self._started, error)

    def __del__(self) -> None:
        # Belt and braces for a permit that was dropped without a report (a bug in the
        # caller): give a local probe slot back now rather than at lease expiry.
        if self._done:
            return
        breaker = self._breaker
        admission = self._admission
        logger.warning(
            "circuit_permit_leaked", extra={"circuit": breaker.name, "breaker": breaker.name}
        )
        if breaker._remote is None and admission.lease:
            rec = breaker._rec
            with lock_for(rec):
                _machine.release(rec, admission.generation, admission.lease)

    async def __aenter__(self) -> Permit:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.success()
        else:
            await self.record_error(exc)


def _retry_after_of(error: BaseException | None) -> float | None:
    value = getattr(error, "retry_after", None)
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None
