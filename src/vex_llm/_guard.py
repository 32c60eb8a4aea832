"""One timer for many limits: the per-wait limits of a stream, and ``within`` for a block.

``asyncio.timeout`` arms and cancels a timer for every block it guards. A stream waits
for thousands of chunks, under limits declared by several layers (a deadline, an idle
limit): the ``Guard`` picks the tightest limit per wait and keeps one timer that moves
only when a wait must end earlier than it is set for. The limits wait through their own
``sleep``, so a ``ManualClock`` drives them in tests.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from contextvars import ContextVar, Token
from types import TracebackType

from ._clock import Clock, Sleep
from ._errors import LlmError

_INF = math.inf
_current_task = asyncio.current_task

_SLACK = 1e-3
"""Seconds a timer may fire after the wait's due time rather than be moved earlier."""


class Limit:
    """A limit on each wait for the next chunk, declared by a stage (see ``ChunkStream``).

    A layer declares its limits in the call's scope (``limit_scope``) while it opens the
    stream below it; the innermost reader that can enforce them (an ``HttpProvider``)
    claims them (``claim_limits``) and enforces them with its own, under one timer. A
    limit nobody claimed is enforced by the outer ``ChunkStream``: each is enforced once.
    """

    __slots__ = ("claimed", "sleep")

    def __init__(self, sleep: Sleep) -> None:
        self.sleep = sleep
        self.claimed = False

    def remaining(self) -> float:
        """Seconds the next wait may take (``math.inf``: no limit)."""
        return math.inf

    def left(self, now: float) -> float:
        """``remaining()``, given the loop's time ``now``: a limit measured on the loop's
        clock answers from it rather than reading a clock of its own."""
        return self.remaining()

    def fixed_due(self) -> float | None:
        """The loop time this limit ends at, if that moment never moves (a deadline on the
        loop's clock): a ``Guard`` then reads it once, not on every wait."""
        return None

    def expired(self) -> LlmError:
        """The error raised when the limit chosen for a wait ran out."""
        raise NotImplementedError


def on_loop_clock(clock: Clock) -> bool:
    """Whether ``clock`` reads the running loop's time (``loop.time``, or
    ``time.monotonic`` under asyncio's own loops, which read it too)."""
    loop = asyncio.get_running_loop()
    if clock == loop.time:
        return True
    return clock is time.monotonic and type(loop).time is asyncio.BaseEventLoop.time


_DECLARED: ContextVar[tuple[Limit, ...]] = ContextVar("vex_llm_limits", default=())


def declared_limits() -> tuple[Limit, ...]:
    """The per-wait limits the layers above declared for the stream being opened."""
    return _DECLARED.get()


class limit_scope:  # named like a function: used as `with limit_scope(limits):`
    """Declare ``limits`` (all of them: add to ``declared_limits()`` to extend) for the
    streams opened inside the block.

    A class rather than a generator context manager: every stream through a stack opens
    one or two, and a generator costs a frame and two more objects each time.
    """

    __slots__ = ("_limits", "_token")

    def __init__(self, limits: tuple[Limit, ...]) -> None:
        self._limits = limits
        self._token: Token[tuple[Limit, ...]] | None = None

    def __enter__(self) -> None:
        self._token = _DECLARED.set(self._limits)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _DECLARED.reset(self._token)
            self._token = None


def enforces_limits(provider: object) -> bool:
    """Whether ``provider`` claims the limits declared above it (``HttpProvider`` does), so
    a layer can declare its limit instead of arming a timer of its own."""
    return getattr(provider, "enforces_declared_limits", False) is True


def claim_limits() -> tuple[Limit, ...]:
    """Take over the limits declared for this stream: the caller enforces them now."""
    limits = _DECLARED.get()
    for limit in limits:
        limit.claimed = True
    return limits


class Guard:
    """Enforces the tightest of several per-wait limits with one lazily moved timer.

    With the real ``asyncio.sleep`` the timer is a loop ``call_at`` that is moved only
    when a wait must end earlier than it is set for; when it fires early (the wait it was
    set for ended), it re-arms for the current wait. With an injected sleep (tests: a
    ``ManualClock``) a small watchdog task sleeps on it instead, one per wait.
    """

    __slots__ = (
        "_at",
        "_cancelling",
        "_chosen",
        "_dog",
        "_due",
        "_fast",
        "_fired",
        "_fixed",
        "_fixed_due",
        "_handle",
        "_limits",
        "_loop",
        "_moving",
        "_task",
        "_time",
        "_waiting",
    )

    def __init__(self, limits: tuple[Limit, ...], loop: asyncio.AbstractEventLoop) -> None:
        self._limits = limits
        self._loop = loop
        self._time = loop.time
        if type(loop).time is asyncio.BaseEventLoop.time and "time" not in vars(loop):
            self._time = time.monotonic  # what asyncio's own loops read: one call per wait less
        self._fast = all(limit.sleep is asyncio.sleep for limit in limits)
        # Limits that end at a fixed loop time are read once, here; the others per wait.
        self._fixed: Limit | None = None
        self._fixed_due = _INF
        moving: list[Limit] = []
        for limit in limits:
            due = limit.fixed_due() if self._fast else None
            if due is None:
                moving.append(limit)
            elif due < self._fixed_due or self._fixed is None:
                self._fixed, self._fixed_due = limit, due
        self._moving = tuple(moving)
        self._handle: asyncio.TimerHandle | None = None
        self._dog: asyncio.Future[None] | None = None
        self._at = math.inf
        self._due = math.inf
        self._chosen = limits[0]
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0
        self._waiting = False
        self._fired = False

    def arm(self) -> None:
        """A wait starts: choose the tightest limit and make sure a timer covers it.

        Raises:
            LlmError: The chosen limit is already spent.
        """
        if not self._fast:
            self._arm_watchdog()
            return
        # Once per chunk: one reading of the loop's clock for every limit, the fixed ones
        # not asked at all. A tie goes to the later limit, as when each read the clock in
        # turn (the later reading came out a little smaller).
        now = self._time()
        chosen = self._fixed
        best = self._fixed_due - now
        for limit in self._moving:
            left = limit.left(now)
            if left <= best:
                best = left
                chosen = limit
        if chosen is None or best == _INF:
            return
        self._chosen = chosen
        if best <= 0.0:
            raise chosen.expired()
        # ``_start_wait()`` inlined: this runs once per chunk.
        task = _current_task(self._loop)
        assert task is not None, "vex_llm streams run inside an asyncio task"
        self._task = task
        self._cancelling = task.cancelling()
        self._waiting = True
        due = now + best
        self._due = due
        # Limits read their clocks one after another, so the same deadline comes out a
        # few microseconds apart from wait to wait: moving the timer for less than the
        # slack would cost a timer operation for nothing (it fires at most that late).
        if self._at > due + _SLACK:
            if self._handle is not None:
                self._handle.cancel()
            self._handle = self._loop.call_at(due, self._fire)
            self._at = due

    def _start_wait(self) -> None:
        task = _current_task(self._loop)
        assert task is not None, "vex_llm streams run inside an asyncio task"
        self._task = task
        self._cancelling = task.cancelling()
        self._waiting = True

    def _arm_watchdog(self) -> None:
        """``arm()`` with an injected sleep: every limit asked, a watchdog per wait."""
        best = _INF
        chosen = None
        for limit in self._limits:
            left = limit.remaining()
            if left < best:
                best = left
                chosen = limit
        if chosen is None:
            return
        self._chosen = chosen
        if best <= 0.0:
            raise chosen.expired()
        self._start_wait()
        self._dog = asyncio.ensure_future(self._bark(chosen.sleep, best))

    def disarm(self) -> None:
        """The wait ended (a chunk or an error came): the timer stays for the next one."""
        self._waiting = False
        if self._dog is not None:
            self._dog.cancel()
            self._dog = None

    def _fire(self) -> None:
        self._handle = None
        self._at = math.inf
        if not self._waiting:
            return
        if self._time() < self._due:
            self._handle = self._loop.call_at(self._due, self._fire)
            self._at = self._due
            return
        self._expire()

    async def _bark(self, sleep: Sleep, seconds: float) -> None:
        await sleep(seconds)
        if self._waiting:
            self._dog = None
            self._expire()

    def _expire(self) -> None:
        self._fired = True
        assert self._task is not None
        self._task.cancel()

    def convert(self, exc: BaseException) -> BaseException:
        """The error a wait ended with: our own cancellation becomes the limit's error."""
        if not self._fired:
            return exc
        self._fired = False
        assert self._task is not None
        # Like asyncio.timeout: our cancellation is the limit; anyone else's still propagates.
        if self._task.uncancel() <= self._cancelling and isinstance(exc, asyncio.CancelledError):
            error = self._chosen.expired()
            error.__cause__ = exc
            return error
        return exc

    def close(self) -> None:
        """Cancel the timer: the stream ended."""
        self._waiting = False
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._dog is not None:
            self._dog.cancel()
            self._dog = None


class Fixed(Limit):
    """A limit of so many seconds from the moment it is armed."""

    __slots__ = ("_expired", "_seconds")

    def __init__(self, seconds: float, sleep: Sleep, expired: Callable[[], LlmError]) -> None:
        super().__init__(sleep)
        self._seconds = seconds
        self._expired = expired

    def remaining(self) -> float:
        return self._seconds

    def expired(self) -> LlmError:
        return self._expired()


class Until(Limit):
    """A limit that ends at one moment, however many waits it spans (a first-token limit
    counted from the stream's start), until ``stop()`` lifts it.

    Args:
        seconds: Seconds from now.
        clock: The time ``sleep`` waits on (``loop.time`` for ``asyncio.sleep``).
        sleep: The sleep the limit is measured with.
        expired: Builds the error raised on expiry.
    """

    __slots__ = ("_clock", "_due", "_expired", "_on_loop")

    def __init__(
        self,
        seconds: float,
        clock: Clock,
        sleep: Sleep,
        expired: Callable[[], LlmError],
    ) -> None:
        super().__init__(sleep)
        self._clock = clock
        self._due = clock() + seconds
        self._expired = expired
        self._on_loop = on_loop_clock(clock)

    def remaining(self) -> float:
        due = self._due
        # Lifted, it stays in the stream's guard: answer without reading the clock.
        return due if due == _INF else due - self._clock()

    def left(self, now: float) -> float:
        if self._on_loop:
            return self._due - now
        return self.remaining()

    def expired(self) -> LlmError:
        return self._expired()

    def stop(self) -> None:
        """Lift the limit (what it waited for came)."""
        self._due = _INF


class within:  # named like asyncio.timeout, and used like it
    """Run a block for at most ``limit`` seconds; on expiry raise ``expired()`` instead.

    Args:
        limit: Seconds allowed (``math.inf``: no limit; <= 0: expire at once).
        sleep: The sleep the limit is measured with (``asyncio.sleep``: the loop's timer).
        expired: Builds the error raised on expiry.
        also: More limits on the same block (claimed from the layers above); the
            tightest one applies, under one timer, and raises its own error.
    """

    __slots__ = ("_also", "_guard", "_limit")

    def __init__(
        self,
        limit: float,
        sleep: Sleep,
        expired: Callable[[], LlmError],
        *,
        also: tuple[Limit, ...] = (),
    ) -> None:
        self._limit = Fixed(limit, sleep, expired)
        self._also = also
        self._guard: Guard | None = None

    async def __aenter__(self) -> None:
        limits = (self._limit, *self._also)
        for limit in limits:
            if not math.isinf(limit.remaining()):
                break
        else:
            return
        self._guard = Guard(limits, asyncio.get_running_loop())
        self._guard.arm()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        guard = self._guard
        if guard is None:
            return
        guard.disarm()
        guard.close()
        if exc is not None:
            error = guard.convert(exc)
            if error is not exc:
                raise error
