"""MockProvider: a provider that needs no network, for tests, demos and the CLI's defaults."""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Final, Self

from .._clock import Sleep
from .._errors import LlmError, NotAvailable
from .._provider import LlmProvider
from .._types import LlmRequest, LlmResponse, StreamChunk, Usage

Outcome = str | LlmError | BaseException
"""One scripted outcome: a text to answer with, or an exception to raise."""


_MODEL: Final = "mock-1"

_CANNED: Final[tuple[tuple[tuple[str, ...], str], ...]] = (
    (("hello", "hi ", "hey"), "Hello! I am vex-llm's mock model. Ask me anything."),
    (
        ("circuit", "breaker"),
        "A circuit breaker stops calling a failing provider for a while, "
        "then lets a few probe calls through to see whether it has recovered.",
    ),
    (
        ("retry", "retries"),
        "Retry transient failures with capped, jittered backoff, inside one "
        "overall deadline and a retry budget, so an outage never multiplies load.",
    ),
    (
        ("fallback",),
        "A fallback chain tries the next provider when one fails or its circuit "
        "is open, and says which provider answered.",
    ),
    (("capital of france",), "Paris."),
)


def _smart_answer(prompt: str) -> str:
    """Answer deterministically: canned replies for known topics, arithmetic, else an echo."""
    text = prompt.strip()
    lowered = text.lower()
    for keys, answer in _CANNED:
        if any(key in lowered for key in keys):
            return answer
    sum_answer = _try_arithmetic(lowered)
    if sum_answer is not None:
        return sum_answer
    if not text:
        return "You sent an empty prompt; ask me something."
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"(mock answer {digest}) You asked: {text}"


def _try_arithmetic(text: str) -> str | None:
    """Answer 'what is 2 + 3' style questions exactly; None if the prompt is not one."""
    cleaned = text.replace("what is", "").replace("?", "").strip()
    for symbol in ("+", "-", "*", "x", "/"):
        left, sep, right = cleaned.partition(f" {symbol} ")
        if not sep:
            continue
        try:
            a, b = float(left), float(right)
        except ValueError:
            return None
        match symbol:
            case "+":
                value = a + b
            case "-":
                value = a - b
            case "*" | "x":
                value = a * b
            case _:
                if b == 0:
                    return "Division by zero is undefined."
                value = a / b
        return str(int(value)) if value.is_integer() else f"{value:g}"
    return None


def _count_tokens(text: str) -> int:
    """A cheap, deterministic stand-in for a tokenizer (about one token per word)."""
    return max(1, len(text.split()))


class MockProvider(LlmProvider):
    """A deterministic in-process provider with optional scripted failures.

    Build it through a constructor classmethod: ``smart()`` answers every prompt,
    ``failing(error)`` always raises, ``scripted([...])`` plays a sequence of outcomes,
    ``flaky(rate, seed=...)`` fails at a seeded random rate. Latency is simulated with an
    injectable ``sleep`` so tests never wait for real.

    Args:
        responder: Turns a prompt into an answer.
        script: Outcomes played in order, one per call (a text answers, an exception is
            raised); when it runs out the responder answers, or with ``cycle=True`` it
            starts over.
        failure_rate: Probability in [0, 1] that a call raises ``failure``.
        failure: The error raised by random failures (default ``NotAvailable``).
        seed: Seed of the random source for ``failure_rate`` (deterministic runs).
        latency: Seconds every call takes (simulated through ``sleep``); default 0.
        name: The provider's name (default ``"mock"``).
        model: The model name reported in responses (default ``"mock-1"``).
        sleep: Awaitable sleep used for latency (default ``asyncio.sleep``).
        cycle: Replay the script forever instead of falling back to the responder.

    Raises:
        ValueError: On a failure rate outside [0, 1] or a negative latency.
    """

    def __init__(
        self,
        *,
        responder: Callable[[str], str] = _smart_answer,
        script: Iterable[Outcome] = (),
        failure_rate: float = 0.0,
        failure: LlmError | None = None,
        seed: int | None = 0,
        latency: float = 0.0,
        name: str = "mock",
        model: str = _MODEL,
        sleep: Sleep = asyncio.sleep,
        cycle: bool = False,
    ) -> None:
        if not (0.0 <= failure_rate <= 1.0):
            msg = f"MockProvider failure_rate must be in [0, 1], got {failure_rate}"
            raise ValueError(msg)
        if not (math.isfinite(latency) and latency >= 0):
            msg = f"MockProvider latency must be a finite number of seconds >= 0, got {latency}"
            raise ValueError(msg)
        self._responder = responder
        self._script: Sequence[Outcome] = tuple(script)
        self._cycle = cycle
        self._position = 0
        self._failure_rate = failure_rate
        self._failure = failure
        self._rng = random.Random(seed)
        self._latency = latency
        self._name = name
        self._model = model
        self._sleep = sleep
        self.calls = 0
        """How many calls reached this provider (complete and stream)."""
        self.requests: list[LlmRequest] = []
        """Every request received, in order."""
        self.closed = False

    # -- constructors ---------------------------------------------------------------

    @classmethod
    def smart(
        cls, *, name: str = "mock", latency: float = 0.0, sleep: Sleep = asyncio.sleep
    ) -> Self:
        """A provider that answers every prompt, deterministically, without failing.

        Args:
            name: The provider's name.
            latency: Simulated seconds per call.
            sleep: Awaitable sleep used for the latency.

        Returns:
            The provider.
        """
        return cls(name=name, latency=latency, sleep=sleep)

    @classmethod
    def failing(cls, error: BaseException, *, name: str = "mock") -> Self:
        """A provider whose every call raises ``error`` (a fresh copy each time).

        Args:
            error: The exception to raise; ``LlmError`` instances get ``provider`` set.
            name: The provider's name.

        Returns:
            The provider.
        """
        return cls(script=(error,), cycle=True, name=name)

    @classmethod
    def scripted(
        cls, outcomes: Iterable[Outcome], *, name: str = "mock", cycle: bool = False
    ) -> Self:
        """A provider that plays ``outcomes`` in order: texts answer, exceptions raise.

        Args:
            outcomes: e.g. ``[ServerError("boom", status=503)] * 3 + ["ok"]``.
            name: The provider's name.
            cycle: Start over when the script runs out (else answer like ``smart()``).

        Returns:
            The provider.
        """
        return cls(script=outcomes, name=name, cycle=cycle)

    @classmethod
    def flaky(
        cls,
        failure_rate: float,
        *,
        seed: int | None = 0,
        failure: LlmError | None = None,
        name: str = "mock",
    ) -> Self:
        """A provider that fails at a seeded random rate.

        Args:
            failure_rate: Probability in [0, 1] that a call fails.
            seed: Seed for reproducible runs (``None`` for fresh randomness).
            failure: The error to raise (default ``NotAvailable``).
            name: The provider's name.

        Returns:
            The provider.
        """
        return cls(failure_rate=failure_rate, seed=seed, failure=failure, name=name)

    # -- LlmProvider ----------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    async def complete(self, request: LlmRequest) -> LlmResponse:
        content = await self._next_answer(request)
        prompt_tokens = sum(_count_tokens(m.content) for m in request.messages)
        return LlmResponse(
            content,
            model=request.model or self._model,
            provider=self._name,
            usage=Usage.of(prompt_tokens, _count_tokens(content)),
            finish_reason="stop",
            latency_s=self._latency,
        )

    async def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
        content = await self._next_answer(request)
        model = request.model or self._model
        words = content.split(" ")
        last = len(words) - 1
        prompt_tokens = sum(_count_tokens(m.content) for m in request.messages)
        for index, word in enumerate(words):
            delta = word if index == last else word + " "
            if index == last:
                yield StreamChunk(
                    delta,
                    finish_reason="stop",
                    usage=Usage.of(prompt_tokens, _count_tokens(content)),
                    model=model,
                    provider=self._name,
                )
            elif index == 0:
                yield StreamChunk(delta, model=model, provider=self._name)
            else:
                yield StreamChunk(delta)

    async def aclose(self) -> None:
        self.closed = True

    # -- internals ------------------------------------------------------------------

    async def _next_answer(self, request: LlmRequest) -> str:
        self.calls += 1
        self.requests.append(request)
        if self._latency:
            await self._sleep(self._latency)
        outcome = self._next_scripted()
        if outcome is None and self._failure_rate and self._rng.random() < self._failure_rate:
            outcome = self._failure or NotAvailable("mock provider failed at random")
        if outcome is None:
            return self._responder(request.prompt)
        if isinstance(outcome, str):
            return outcome
        raise _fresh(outcome, self._name)

    def _next_scripted(self) -> Outcome | None:
        if not self._script:
            return None
        if self._position >= len(self._script):
            if not self._cycle:
                return None
            self._position = 0
        outcome = self._script[self._position]
        self._position += 1
        return outcome


def _fresh(error: BaseException, provider: str) -> BaseException:
    """A copy of a scripted error, so tracebacks and notes never pile up on one instance."""
    cls = type(error)
    clone = cls.__new__(cls)
    clone.args = error.args
    clone.__dict__.update((k, v) for k, v in error.__dict__.items() if k != "__notes__")
    if isinstance(clone, LlmError) and clone.provider is None:
        clone.provider = provider
    return clone
