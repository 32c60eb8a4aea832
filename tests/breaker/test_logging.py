"""The breaker's log lines name their circuit and reason, in the text and as extra fields."""

from __future__ import annotations

import logging

import pytest

from vex_llm import CircuitBreaker, CircuitConfig, ServerError
from vex_llm.testing import ManualClock


async def _fail() -> None:
    raise ServerError("boom", status=503)


def _records(caplog: pytest.LogCaptureFixture, event: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().split(" ")[0] == event]


async def test_transitions_are_logged_with_circuit_and_reason(
    caplog: pytest.LogCaptureFixture, clock: ManualClock
) -> None:
    """Open, half-open and closed each log one line naming the circuit and the reason."""
    config = CircuitConfig(failure_threshold=1, success_threshold=1, reset_timeout=5.0)
    breaker = CircuitBreaker(config, name="primary", clock=clock)
    caplog.set_level(logging.INFO, logger="vex_llm")
    with pytest.raises(ServerError):
        await breaker.call(_fail)
    clock.advance(5.0)

    async def ok() -> str:
        return "ok"

    assert await breaker.call(ok) == "ok"
    expected = {
        "circuit_opened": "circuit_opened circuit=primary reason=failure_threshold from=closed",
        "circuit_half_open": "circuit_half_open circuit=primary reason=reset_timeout from=open",
        "circuit_closed": "circuit_closed circuit=primary reason=probes_succeeded from=half_open",
    }
    for event, line in expected.items():
        (record,) = _records(caplog, event)
        assert record.getMessage() == line
        assert record.__dict__["circuit"] == "primary"
        assert record.__dict__["reason"] == line.split("reason=")[1].split(" ")[0]


def test_a_manual_reset_is_logged_with_its_circuit(caplog: pytest.LogCaptureFixture) -> None:
    """A reset by hand names the circuit (and says it was manual)."""
    breaker = CircuitBreaker(name="backup")
    caplog.set_level(logging.INFO, logger="vex_llm")
    breaker.reset()
    (record,) = _records(caplog, "circuit_reset")
    assert record.getMessage() == "circuit_reset circuit=backup reason=manual"
    assert record.__dict__["circuit"] == "backup"
