"""Cancel-and-convert timeouts measured through an injectable ``sleep``.

``asyncio.timeout`` reads the loop's clock, which tests cannot move by hand. The
watchdog waits through the policy's ``sleep`` instead (``ManualClock.sleep`` in tests)
and, when it wakes first, cancels the guarded block and raises the policy's ``Timeout``.
With the real ``asyncio.sleep`` it simply uses ``asyncio.timeout`` (no extra task).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from types import TracebackType

from .._clock import Sleep
from .._errors import LlmError


class within:  # named like asyncio.timeout, and used like it
    """Run a block for at most ``limit`` seconds; on expiry raise ``expired()`` instead.

    Args:
        limit: Seconds allowed (``math.inf``: no limit; <= 0: expire at once).
        sleep: The sleep the limit is measured with.
        expired: Builds the error raised on expiry.
    """

    __slots__ = ("_cancelling", "_dog", "_expired", "_fired", "_limit", "_sleep", "_task", "_tm")

    def __init__(self, limit: float, sleep: Sleep, expired: Callable[[], LlmError]) -> None:
        self._limit = limit
        self._sleep = sleep
        self._expired = expired
        self._fired = False
        self._dog: asyncio.Task[None] | None = None
        self._tm: asyncio.Timeout | None = None
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0

    async def __aenter__(self) -> None:
        if math.isinf(self._limit):
            return
        if self._limit <= 0:
            raise self._expired()
        if self._sleep is asyncio.sleep:
            self._tm = asyncio.timeout(self._limit)
            await self._tm.__aenter__()
            return
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - policies always run inside a task
            msg = "vex_llm timeouts must run inside an asyncio task"
            raise RuntimeError(msg)
        self._task = task
        self._cancelling = task.cancelling()
        self._dog = asyncio.create_task(self._bark())

    async def _bark(self) -> None:
        await self._sleep(self._limit)
        self._fired = True
        if self._task is not None:
            self._task.cancel()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._tm is not None:
            try:
                await self._tm.__aexit__(exc_type, exc, tb)
            except TimeoutError as timeout:
                raise self._expired() from timeout
            return
        if self._dog is None:
            return
        if not self._fired:
            self._dog.cancel()
            return
        assert self._task is not None
        # Like asyncio.timeout: our own cancellation becomes the timeout, anyone else's
        # (the caller cancelled at the same moment) still propagates.
        if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise self._expired() from exc
