"""Test tools for vex-llm and its users: a hand-driven clock and (with the ``lab`` extra)
a fault-injecting fake LLM server.

Nothing in the library imports this package.
"""

from __future__ import annotations

from ._clock import ManualClock

__all__ = ["ManualClock"]
