"""The one seam through which a provider shows its response headers to the policies above.

A rate limiter wants the provider's rate-limit headers (``x-ratelimit-*``,
``anthropic-ratelimit-*``) of the very call it admitted, success or 429 alike, without the
layers in between (retry, breaker, timeouts) knowing. The limiter sets an observer in a
context variable around its call (``observe_headers``); an HTTP provider hands every
response's headers to it (``report_headers``) as soon as they arrive, before it reads the
body or raises. Outside an observed call ``report_headers`` costs one context-variable read.
An observer must be cheap and must not raise (what it raises is dropped).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar, Token
from typing import Final

HeadersObserver = Callable[[Mapping[str, str]], None]
"""Gets a response's headers (case-insensitive for ``httpx2.Headers``; lower-case otherwise)."""

_OBSERVER: Final[ContextVar[HeadersObserver | None]] = ContextVar(
    "vex_llm_headers_observer", default=None
)


@contextmanager
def observe_headers(observer: HeadersObserver) -> Iterator[None]:
    """Send the response headers of the provider calls inside the block to ``observer``.

    Args:
        observer: Called with each response's headers (an inner observer set by a nested
            block takes over inside it).
    """
    token = _OBSERVER.set(observer)
    try:
        yield
    finally:
        _OBSERVER.reset(token)


def start_observing(observer: HeadersObserver) -> Token[HeadersObserver | None]:
    """``observe_headers`` without the context manager (for hot paths): pass the token to
    ``stop_observing`` in a ``finally``."""
    return _OBSERVER.set(observer)


def stop_observing(token: Token[HeadersObserver | None]) -> None:
    """End what ``start_observing`` began."""
    _OBSERVER.reset(token)


def report_headers(headers: Mapping[str, str]) -> None:
    """Hand a response's headers to the observer of the current call, if there is one."""
    observer = _OBSERVER.get()
    if observer is None:
        return
    with suppress(Exception):  # an observer's bug must never break a call
        observer(headers)
