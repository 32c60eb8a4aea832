"""Outcomes on their way to Redis, off the caller's path.

A caller waits for its outcome's answer only as long as its latency allows (the store's
``timeout``); the outcome itself is not bound by that. Every outcome joins one FIFO queue;
one sender takes what has queued up and sends it as one pipelined batch over one
connection, so Redis applies the outcomes in the order they were recorded (per circuit,
and across circuits). Each batch has its own, longer bound (``record_timeout``); what
fails to reach Redis within it is handed back to the store, which applies it locally.

The queue is bounded: when ``capacity`` outcomes are waiting, ``put`` refuses the next one
(the store applies it locally and counts it). The sender runs as a task only while there
is something to send; ``aclose()`` waits for the queue to drain (at most one more
``record_timeout``), then cancels and awaits the sender.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from ..circuit import Transition

logger: Final = logging.getLogger("vex_llm")

MAX_BATCH: Final = 256
"""Outcomes sent in one round trip at most."""


@dataclass(slots=True, eq=False)
class Parcel:
    """One queued operation and the future its caller may wait on."""

    name: str
    script: int
    args: Sequence[str]
    """The script's own arguments (the store adds the common ones when sending)."""
    now: float | None
    """The caller's clock when it recorded (``None``: nothing to learn from the reply)."""
    fallback: Callable[[], Awaitable[Transition | None]] | None = None
    """Applies the operation locally when it cannot reach Redis (``None``: nothing to do)."""
    unwatched: bool = False
    """Its caller stopped waiting for the answer (a transition it makes is logged)."""
    done: asyncio.Future[Transition | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Outbox:
    """One ordered, bounded queue of operations and the one task that sends them.

    Args:
        send: Delivers one batch and settles every parcel's future; never raises
            (except ``CancelledError``).
        capacity: Parcels waiting at most.
    """

    def __init__(
        self, send: Callable[[Sequence[Parcel]], Awaitable[None]], *, capacity: int
    ) -> None:
        self._send = send
        self._capacity = capacity
        self._queue: deque[Parcel] = deque()
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, parcel: Parcel) -> bool:
        """Queue one parcel; ``False`` (and nothing queued) when the queue is full."""
        if len(self._queue) >= self._capacity:
            return False
        self._queue.append(parcel)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())
        return True

    async def _drain(self) -> None:
        queue = self._queue
        try:
            while queue:
                batch = [queue.popleft() for _ in range(min(len(queue), MAX_BATCH))]
                await self._send(batch)
        finally:
            self._task = None

    async def aclose(self, drain_for: float) -> list[Parcel]:
        """Wait up to ``drain_for`` seconds for the queue to drain, then stop the sender.

        Returns:
            The parcels that were never sent.
        """
        task = self._task
        if task is not None:
            await asyncio.wait((task,), timeout=drain_for)
            if not task.done():
                task.cancel()
                await asyncio.wait((task,))
        left = list(self._queue)
        self._queue.clear()
        return left
