"""Run an async service on an event loop of its own thread, for synchronous callers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable


class InThread:
    """One background thread running an event loop between a service's start and stop.

    Args:
        name: The thread's name.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    def start(
        self,
        start: Callable[[], Awaitable[None]],
        stop: Callable[[], Awaitable[None]],
        *,
        started: Callable[[], bool],
        wait: float = 30.0,
    ) -> None:
        """Start the thread, await ``start()`` there, and return once it finished.

        ``stop()`` runs in the same thread when ``stop`` of this object is called.

        Args:
            start: Starts the service (in the thread's loop).
            stop: Stops it (in the thread's loop).
            started: Whether the service is up (checked once ``start()`` returned).
            wait: Seconds to wait for ``start()``.

        Raises:
            RuntimeError: When already running, or when the service did not start in
                ``wait`` seconds.
            BaseException: Whatever ``start()`` raised.
        """
        if self._thread is not None:
            msg = f"{self._name} is already running"
            raise RuntimeError(msg)
        ready = threading.Event()
        failures: list[BaseException] = []

        async def run() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                await start()
            except BaseException as exc:
                failures.append(exc)
                ready.set()
                return
            ready.set()
            try:
                await self._stop.wait()
            finally:
                await stop()

        self._thread = threading.Thread(
            target=asyncio.run, args=(run(),), name=self._name, daemon=True
        )
        self._thread.start()
        ready.wait(timeout=wait)
        if failures or not started():
            self._thread.join(timeout=5.0)
            self._thread = None
            if failures:
                raise failures[0]
            msg = f"{self._name} did not start in {wait:g} s"
            raise RuntimeError(msg)

    def stop(self, *, timeout: float) -> None:
        """Have the thread run the service's ``stop()`` and end (no-op when not running).

        Args:
            timeout: Seconds to wait for the thread to end.
        """
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None or loop is None or stop is None:
            return
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=timeout)
        self._thread = self._loop = self._stop = None
