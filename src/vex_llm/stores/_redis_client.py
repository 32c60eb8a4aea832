"""How the Redis-backed stores get their redis-py client: from a URL, or checked as given."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis


def _install_hint(owner: str) -> str:
    return f"{owner} needs the redis package: pip install 'vex-llm[redis]'"


def client_from_url(
    owner: str, url: object, *, socket_timeout: float, connect_timeout: float
) -> Redis:
    """A client for ``url`` with no retries of its own and the given socket timeouts.

    redis-py must not retry: a retry would spend the store's whole timeout on one attempt
    while the caller waits; the store decides when to try again. The socket timeouts are
    only a backstop, as long as the longest bound the store puts on a step.

    Raises:
        ImportError: If redis-py is not installed (with the extra to install).
        TypeError: If ``url`` is not a string.
    """
    if not isinstance(url, str):
        msg = (
            f"{owner} takes a URL string, got {type(url).__name__}; "
            f"wrap an existing client with {owner}.from_client(client)"
        )
        raise TypeError(msg)
    try:
        import redis.asyncio as redis_asyncio
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError as exc:
        raise ImportError(_install_hint(owner)) from exc
    return redis_asyncio.Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


def checked_client(owner: str, client: object) -> Redis:
    """``client`` if it is a ``redis.asyncio.Redis``.

    Raises:
        ImportError: If redis-py is not installed (with the extra to install).
        TypeError: If ``client`` is anything else.
    """
    try:
        import redis.asyncio as redis_asyncio
    except ImportError as exc:
        raise ImportError(_install_hint(owner)) from exc
    if not isinstance(client, redis_asyncio.Redis):
        msg = f"client must be a redis.asyncio.Redis, got {type(client).__name__}"
        raise TypeError(msg)
    return client
