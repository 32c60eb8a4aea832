"""Resilience policies, each a provider around providers: the circuit breaker
(``ResilientProvider``), retries, timeouts, one overall deadline, fallback chains,
hedging, and ``stack()`` that assembles them.

Recommended order, outermost first: cache -> deadline -> fallback -> per provider: retry ->
rate limit (``RateLimitedProvider``) -> circuit breaker (``ResilientProvider``) -> attempt
timeout -> provider.
"""

from __future__ import annotations

from .._errors import AllProvidersFailed
from ._backoff import backoff
from ._deadline import DeadlineProvider
from ._estimate import Estimator, estimate_tokens, tiktoken_estimator
from ._ratelimit_config import RateBudget, RateLimitConfig
from ._scope import Deadline, StreamBreak, current_deadline, deadline, on_stream_break, time_left
from ._stack import ResilienceStack, stack
from ._tenant import current_tenant, tenant
from ._trace import EventKind, Trace, TraceEvent, trace
from .cache import CacheConfig, CachedProvider, CacheMode, CacheStats, cache_control
from .fallback import FallbackProvider
from .hedge import HedgeConfig, HedgeProvider
from .ratelimit import RateLimitedProvider
from .resilient import ResilientProvider
from .retry import RetryBudget, RetryConfig, RetryProvider
from .timeout import TimeoutConfig, TimeoutProvider

__all__ = [
    "AllProvidersFailed",
    "CacheConfig",
    "CacheMode",
    "CacheStats",
    "CachedProvider",
    "Deadline",
    "DeadlineProvider",
    "Estimator",
    "EventKind",
    "FallbackProvider",
    "HedgeConfig",
    "HedgeProvider",
    "RateBudget",
    "RateLimitConfig",
    "RateLimitedProvider",
    "ResilienceStack",
    "ResilientProvider",
    "RetryBudget",
    "RetryConfig",
    "RetryProvider",
    "StreamBreak",
    "TimeoutConfig",
    "TimeoutProvider",
    "Trace",
    "TraceEvent",
    "backoff",
    "cache_control",
    "current_deadline",
    "current_tenant",
    "deadline",
    "estimate_tokens",
    "on_stream_break",
    "stack",
    "tenant",
    "tiktoken_estimator",
    "time_left",
    "trace",
]
