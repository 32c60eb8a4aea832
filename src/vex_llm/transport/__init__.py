"""vex-llm under the SDKs you already use, and from code without asyncio.

``blocking(provider)`` runs any provider or ``stack()`` from plain threads.
"""

from __future__ import annotations

from ._blocking import BlockingProvider, blocking

__all__ = ["BlockingProvider", "blocking"]
