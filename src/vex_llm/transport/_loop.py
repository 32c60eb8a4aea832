"""One event loop on a private daemon thread, for the blocking facades (``blocking()`` and
``ResilientTransport``).

Calls from any thread are coroutines handed to the loop (``asyncio.run_coroutine_threadsafe``)
and run side by side on it, in a copy of the calling thread's context (so a
``vex_llm.deadline()`` around a blocking call bounds it). ``stop()`` ends the loop: the calls
still running are cancelled, the owner's ``closing`` coroutine runs (bounded), then the loop
closes. An owner that is never closed stops its loop through a ``weakref.finalize`` at
collection or, at the latest, at interpreter exit (``finalize`` runs pending callbacks from
``atexit``), so the daemon thread never holds up the exit.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Final, TypeVar

_log: Final = logging.getLogger("vex_llm")
_T = TypeVar("_T")

Closing = Callable[[], Coroutine[object, object, None]]


def _run(loop: asyncio.AbstractEventLoop, closing: Closing, wait: float) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        leftover = asyncio.all_tasks(loop)
        for task in leftover:
            task.cancel()
        if leftover:
            loop.run_until_complete(asyncio.gather(*leftover, return_exceptions=True))
        try:
            loop.run_until_complete(asyncio.wait_for(closing(), wait))
        except Exception as exc:  # closing is best effort: the loop must close regardless
            _log.warning("blocking_close_failed", extra={"error": type(exc).__name__})
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def _stop(loop: asyncio.AbstractEventLoop, thread: threading.Thread, wait: float) -> None:
    if loop.is_closed():
        return
    loop.call_soon_threadsafe(loop.stop)
    if threading.current_thread() is not thread:  # collected on the loop's own thread
        thread.join(2 * wait)


class LoopThread:
    """A private event loop on a daemon thread, stopped with its owner.

    Args:
        owner: The object whose lifetime the loop follows (collected: the loop stops).
        name: The thread's name.
        closing: Builds the coroutine that releases the owner's resources, run on the loop
            when it stops (it must not refer to ``owner``, or the owner is never collected).
        wait: Seconds ``closing`` may take, and the thread's join after it.
    """

    __slots__ = ("_stopper", "loop", "thread")

    def __init__(self, owner: object, name: str, closing: Closing, wait: float) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=_run, args=(self.loop, closing, wait), name=name, daemon=True
        )
        self.thread.start()
        self._stopper = weakref.finalize(owner, _stop, self.loop, self.thread, wait)

    @property
    def running(self) -> bool:
        """Whether the loop still takes calls."""
        return self._stopper.alive

    def on_loop(self) -> bool:
        """Whether the caller runs on the loop's own thread."""
        return threading.current_thread() is self.thread

    def check(self, what: str) -> None:
        """Refuse a blocking call that cannot be served.

        Raises:
            RuntimeError: After ``stop()``, or from the loop's own thread (it would deadlock).
        """
        if not self._stopper.alive:
            msg = f"this {what} is closed: make a new one"
            raise RuntimeError(msg)
        if self.on_loop():
            msg = f"a blocking {what} call from its own event loop would deadlock: await instead"
            raise RuntimeError(msg)

    def run(self, coro: Coroutine[object, object, _T], what: str) -> _T:
        """Run ``coro`` on the loop and wait for its result (see ``check`` for the errors)."""
        try:
            self.check(what)
        except RuntimeError:
            coro.close()  # never scheduled: close it so it is not reported as never awaited
            raise
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            # KeyboardInterrupt (or any error) while waiting: the call must not run on.
            future.cancel()
            raise

    def stop(self) -> None:
        """Stop the loop (see the module docstring). Safe to call twice."""
        self._stopper()
