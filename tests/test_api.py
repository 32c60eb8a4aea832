"""The public API: one import point, a complete and sorted __all__, the import contracts."""

from __future__ import annotations

import importlib
import subprocess
import sys

import vex_llm


def test_all_is_sorted_and_unique() -> None:
    """Every public name appears once in __all__, sorted."""
    assert list(vex_llm.__all__) == sorted(set(vex_llm.__all__))


def test_all_names_exist() -> None:
    """Every name in __all__ is importable from the top-level package."""
    for name in vex_llm.__all__:
        assert hasattr(vex_llm, name), name


def test_all_is_complete() -> None:
    """Every public class or function the package module defines is listed in __all__."""
    public = {
        name
        for name, value in vars(vex_llm).items()
        if not name.startswith("_")
        and callable(value)
        and getattr(value, "__module__", "").startswith("vex_llm")
    }
    assert public <= set(vex_llm.__all__)


def test_design_contract_names() -> None:
    """The names DESIGN.md promises are importable from vex_llm."""
    for name in (
        "Message",
        "LlmRequest",
        "LlmResponse",
        "Usage",
        "StreamChunk",
        "LlmProvider",
        "LlmError",
        "ConnectionFailed",
        "NotAvailable",
        "RateLimited",
        "Timeout",
        "ServerError",
        "InvalidRequest",
        "AuthenticationFailed",
        "InvalidResponse",
        "StreamInterrupted",
        "CircuitOpenError",
        "CircuitState",
        "CircuitConfig",
        "CircuitBreaker",
        "ResilientProvider",
        "MockProvider",
    ):
        assert name in vex_llm.__all__, name


def test_library_does_not_import_testing_or_cli() -> None:
    """Importing vex_llm loads neither vex_llm.testing nor vex_llm.cli nor an HTTP server."""
    code = (
        "import sys, vex_llm; "
        "bad = [m for m in sys.modules if m.startswith(('vex_llm.testing', 'vex_llm.cli', "
        "'starlette', 'uvicorn', 'redis'))]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_subpackages_import_in_any_order() -> None:
    """Each subpackage imports cleanly on its own (no import cycles)."""
    for module in (
        "vex_llm.circuit",
        "vex_llm.stores",
        "vex_llm.breaker",
        "vex_llm.resilient",
        "vex_llm.testing",
    ):
        code = f"import {module}"
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert result.returncode == 0, f"{module}: {result.stderr}"
    assert importlib.import_module("vex_llm.circuit.machine")
