"""RedisStore's health as Prometheus metrics: degraded while Redis is gone, errors counted."""

from __future__ import annotations

import asyncio

import pytest
from _circuits import outcome, unique_prefix
from prometheus_client import CollectorRegistry

import vex_llm.metrics
from _redis_server import RedisServer
from vex_llm import CircuitBreaker, CircuitConfig, RedisStore

pytestmark = pytest.mark.redis


async def test_an_outage_sets_the_degraded_gauge_and_counts_errors_until_redis_is_back(
    own_redis_server: RedisServer,
) -> None:
    """Redis stopped: degraded 1 and errors counted; restarted and rejoined: degraded 0."""
    registry = CollectorRegistry()
    prefix = unique_prefix()
    store = RedisStore(own_redis_server.url, prefix=prefix, timeout=0.05, reconnect_after=0.1)
    breaker = CircuitBreaker(CircuitConfig(), name="c", store=store)
    labels = {"store": prefix}
    with vex_llm.metrics.install(registry):
        assert await outcome(breaker) == "ok"
        assert registry.get_sample_value("vex_llm_store_degraded", labels) is None
        own_redis_server.stop()
        for _ in range(3):
            assert await outcome(breaker) == "ok"
        assert store.degraded
        assert registry.get_sample_value("vex_llm_store_degraded", labels) == 1.0
        errors = registry.get_sample_value("vex_llm_store_errors_total", labels)
        assert errors is not None
        assert errors >= 1.0
        own_redis_server.start()
        await asyncio.sleep(0.15)
        assert await outcome(breaker) == "ok"
        assert not store.degraded
        assert registry.get_sample_value("vex_llm_store_degraded", labels) == 0.0
    await store.aclose()
