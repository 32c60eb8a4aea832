"""vex-llm: keep LLM-backed applications serving through their providers' bad days.

Everything public is importable from here; submodules are private unless documented.
"""

from __future__ import annotations

import logging

from ._capabilities import Capabilities, check_capabilities
from ._collect import collect
from ._errors import (
    AllProvidersFailed,
    AuthenticationFailed,
    CircuitOpenError,
    ConnectionFailed,
    ContextLengthExceeded,
    DeadlineExceeded,
    InvalidRequest,
    InvalidResponse,
    LlmError,
    NotAvailable,
    PoolExhausted,
    RateLimited,
    ServerError,
    StreamInterrupted,
    Timeout,
)
from ._provider import LlmProvider, ProviderWrapper
from ._types import (
    DocumentPart,
    ImagePart,
    LlmRequest,
    LlmResponse,
    Message,
    Reasoning,
    ResponseFormat,
    StreamChunk,
    StreamReset,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    Usage,
)
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
from .policies import (
    DeadlineProvider,
    FallbackProvider,
    HedgeConfig,
    HedgeProvider,
    ResilienceStack,
    ResilientProvider,
    RetryBudget,
    RetryConfig,
    RetryProvider,
    TimeoutConfig,
    TimeoutProvider,
    Trace,
    TraceEvent,
    deadline,
    on_stream_break,
    stack,
    time_left,
    trace,
)
from .providers import AnthropicProvider, HttpLimits, MockProvider, OpenAIProvider
from .stores import CircuitStore, MemoryStore, RedisStore
from .transport import BlockingProvider, blocking

# A library never decides where its log records go: without this handler, Python's
# last-resort handler would print warnings such as circuit_opened to stderr in an
# application that configured no logging.
logging.getLogger("vex_llm").addHandler(logging.NullHandler())

__all__ = [
    "AllProvidersFailed",
    "AnthropicProvider",
    "AuthenticationFailed",
    "BlockingProvider",
    "Capabilities",
    "CircuitBreaker",
    "CircuitConfig",
    "CircuitOpenError",
    "CircuitState",
    "CircuitStats",
    "CircuitStore",
    "ConnectionFailed",
    "ContextLengthExceeded",
    "DeadlineExceeded",
    "DeadlineProvider",
    "DocumentPart",
    "FallbackProvider",
    "HedgeConfig",
    "HedgeProvider",
    "HttpLimits",
    "ImagePart",
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
    "OpenAIProvider",
    "Outcome",
    "Permit",
    "PoolExhausted",
    "ProviderWrapper",
    "RateLimited",
    "Reasoning",
    "RedisStore",
    "ResilienceStack",
    "ResilientProvider",
    "ResponseFormat",
    "RetryBudget",
    "RetryConfig",
    "RetryProvider",
    "ServerError",
    "StateChange",
    "StreamChunk",
    "StreamInterrupted",
    "StreamReset",
    "TextPart",
    "ThinkingPart",
    "Timeout",
    "TimeoutConfig",
    "TimeoutProvider",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "ToolChoice",
    "Trace",
    "TraceEvent",
    "Usage",
    "blocking",
    "check_capabilities",
    "classify_error",
    "collect",
    "deadline",
    "on_stream_break",
    "stack",
    "time_left",
    "trace",
]

__version__ = "0.1.0"
