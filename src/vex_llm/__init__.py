"""vex-llm: keep LLM-backed applications serving through their providers' bad days.

Everything public is importable from here; submodules are private unless documented.
"""

from __future__ import annotations

from ._errors import (
    AuthenticationFailed,
    CircuitOpenError,
    ConnectionFailed,
    ContextLengthExceeded,
    InvalidRequest,
    InvalidResponse,
    LlmError,
    NotAvailable,
    RateLimited,
    ServerError,
    StreamInterrupted,
    Timeout,
)
from ._provider import LlmProvider
from ._types import LlmRequest, LlmResponse, Message, StreamChunk, Usage

__all__ = [
    "AuthenticationFailed",
    "CircuitOpenError",
    "ConnectionFailed",
    "ContextLengthExceeded",
    "InvalidRequest",
    "InvalidResponse",
    "LlmError",
    "LlmProvider",
    "LlmRequest",
    "LlmResponse",
    "Message",
    "NotAvailable",
    "RateLimited",
    "ServerError",
    "StreamChunk",
    "StreamInterrupted",
    "Timeout",
    "Usage",
]

__version__ = "0.1.0"
