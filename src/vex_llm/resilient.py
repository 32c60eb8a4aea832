"""Kept for imports written before 0.x: ``ResilientProvider`` lives in ``vex_llm.policies``."""

from __future__ import annotations

from .policies.resilient import ResilientProvider

__all__ = ["ResilientProvider"]
