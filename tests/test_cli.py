"""The vex-llm command through its real entry point."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vex_llm.cli import main


def _vex(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("vex-llm", path=str(Path(sys.executable).parent)) or "vex-llm"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60, env=env)


def test_ask_answers_with_the_mock_and_shows_the_circuit() -> None:
    """`vex-llm ask` answers without a key and prints the circuit state."""
    result = _vex("ask", "what is 6 * 7?")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "42"
    assert "circuit: closed" in result.stdout


def test_bad_usage_exits_2_without_traceback() -> None:
    """A missing command is a usage error, not a traceback."""
    result = _vex()
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_main_returns_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    """main() returns the exit code instead of exiting."""
    assert main(["ask", "hello"]) == 0
    assert "mock" in capsys.readouterr().out
