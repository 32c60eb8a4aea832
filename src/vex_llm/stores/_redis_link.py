"""How ``RedisStore`` talks to Redis: getting ready apart from the exchange itself.

One store operation has two parts that deserve different bounds. Getting ready -- a free
connection from the pool (opening one when none is idle: TCP and the handshake) and the
scripts loaded on the server -- happens once per connection and once per server start.
Under a burst on a fresh store it is most of the work, and a slow handshake says nothing
about whether Redis is down. It gets ``setup_within`` seconds. The exchange -- send the
script calls, read their replies -- gets ``within``: the caller's latency bound.

The store opens at most ``max_connections`` connections; further operations wait for one
(as part of getting ready). Script calls go in order over one connection, pipelined, so
Redis runs them in the order given.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.connection import AbstractConnection

Call = tuple[int, Sequence[str], Sequence[str | bytes]]
"""One script call: the script's index (in the sources given to ``Link``), keys, args."""


class Link:
    """The connections and the loaded scripts of one store.

    Args:
        client: The redis-py client whose connection pool is used.
        sources: The Lua sources of the scripts, addressed by index in ``Call``.
        max_connections: Connections in use at once, at most.
    """

    def __init__(self, client: Redis, sources: Sequence[str], *, max_connections: int) -> None:
        from redis.exceptions import NoScriptError, ResponseError

        self._pool: Final = client.connection_pool
        self._sources: Final = tuple(sources)
        self._shas: Final = tuple(hashlib.sha1(s.encode()).hexdigest() for s in sources)
        self._loaded = False
        self._loading = asyncio.Lock()
        self._slots = asyncio.Semaphore(max_connections)
        self._response_error: Final = ResponseError
        self._no_script: Final = NoScriptError

    async def run(
        self, calls: Callable[[], Sequence[Call]], *, within: float, setup_within: float
    ) -> list[object]:
        """Run script calls in order, in one round trip.

        Args:
            calls: Makes the calls, once a connection is ready (so that arguments that
                depend on the time, such as a test's time shift, are as fresh as can be).
            within: Seconds the exchange may take once a connection is ready.
            setup_within: Seconds getting a connection and loading the scripts may take.

        Returns:
            Each call's reply, or the ``ResponseError`` that call raised, in order.

        Raises:
            TimeoutError: When a bound ran out (the connection is dropped).
            redis.exceptions.RedisError, OSError: When Redis could not be reached.
        """
        async with asyncio.timeout(setup_within):
            await self._slots.acquire()
        try:
            return await self._run(calls, within, setup_within)
        finally:
            self._slots.release()

    async def _run(
        self, make: Callable[[], Sequence[Call]], within: float, setup_within: float
    ) -> list[object]:
        pool = self._pool
        async with asyncio.timeout(setup_within):
            conn = await pool.get_connection()  # type: ignore[no-untyped-call]  # untyped in redis-py
        try:
            if not self._loaded:
                async with asyncio.timeout(setup_within):
                    await self._load(conn)
            calls = make()
            replies = await self._exchange(conn, calls, within)
            missing = [i for i, reply in enumerate(replies) if isinstance(reply, self._no_script)]
            if missing:
                # The server lost the scripts (a restart, SCRIPT FLUSH): load them again
                # and rerun, in order, the calls that could not run.
                self._loaded = False
                async with asyncio.timeout(setup_within):
                    await self._load(conn)
                again = await self._exchange(conn, [calls[i] for i in missing], within)
                for index, reply in zip(missing, again, strict=True):
                    replies[index] = reply
        except BaseException:
            # Replies may still be on their way: this connection is not reusable.
            await conn.disconnect(nowait=True)
            raise
        finally:
            await pool.release(conn)
        return replies

    async def _load(self, conn: AbstractConnection) -> None:
        async with self._loading:
            if self._loaded:
                return
            await conn.send_packed_command(
                conn.pack_commands([("SCRIPT", "LOAD", source) for source in self._sources])
            )
            for _ in self._sources:
                await conn.read_response()
            self._loaded = True

    async def _exchange(
        self, conn: AbstractConnection, calls: Sequence[Call], within: float
    ) -> list[object]:
        commands: list[list[str | int | bytes]] = [
            ["EVALSHA", self._shas[script], len(keys), *keys, *args] for script, keys, args in calls
        ]
        replies: list[object] = []
        async with asyncio.timeout(within):
            await conn.send_packed_command(conn.pack_commands(commands))
            for _ in calls:
                try:
                    replies.append(await conn.read_response())
                except self._response_error as exc:
                    replies.append(exc)
        return replies
