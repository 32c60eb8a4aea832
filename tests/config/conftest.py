"""Config fixtures: a real redis-server started here (never assumed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from _redis_server import RedisServer


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for this module, on a free loopback port, killed at the end."""
    server = RedisServer()
    server.start()
    yield server
    server.close()
