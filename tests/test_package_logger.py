"""The library's logger: silent unless the application configures logging."""

from __future__ import annotations

import logging
import subprocess
import sys

import vex_llm  # noqa: F401  (importing the package installs the handler)

_OPEN_A_CIRCUIT = """
import asyncio
from vex_llm import CircuitBreaker, CircuitConfig, ConnectionFailed

async def fail() -> None:
    raise ConnectionFailed("down")

async def main() -> None:
    breaker = CircuitBreaker(CircuitConfig(failure_threshold=1), name="primary")
    try:
        await breaker.call(fail)
    except ConnectionFailed:
        pass
    assert breaker.state.name == "OPEN"

asyncio.run(main())
"""


def test_vex_llm_logger_has_a_null_handler() -> None:
    """The "vex_llm" logger carries a NullHandler, as a library's logger should."""
    handlers = logging.getLogger("vex_llm").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)


def test_opening_a_circuit_prints_nothing_without_logging_config() -> None:
    """An application that configured no logging sees nothing on stderr when a circuit opens."""
    done = subprocess.run(
        [sys.executable, "-c", _OPEN_A_CIRCUIT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout == ""


def test_configured_logging_still_receives_circuit_opened() -> None:
    """With logging configured, the circuit_opened warning still reaches the handler."""
    code = "import logging; logging.basicConfig(level=logging.INFO)\n" + _OPEN_A_CIRCUIT
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "circuit_opened" in done.stderr
