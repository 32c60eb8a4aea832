"""What one call carries through every layer: its deadline and its stream-break policy.

Both live in context variables, so they follow a call into the tasks it spawns (a hedge)
and never leak into other calls: there is no global state. A layer reads them when it
decides (how long may this attempt take? may we wait out this Retry-After?).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Literal

from .._clock import Clock
from .._limits import check_seconds, checked_as

StreamBreak = Literal["raise", "restart"]
"""What a fallback does when a stream breaks after its first chunk."""

STREAM_BREAK_POLICIES: Final = ("raise", "restart")


@dataclass(frozen=True, slots=True)
class Deadline:
    """The moment one call must be finished by, read on its own clock.

    Args:
        expires_at: The clock reading at which the call's time is spent.
        clock: The clock the deadline is measured on.
    """

    expires_at: float
    clock: Clock

    def time_left(self) -> float:
        """Seconds until the deadline (negative once it has passed)."""
        return self.expires_at - self.clock()


_DEADLINE: ContextVar[Deadline | None] = ContextVar("vex_llm_deadline", default=None)
_STREAM_BREAK: ContextVar[StreamBreak | None] = ContextVar("vex_llm_stream_break", default=None)


def current_deadline() -> Deadline | None:
    """The deadline of the call running in this context, if one was set."""
    return _DEADLINE.get()


def time_left() -> float:
    """Seconds left on the current call's deadline (``math.inf`` when there is none).

    Returns:
        Seconds; zero or negative once the deadline has passed.
    """
    current = _DEADLINE.get()
    return math.inf if current is None else current.time_left()


def _seconds(name: str, value: float) -> None:
    checked_as(name, _delay, value)


def _delay(value: object) -> float:
    return check_seconds(value, zero=True)


class deadline:  # named like a function: used as `async with deadline(10):`
    """Give every vex-llm call inside the block at most ``seconds``, retries and fallbacks
    included.

    Each policy layer gives an attempt ``min(its own timeout, time left)``, waits out a
    ``Retry-After`` only when it fits in the time left, and stops retrying or falling back
    once the time is spent. Nested deadlines never extend an outer one. The block itself
    is not cancelled: the deadline binds vex-llm's layers, not your own code (wrap that in
    ``asyncio.timeout`` if you need to).

    Use it as ``async with deadline(10.0):`` or ``with deadline(10.0):``.

    Args:
        seconds: The time allowed, in seconds (>= 0).
        clock: The clock it is measured on (default ``time.monotonic``; tests pass a
            ``ManualClock``).

    Raises:
        ValueError: On a negative or non-finite duration.
    """

    __slots__ = ("_clock", "_seconds", "_token")

    def __init__(self, seconds: float, *, clock: Clock = time.monotonic) -> None:
        _seconds("deadline seconds", seconds)
        self._seconds = seconds
        self._clock = clock
        self._token: Token[Deadline | None] | None = None

    def __enter__(self) -> Deadline:
        if self._token is not None:
            msg = "a deadline() scope cannot be entered twice; make a new one per call"
            raise RuntimeError(msg)
        allowed = min(self._seconds, time_left())
        scope = Deadline(self._clock() + allowed, self._clock)
        self._token = _DEADLINE.set(scope)
        return scope

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _DEADLINE.reset(self._token)
            self._token = None

    async def __aenter__(self) -> Deadline:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


class deadline_scope:  # named like a function: used as `with deadline_scope(scope):`
    """Make ``scope`` the current deadline for a block (``None`` leaves it as it is).

    A class rather than a generator context manager: every stream through a stack opens
    one or two, and a generator costs a frame and two more objects each time.
    """

    __slots__ = ("_scope", "_token")

    def __init__(self, scope: Deadline | None) -> None:
        self._scope = scope
        self._token: Token[Deadline | None] | None = None

    def __enter__(self) -> None:
        if self._scope is not None:
            self._token = _DEADLINE.set(self._scope)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _DEADLINE.reset(self._token)
            self._token = None


@contextmanager
def on_stream_break(policy: StreamBreak) -> Iterator[None]:
    """Choose, for the calls inside the block, what a fallback does when a stream breaks
    after its first chunk.

    ``"raise"`` (every fallback's default) raises ``StreamInterrupted`` with the partial
    text. ``"restart"`` replays the request on the next provider and first yields a
    ``StreamReset`` marker, so the consumer knows to drop what it has shown so far.

    Args:
        policy: ``"raise"`` or ``"restart"``.

    Raises:
        ValueError: On any other value.
    """
    if policy not in STREAM_BREAK_POLICIES:
        msg = f"on_stream_break policy must be one of {STREAM_BREAK_POLICIES}, got {policy!r}"
        raise ValueError(msg)
    token = _STREAM_BREAK.set(policy)
    try:
        yield
    finally:
        _STREAM_BREAK.reset(token)


def stream_break_policy(default: StreamBreak) -> StreamBreak:
    """The stream-break policy chosen for this call, else ``default``."""
    chosen = _STREAM_BREAK.get()
    return default if chosen is None else chosen
