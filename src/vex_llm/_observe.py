"""The one seam the exporters hang on: observers of vex-llm's typed events, per context.

The layers emit; they never know who listens. A ``ResilienceStack`` reports each logical
call (``Call``), a ``ResilientProvider`` each upstream attempt it admits (``Attempt``),
the policies their decisions (the ``TraceEvent`` of ``vex_llm.trace()``), breakers their
state changes and rejections, a ``RedisStore`` its health. ``vex_llm.metrics`` and
``vex_llm.tracing`` are observers.

Observers live in a context variable, as ``trace()`` and ``deadline()`` do: there is no
process-wide switch. ``observe(observer)`` adds one to the current context and returns a
handle that removes it; tasks started afterwards inherit it, so calling it once at the
start of ``main()`` (or before ``asyncio.run``) covers every call of the program. When
nothing observes, every emitting site pays one context-variable read and nothing else.

Why a context variable and not a process-wide registry (STYLE: "no module-level mutable
state and no process-wide switches"): the issue asks for a one-call ``install()``, and a
context variable gives exactly that for a program that installs at the start of ``main()``,
while tests, two exporters on two registries, or one request traced differently stay
independent, and nothing has to be reset between them. The one cost is the one to know: a
task already running when ``install()`` is called, or a thread with its own event loop,
does not see the observer; install it there.

An observer's exception is logged (``observer_failed``) and never reaches the call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Final, Protocol, Self

from ._clock import Clock

if TYPE_CHECKING:
    from ._response import LlmResponse, Usage
    from ._types import LlmRequest

logger: Final = logging.getLogger("vex_llm")


class Decision(Protocol):
    """A policy's decision, as ``vex_llm.TraceEvent`` carries it (kind, provider, facts)."""

    @property
    def kind(self) -> str: ...
    @property
    def provider(self) -> str: ...
    @property
    def attempt(self) -> int | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def wait(self) -> float | None: ...
    @property
    def detail(self) -> str: ...


class StateValue(Protocol):
    """A circuit state (``CircuitState``): its ``value`` is the state's name."""

    @property
    def value(self) -> str: ...


class Transition(Protocol):
    """A breaker's state change, as ``vex_llm.breaker.StateChange`` carries it."""

    @property
    def breaker(self) -> str: ...
    @property
    def from_state(self) -> StateValue: ...
    @property
    def to_state(self) -> StateValue: ...
    @property
    def reason(self) -> str: ...
    @property
    def manual(self) -> bool: ...
    @property
    def open_until(self) -> float | None: ...


class Call:
    """One logical call through a ``ResilienceStack`` (what an observer is told about it).

    The fields fill up while the call runs; observers read them and may keep their own
    per-call state in ``marks`` (keyed by the observer).

    Args:
        stack: The stack's name.
        clock: The clock the call's durations are read on (seconds).
        streamed: Whether it is a stream.
        request: The request (observers must not record its contents unless asked to).
    """

    __slots__ = (
        "asked",
        "clock",
        "ended",
        "error",
        "finish_reason",
        "hedged",
        "last_chunk",
        "last_failure",
        "marks",
        "model",
        "output",
        "provider",
        "request",
        "response_model",
        "server",
        "stack",
        "started",
        "streamed",
        "usage",
    )

    def __init__(
        self, stack: str, clock: Clock, *, streamed: bool, request: LlmRequest | None = None
    ) -> None:
        self.stack = stack
        self.request = request  # for observers that record contents (opt-in only)
        self.output: str | None = None  # the answer's text, kept only when one wants it
        self.clock = clock
        self.streamed = streamed
        self.started = clock()
        self.last_chunk: float | None = None
        self.provider = ""  # the provider last attempted (bounded: a configured name)
        self.model = ""  # the model asked of it
        self.server = ""  # its host[:port], never a path, query or credentials
        self.response_model = ""
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.error: BaseException | None = None
        self.last_failure: tuple[str, str] | None = None  # (provider, why) before a fallback
        self.hedged: list[str] = []
        # (model, server) of the providers attempted before the current one, made when a
        # second provider is attempted: most calls have one.
        self.asked: dict[str, tuple[str, str]] | None = None
        self.marks: dict[object, object] = {}
        self.ended = False  # call_ended was reported (it is reported once)

    def seen(self, response: LlmResponse) -> None:
        """Take the model, finish reason and usage from a response (and the model asked,
        when neither the request nor the provider named one)."""
        self.response_model = response.model
        self.output = response.content
        self.finish_reason = response.finish_reason
        self.usage = response.usage
        if response.provider and response.provider != self.provider:
            self.answered_by(response.provider)
        self.model = self.model or response.model

    def attempted(self, provider: str, model: str, server: str) -> None:
        """An attempt on ``provider`` (asked for ``model``, at ``server``) was admitted."""
        if self.provider and self.provider != provider:
            self._keep()
        self.provider, self.model, self.server = provider, model, server

    def answered_by(self, provider: str) -> None:
        """``provider`` answered: a hedge race decides who, not who was attempted last."""
        if provider == self.provider:
            return
        asked = self.asked
        if self.provider:
            asked = self._keep()
        self.provider = provider
        if asked is not None and provider in asked:
            self.model, self.server = asked[provider]

    def _keep(self) -> dict[str, tuple[str, str]]:
        """Remember what the current provider was asked before another one takes over."""
        if self.asked is None:
            self.asked = {}
        self.asked[self.provider] = (self.model, self.server)
        return self.asked


class Circuit(Protocol):
    """What an attempt knows of the circuit that admitted it (a ``CircuitBreaker``)."""

    @property
    def name(self) -> str: ...
    @property
    def state(self) -> StateValue: ...


class Attempt:
    """One upstream attempt a circuit admitted (what an observer is told about it).

    Args:
        call: The logical call it belongs to (``None`` outside a stack).
        provider: The provider's name.
        model: The model asked.
        server: The provider's host[:port] (``""`` when it has no URL).
        breaker: The circuit that admitted it (``circuit`` is its name, ``state`` its state).
        failure_rate: Filled in at the end in ratio mode: the circuit's failure rate.
    """

    __slots__ = (
        "_breaker",
        "call",
        "circuit",
        "error",
        "failure_rate",
        "marks",
        "model",
        "provider",
        "server",
    )

    def __init__(
        self, call: Call | None, provider: str, model: str, server: str, breaker: Circuit
    ) -> None:
        self.call = call
        self._breaker = breaker
        self.circuit = breaker.name
        self.provider = provider
        self.model = model
        self.server = server
        self.error: BaseException | None = None
        self.failure_rate: float | None = None
        self.marks: dict[object, object] = {}

    @property
    def state(self) -> str:
        """The circuit's state (``closed``, ``half_open``): read in ``attempt_started`` it
        is the state that admitted the attempt. Read from the breaker only when asked
        (the breaker's ``state`` applies its lazy step, not free on every attempt)."""
        return self._breaker.state.value


class Observer:
    """Receives vex-llm's events; subclass it and override what you need.

    Methods run inline on the call's path: keep them short and never block.
    """

    wants_content: bool = False
    """Whether this observer records message contents (then ``Call.output`` is kept for
    streams too). Off unless a user opted in."""

    def call_started(self, call: Call) -> None:
        """A logical call began."""

    def call_ended(self, call: Call, outcome: str) -> None:
        """It ended: ``outcome`` is ``"success"``, ``"error"`` (``call.error``) or
        ``"abandoned"`` (a stream closed before its finish reason)."""

    def first_chunk(self, call: Call, seconds: float) -> None:
        """A stream's first chunk was handed on, ``seconds`` after the call started."""

    def chunks(self, call: Call, gaps: Sequence[float]) -> None:
        """Later chunks were handed on: ``gaps`` holds the seconds between each and the
        one before, in order. They come in batches, not per chunk (a call per chunk costs
        more than the timing itself): at least once a second while the stream runs, and
        when it ends. Only observers that override this make a stream time its chunks."""

    def attempt_started(self, attempt: Attempt) -> None:
        """An upstream attempt was admitted by its circuit and is about to be sent."""

    def attempt_ended(self, attempt: Attempt, outcome: str) -> None:
        """It ended: ``"success"``, ``"error"`` (``attempt.error``) or ``"abandoned"``."""

    def decided(self, call: Call | None, decision: Decision) -> None:
        """A policy decided something (retry wait, skip, fallback, hedge, stream reset...)."""

    def state_changed(self, change: Transition) -> None:
        """A circuit changed state."""

    def rejected(self, circuit: str, reason: str) -> None:
        """A circuit refused a call (``reason``: ``open``, ``half_open_full``, ``isolated``)."""

    def outgoing(self, attempt: Attempt, headers: dict[str, str]) -> None:
        """An attempt's HTTP request is about to go out: add propagation headers
        (``traceparent``) to ``headers``."""

    def store_health(self, store: str, degraded: bool, failed: bool) -> None:
        """A shared store's health: ``degraded`` (working on local state) and whether an
        operation just ``failed``."""


def _overrides(observer: Observer, hook: str) -> bool:
    return getattr(type(observer), hook) is not getattr(Observer, hook)


class Observers(tuple[Observer, ...]):
    """The observers of a context, with the hooks of the hot path bound once: each of
    ``call_started``, ``call_ended``, ``first_chunk``, ``chunks``, ``attempt_started`` and
    ``attempt_ended`` is the tuple of the observers' methods that override it, so an
    emitting site calls just those (an observer's exception is logged with ``failed``).

    Built when an observer is added or removed, never per call.
    """

    call_started: tuple[Callable[[Call], None], ...]
    call_ended: tuple[Callable[[Call, str], None], ...]
    first_chunk: tuple[Callable[[Call, float], None], ...]
    chunks: tuple[Callable[[Call, Sequence[float]], None], ...]
    attempt_started: tuple[Callable[[Attempt], None], ...]
    attempt_ended: tuple[Callable[[Attempt, str], None], ...]
    outgoing: bool
    """Whether any of them adds headers to outgoing requests (then an attempt is made the
    current one while it runs, for ``outgoing_headers``)."""

    def __init__(self, members: Iterable[Observer] = ()) -> None:
        # tuple.__new__ took the members; bind the overridden hooks of each.
        del members
        self.call_started = tuple(o.call_started for o in self if _overrides(o, "call_started"))
        self.call_ended = tuple(o.call_ended for o in self if _overrides(o, "call_ended"))
        self.first_chunk = tuple(o.first_chunk for o in self if _overrides(o, "first_chunk"))
        self.chunks = tuple(o.chunks for o in self if _overrides(o, "chunks"))
        self.attempt_started = tuple(
            o.attempt_started for o in self if _overrides(o, "attempt_started")
        )
        self.attempt_ended = tuple(o.attempt_ended for o in self if _overrides(o, "attempt_ended"))
        self.outgoing = any(_overrides(o, "outgoing") for o in self)


def failed(hook: Callable[..., None]) -> None:
    """Log that an observer's ``hook`` raised (call it from the ``except`` around it)."""
    owner = getattr(hook, "__self__", hook)
    name = getattr(hook, "__name__", "?")
    logger.exception("observer_failed observer=%s event=%s", type(owner).__name__, name)


_NOBODY: Final = Observers()
_OBSERVERS: ContextVar[Observers] = ContextVar("vex_llm_observers", default=_NOBODY)
_CALL: ContextVar[Call | None] = ContextVar("vex_llm_call", default=None)
_ATTEMPT: ContextVar[Attempt | None] = ContextVar("vex_llm_attempt", default=None)


def observers() -> Observers:
    """The observers of the current context (empty when nothing observes)."""
    return _OBSERVERS.get()


def current_call() -> Call | None:
    """The logical call running in this context, if a stack started one."""
    return _CALL.get()


class Observing:
    """The handle ``observe()`` (and ``vex_llm.metrics.install()``,
    ``vex_llm.tracing.install()``) returns: ``uninstall()``, or leaving its ``with``
    block, removes the observer again.

    Args:
        observer: The observer to add to the current context.
        cleanup: Run once by ``uninstall()`` after the observer is removed (an exporter
            unregisters its metrics there).
    """

    __slots__ = ("_cleanup", "_observer", "_token")

    def __init__(self, observer: Observer, cleanup: Callable[[], None] | None = None) -> None:
        self._observer = observer
        self._cleanup = cleanup
        self._token: Token[Observers] | None = _OBSERVERS.set(
            Observers((*_OBSERVERS.get(), observer))
        )

    @property
    def observer(self) -> Observer:
        """The observer this handle installed."""
        return self._observer

    def uninstall(self) -> None:
        """Remove the observer from this context (a no-op the second time)."""
        token, self._token = self._token, None
        if token is None:
            return
        try:
            _OBSERVERS.reset(token)
        except ValueError:  # another context: drop just this observer there
            _OBSERVERS.set(Observers(o for o in _OBSERVERS.get() if o is not self._observer))
        if self._cleanup is not None:
            self._cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.uninstall()


def observe(observer: Observer, cleanup: Callable[[], None] | None = None) -> Observing:
    """Add ``observer`` to the current context (and every task started from it later).

    Args:
        observer: The observer.
        cleanup: Run once when the handle uninstalls it.

    Returns:
        A handle; its ``uninstall()`` removes the observer.

    Raises:
        TypeError: If ``observer`` is not an ``Observer``.
    """
    value: object = observer
    if not isinstance(value, Observer):
        msg = f"observer must be a vex_llm Observer, got {type(value).__name__}"
        raise TypeError(msg)
    return Observing(observer, cleanup)


def enter_call(call: Call) -> Token[Call | None]:
    """Make ``call`` the current logical call (undo with ``leave_call``)."""
    return _CALL.set(call)


def leave_call(token: Token[Call | None]) -> None:
    """Undo ``enter_call``."""
    _CALL.reset(token)


def enter_attempt(attempt: Attempt) -> Token[Attempt | None]:
    """Make ``attempt`` the one whose requests go out in this context (undo with
    ``leave_attempt``)."""
    return _ATTEMPT.set(attempt)


def leave_attempt(token: Token[Attempt | None]) -> None:
    """Undo ``enter_attempt``."""
    _ATTEMPT.reset(token)


def outgoing_headers(headers: Mapping[str, str]) -> Mapping[str, str]:
    """``headers`` plus what the observers add for the current attempt (``traceparent``).

    The providers call it for every HTTP request; with nothing observing it returns
    ``headers`` itself.
    """
    if not _OBSERVERS.get():
        return headers
    attempt = _ATTEMPT.get()
    if attempt is None:
        return headers
    extra: dict[str, str] = {}
    notify(_OBSERVERS.get(), "outgoing", attempt, extra)
    return {**headers, **extra} if extra else headers


def notify(targets: tuple[Observer, ...], method: str, *args: object) -> None:
    """Call ``method`` on every observer; one that raises is logged and skipped."""
    for target in targets:
        try:
            getattr(target, method)(*args)
        except Exception:
            logger.exception("observer_failed observer=%s event=%s", type(target).__name__, method)
