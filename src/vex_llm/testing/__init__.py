"""Test tools for vex-llm and its users: a hand-driven clock and (with the ``lab`` extra)
a fault-injecting fake LLM server.

Nothing in the library imports this package but the chaos lab (``vex_llm.lab``), which
sits above it; it imports only the core, never ``providers`` or ``wire`` (it is the
independent oracle the tests check the providers against).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._clock import ManualClock

if TYPE_CHECKING:
    from .fake_server import Answer, FakeLLMServer, Fault, JournalEntry, Rule, ToolUse

# The fake server needs Starlette and uvicorn (the ``lab`` extra): import it on first use,
# so that ``from vex_llm.testing import ManualClock`` works without them.
_LAZY = {"Answer", "FakeLLMServer", "Fault", "JournalEntry", "Rule", "ToolUse"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from . import fake_server

        return getattr(fake_server, name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


__all__ = ["Answer", "FakeLLMServer", "Fault", "JournalEntry", "ManualClock", "Rule", "ToolUse"]
