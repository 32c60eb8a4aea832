"""Providers: the mock, and the HTTP providers for the OpenAI-compatible and Anthropic APIs.

``HttpProvider`` is the public base of an HTTP provider of your own: it owns the
connection pool, the time limits, the error mapping and the stream loop; a subclass gives
``build_body``, ``read_answer`` and ``stream_reader`` (an ``EventReader`` that reads one
stream's ``SseEvent``s).

Also the checks the providers apply to what users paste, for config and CLI code to reuse:
``validate_base_url`` and ``mask_url``; ``HttpLimits``, the size limits of the HTTP
providers' bodies, streams and connection pool; and ``KINDS``, the one table of provider
kinds (wire, base URL, key variable, default model, local or hosted) that config files and
the CLI read. ``Boundary`` and ``parse_retry_after`` turn HTTP answers and httpx2 errors into
the error tree, for the transport to classify exactly as the providers do.
"""

from __future__ import annotations

from .._urls import mask_url
from ._base import HttpProvider
from ._body import HttpLimits
from ._events import EventReader
from ._http import Boundary, parse_retry_after
from ._kinds import KINDS, ProviderKind
from ._sse import SseEvent
from ._urls import validate_base_url
from .anthropic import AnthropicProvider
from .mock import MockProvider
from .openai import PRESETS, OpenAIProvider, Preset

__all__ = [
    "KINDS",
    "PRESETS",
    "AnthropicProvider",
    "EventReader",
    "Boundary",
    "HttpLimits",
    "HttpProvider",
    "MockProvider",
    "OpenAIProvider",
    "Preset",
    "ProviderKind",
    "SseEvent",
    "mask_url",
    "parse_retry_after",
    "validate_base_url",
]
