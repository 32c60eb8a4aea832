"""The error tree: attributes, defaults, and the docstring that draws it."""

from __future__ import annotations

import copy
import pickle

import pytest

import vex_llm
from vex_llm import (
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
    _errors,
)


@pytest.mark.parametrize(
    ("cls", "retryable"),
    [
        (ConnectionFailed, True),
        (NotAvailable, True),
        (RateLimited, True),
        (Timeout, True),
        (ServerError, True),
        (InvalidResponse, True),
        (StreamInterrupted, True),
        (InvalidRequest, False),
        (ContextLengthExceeded, False),
        (AuthenticationFailed, False),
        (CircuitOpenError, False),
    ],
)
def test_retryable_defaults(cls: type[LlmError], retryable: bool) -> None:
    """Transient failures are retryable by default; caller errors and rejections are not."""
    assert cls("x").retryable is retryable
    assert cls("x", retryable=not retryable).retryable is (not retryable)


def test_keyword_attributes() -> None:
    """Extras are keyword-only attributes; the message is the one positional argument."""
    error = RateLimited(
        "slow down", retry_after=20.0, provider="openai", code="rate_limit_exceeded"
    )
    assert (error.message, error.retry_after, error.provider, error.code, error.status) == (
        "slow down",
        20.0,
        "openai",
        "rate_limit_exceeded",
        429,
    )
    with pytest.raises(TypeError):
        RateLimited("slow down", 20.0)  # type: ignore[misc]  # the point of the test


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0])
def test_bad_retry_after_hints_are_dropped(bad: float) -> None:
    """Non-finite or negative Retry-After values become None."""
    assert RateLimited("x", retry_after=bad).retry_after is None


def test_circuit_open_error_is_not_available() -> None:
    """CircuitOpenError is a NotAvailable (the seed's error) with breaker details."""
    error = CircuitOpenError("open", retry_after=3.0, breaker="b", reason="half_open_full")
    assert isinstance(error, NotAvailable)
    assert (error.breaker, error.reason, error.state, error.retry_after) == (
        "b",
        "half_open_full",
        "open",
        3.0,
    )
    assert "next probe in 3.0s" in str(error)


def test_context_length_is_an_invalid_request() -> None:
    """A context-length error is an InvalidRequest a fallback can tell apart."""
    assert issubclass(ContextLengthExceeded, InvalidRequest)


def test_errors_survive_copy_and_pickle() -> None:
    """Errors can be copied and pickled (for process pools and test doubles)."""
    error = ServerError("boom", status=503, provider="p")
    for clone in (copy.copy(error), pickle.loads(pickle.dumps(error))):
        assert type(clone) is ServerError
        assert (clone.message, clone.status, clone.provider) == ("boom", 503, "p")


def test_docstring_draws_every_error() -> None:
    """The _errors module docstring names every error class in the tree."""
    doc = _errors.__doc__ or ""
    for name in vex_llm.__all__:
        value = getattr(vex_llm, name)
        if isinstance(value, type) and issubclass(value, LlmError):
            assert name in doc, name


def test_circuit_open_error_survives_copy_and_pickle() -> None:
    """A breaker's rejection keeps its details through copy and pickle."""
    error = CircuitOpenError("open", retry_after=2.0, breaker="b", reason="isolated", provider="p")
    for clone in (copy.copy(error), pickle.loads(pickle.dumps(error))):
        assert (clone.breaker, clone.reason, clone.retry_after, clone.provider) == (
            "b",
            "isolated",
            2.0,
            "p",
        )


def test_not_available_keeps_a_retry_after_hint() -> None:
    """A 503 with Retry-After keeps the hint (the breaker stays open at least that long)."""
    assert NotAvailable("busy", retry_after=7.5).retry_after == 7.5
    assert NotAvailable("busy").retry_after is None
    assert NotAvailable("busy", retry_after=float("nan")).retry_after is None
