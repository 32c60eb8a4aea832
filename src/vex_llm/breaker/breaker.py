"""CircuitBreaker: the state machine put to work around real calls.

The shape is allow-then-record: take a permit (no lock held afterwards), run the call,
record its outcome in ``finally``. A permit remembers the generation it was issued in,
so a call that started before a transition cannot change the state after it.

Where the circuit lives is decided once, at construction: a backend (``_backends``)
for this process's ``LocalCircuit`` or for a shared store. The closed-state hot path
of a local count-based circuit takes no lock and reads no clock.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final, ParamSpec, TypeVar, overload

from .._clock import Clock
from .._errors import rejection
from ..circuit import (
    Admission,
    CircuitConfig,
    CircuitState,
    CircuitStore,
    LocalCircuit,
    ManualAction,
    Outcome,
    Transition,
)
from ._backends import LOCAL, Backend, SharedBackend, outcome_of
from ._configs import interned
from ._events import CircuitStats, Hooks, StateListener, emit, reject, rejected
from ._guarded import Guarded
from ._permit import Permit

P = ParamSpec("P")
T = TypeVar("T")

logger: Final = logging.getLogger("vex_llm")

_CLOSED: Final = CircuitState.CLOSED
_OPEN: Final = CircuitState.OPEN
_DEFAULT_CONFIG: Final = CircuitConfig()


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

    __slots__ = (
        "_backend",
        "_circuit",
        "_clock",
        "_config",
        "_fast_closed",
        "_fast_open",
        "_hooks",
        "_name",
    )

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
        self._config = interned(config)
        self._name = name
        self._clock = clock
        self._hooks: Hooks | None = None
        local = None if store is None else store.local_circuit(name)
        self._circuit: LocalCircuit = LocalCircuit() if local is None else local
        # Chosen once: a store that hands out no local circuit keeps the state elsewhere,
        # and every operation goes through its async, atomic interface.
        self._backend: Backend = LOCAL if store is None or local else SharedBackend(store)
        local_kind = self._backend is LOCAL
        # The states that take a fast path, compared by identity on every call (None:
        # never). Closed-state calls of a local, count-based circuit need no lock and no
        # clock; a local one with windows or slow calls needs the clock; a shared one goes
        # to the store. The open-state fast path serves both local kinds.
        fast_closed = local_kind and not config.needs_clock
        self._fast_closed: CircuitState | None = _CLOSED if fast_closed else None
        self._fast_open: CircuitState | None = _OPEN if local_kind else None

    def __repr__(self) -> str:
        return f"CircuitBreaker(name={self._name!r}, state={self._circuit.state.value})"

    # -- properties -----------------------------------------------------------------

    @property
    def name(self) -> str:
        """The circuit's name."""
        return self._name

    @property
    def config(self) -> CircuitConfig:
        """The rules this breaker applies (equal to the config it was given)."""
        return self._config

    @property
    def state(self) -> CircuitState:
        """The current state; reading it makes the lazy OPEN -> HALF_OPEN step when due.

        With a shared store this is the last state this process saw (no I/O); use
        ``await current_state()`` for the authoritative one.
        """
        return self._backend.state(self)

    async def current_state(self) -> CircuitState:
        """The authoritative state (asks a shared store; applies the lazy step)."""
        return await self._backend.current_state(self)

    def is_open(self) -> bool:
        """Whether calls are rejected right now without a probe (open, or isolated)."""
        return self.state is _OPEN

    # -- stats ----------------------------------------------------------------------

    def stats(self) -> CircuitStats:
        """The counters and state (local; with a shared store, what this process saw)."""
        return self._backend.stats(self)

    async def fetch_stats(self) -> CircuitStats:
        """The authoritative counters and state (asks a shared store)."""
        return await self._backend.fetch_stats(self)

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

    def _ensure_hooks(self) -> Hooks:
        hooks = self._hooks
        if hooks is None:
            hooks = self._hooks = Hooks(self._name)
        return hooks

    def _emit(self, transition: Transition, now: float) -> None:
        emit(self._name, self._hooks, transition, now)

    def _transitioned(
        self, transition: Transition, now: float, error: BaseException | None
    ) -> None:
        """Remember what tripped an open (``None``: nothing to blame), then emit."""
        if transition.to_state is _OPEN and (error is not None or self._hooks is not None):
            self._ensure_hooks().cause = error
        self._emit(transition, now)

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
        self._backend.force_now(self, "isolate" if duration is None else "open", duration)

    def force_closed(self) -> None:
        """Close the circuit by hand (counts cleared; in-flight outcomes become stale).

        Raises:
            TypeError: With a shared store (use ``await apply("close")``).
        """
        self._backend.force_now(self, "close", None)

    def reset(self) -> None:
        """Back to a fresh closed circuit: state, counters and backoff cleared.

        Raises:
            TypeError: With a shared store (use ``await apply("reset")``).
        """
        self._backend.force_now(self, "reset", None)

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
        await self._backend.apply(self, action, duration)

    # -- admission and recording ----------------------------------------------------

    async def acquire(self) -> Permit:
        """Take a permit for one call that you run and report yourself.

        Returns:
            The permit: report with ``success()``, ``failure(exc)``, ``record_error(exc)``
            or ``release()``; exactly one of them counts.

        Raises:
            CircuitOpenError: When the circuit rejects the call.
        """
        admission, now = await self._backend.admit(self)
        return Permit(self, admission, now)

    def _admitted(self, admission: Admission, now: float) -> None:
        """Emit the lazy step an admission made; raise its rejection."""
        if admission.transition is not None:
            self._emit(admission.transition, now)
        if not admission.admitted:
            reject(self._name, self._ensure_hooks(), admission, self._config.probe_budget)

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
        circuit = self._circuit
        generation = circuit.generation
        state = circuit.state
        if state is self._fast_closed:
            # The hot path: admitting needs no lock and no clock, and a success with no
            # failure streak changes nothing. Counting is an atomic next() on a tally.
            calls = circuit.calls
            if calls is None:
                circuit.count()
            else:
                next(calls)
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                LOCAL.record(self, generation, 0, outcome_of(self, exc), None, exc)
                raise
            if circuit.failures or circuit.generation != generation:
                LOCAL.record(self, generation, 0, Outcome.SUCCESS, None, None)
            return result
        if state is self._fast_open:
            # Reject without the lock while the open period clearly still runs. Only
            # reads and atomic counters: the worst a race can do is reject a call that a
            # transition a moment later would have admitted as a probe.
            cold = circuit.cold
            assert cold is not None  # a local circuit that is open always has its cold part
            wait = cold.open_until - self._clock()
            if wait > 0.0 and not cold.isolated:
                next(cold.rejected)
                rejected(self._name, "open")
                hooks = self._hooks or self._ensure_hooks()
                raise rejection(hooks.open_message, hooks.open_where, wait) from hooks.cause
        admission, started = await self._backend.admit(self)
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            await self._backend.settle(self, admission, outcome_of(self, exc), started, exc)
            raise
        await self._backend.settle(self, admission, Outcome.SUCCESS, started, None)
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
        circuit = self._circuit
        generation = circuit.generation
        if circuit.state is self._fast_closed:
            calls = circuit.calls
            if calls is None:
                circuit.count()
            else:
                next(calls)
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                LOCAL.record(self, generation, 0, outcome_of(self, exc), None, exc)
                raise
            if circuit.failures or circuit.generation != generation:
                LOCAL.record(self, generation, 0, Outcome.SUCCESS, None, None)
            return result
        self._backend.refuse_sync(self, "uses a shared store: only async calls can use it")
        started = self._clock()
        admission = circuit.acquire(self._config, started)
        self._admitted(admission, started)
        lease = admission.lease
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            LOCAL.record(self, admission.generation, lease, outcome_of(self, exc), started, exc)
            raise
        LOCAL.record(self, admission.generation, lease, Outcome.SUCCESS, started, None)
        return result

    @overload
    def __call__(self, fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]: ...

    @overload
    def __call__(self, fn: Callable[P, T]) -> Callable[P, T]: ...

    def __call__(self, fn: Callable[P, object]) -> Callable[P, object]:
        """Decorate an async or plain function so every call goes through the breaker.

        The wrapper is ``call`` (or ``call_sync``) with the breaker and ``fn`` bound:
        no frame of its own between the caller and the breaker.

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
            guarded = Guarded(CircuitBreaker.call, self, fn)
        else:
            self._backend.refuse_sync(
                self, "uses a shared store: it can only guard async functions"
            )
            guarded = Guarded(CircuitBreaker.call_sync, self, fn)
        functools.update_wrapper(guarded, fn)
        return guarded
