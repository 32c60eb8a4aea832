"""vex-llm under the SDKs you already use, and from code without asyncio.

``AsyncResilientTransport`` puts retries, circuit breakers, timeouts and stream guards,
fallback and hedging under any ``httpx2.AsyncClient`` (so under ``openai.AsyncOpenAI`` and
``anthropic.AsyncAnthropic``), and ``ResilientTransport`` under a sync ``httpx2.Client``;
``Upstream`` names a same-wire alternative to fall back to.
``blocking(provider)`` runs any provider or ``stack()`` from plain threads.
"""

from __future__ import annotations

from ._async import AsyncResilientTransport
from ._blocking import BlockingProvider, blocking
from ._call import Upstream
from ._sync import ResilientTransport

__all__ = [
    "AsyncResilientTransport",
    "BlockingProvider",
    "ResilientTransport",
    "Upstream",
    "blocking",
]
