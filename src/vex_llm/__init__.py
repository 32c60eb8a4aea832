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
from .breaker import (
    CircuitBreaker,
    CircuitConfig,
    CircuitState,
    CircuitStats,
    Outcome,
    Permit,
    StateChange,
    classify_error,
)
from .providers.mock import MockProvider
from .resilient import ResilientProvider
from .stores import CircuitStore, MemoryStore, RedisStore

__all__ = [
    "AuthenticationFailed",
    "CircuitBreaker",
    "CircuitConfig",
    "CircuitOpenError",
    "CircuitState",
    "CircuitStats",
    "CircuitStore",
    "ConnectionFailed",
    "ContextLengthExceeded",
    "InvalidRequest",
    "InvalidResponse",
    "LlmError",
    "LlmProvider",
    "LlmRequest",
    "LlmResponse",
    "MemoryStore",
    "Message",
    "MockProvider",
    "NotAvailable",
    "Outcome",
    "Permit",
    "RateLimited",
    "RedisStore",
    "ResilientProvider",
    "ServerError",
    "StateChange",
    "StreamChunk",
    "StreamInterrupted",
    "Timeout",
    "Usage",
    "classify_error",
]

__version__ = "0.1.0"
