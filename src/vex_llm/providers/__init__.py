"""Providers: the mock, and (in their own modules) the HTTP providers."""

from __future__ import annotations

from .mock import MockProvider

__all__ = ["MockProvider"]
