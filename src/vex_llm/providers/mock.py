"""MockProvider: a provider that needs no network, for tests, demos and the CLI's defaults."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
import random
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Final, Self

from .._capabilities import Capabilities, check_capabilities
from .._clock import Sleep
from .._errors import LlmError, NotAvailable
from .._limits import check_seconds, checked_as
from .._provider import LlmProvider
from .._types import LlmRequest, LlmResponse, StreamChunk, ToolCallDelta, Usage
from ._mock_tools import schema_answer, smart_call, tool_result_answer, wants_a_call

Outcome = str | LlmResponse | LlmError | BaseException
"""One scripted outcome: a text to answer with, a whole answer (tool calls included),
or an exception to raise."""


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

    Tools: a scripted ``LlmResponse`` answers with its tool calls (``finish_reason``
    ``"tool_calls"`` unless it sets one; a stream sends them as ``ToolCallDelta`` pieces).
    Unscripted, a request that offers tools is answered with a call of the tool its
    ``tool_choice`` names (else the first), its arguments filled from the tool's schema
    (strings get the prompt); a conversation that ends with tool results gets a text
    answer quoting them. ``call_tools=False`` answers every prompt with text instead.
    Unscripted, a request with a JSON Schema ``response_format`` is answered with JSON
    made from the schema the same way.

    Args:
        responder: Turns a prompt into an answer.
        script: Outcomes played in order, one per call (a text answers, an
            ``LlmResponse`` is the answer, an exception is raised); when it runs out the
            responder answers, or with ``cycle=True`` it starts over.
        failure_rate: Probability in [0, 1] that a call raises ``failure``.
        failure: The error raised by random failures (default ``NotAvailable``).
        seed: Seed of the random source for ``failure_rate`` (deterministic runs).
        latency: Seconds every call takes (simulated through ``sleep``); default 0.
        name: The provider's name (default ``"mock"``).
        model: The model name reported in responses (default ``"mock-1"``).
        sleep: Awaitable sleep used for latency (default ``asyncio.sleep``).
        cycle: Replay the script forever instead of falling back to the responder.
        capabilities: What the mock accepts (default ``Capabilities.for_kind("mock")``:
            everything); a request needing more raises ``InvalidRequest`` before the call
            counts, as the HTTP providers refuse before sending.
        call_tools: Answer unscripted requests that offer tools with a tool call
            (default ``True``).

    Raises:
        ValueError: On a failure rate outside [0, 1] or a latency that is not a number of
            seconds in [0, 1e7] (the message names the field).
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
        capabilities: Capabilities | None = None,
        call_tools: bool = True,
    ) -> None:
        if not (0.0 <= failure_rate <= 1.0):
            msg = f"MockProvider failure_rate must be in [0, 1], got {failure_rate}"
            raise ValueError(msg)
        delay = functools.partial(check_seconds, zero=True)
        latency = checked_as("MockProvider latency", delay, latency)
        self._capabilities = capabilities or Capabilities.for_kind("mock")
        self._call_tools = call_tools
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

    @property
    def capabilities(self) -> Capabilities:
        """What this mock accepts (see ``capabilities=``)."""
        return self._capabilities

    async def complete(self, request: LlmRequest) -> LlmResponse:
        return await self._next_answer(request)

    async def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
        answer = await self._next_answer(request)
        pieces = _pieces(answer)
        last = len(pieces) - 1
        for index, (delta, calls) in enumerate(pieces):
            if index == last:
                yield StreamChunk(
                    delta,
                    finish_reason=answer.finish_reason,
                    usage=answer.usage,
                    model=answer.model,
                    provider=self._name,
                    tool_calls=calls,
                    provider_finish_reason=answer.provider_finish_reason,
                )
            elif index == 0:
                yield StreamChunk(delta, model=answer.model, provider=self._name, tool_calls=calls)
            else:
                yield StreamChunk(delta, tool_calls=calls)

    async def aclose(self) -> None:
        self.closed = True

    # -- internals ------------------------------------------------------------------

    async def _next_answer(self, request: LlmRequest) -> LlmResponse:
        check_capabilities(request, self._capabilities, provider=self._name)
        self.calls += 1
        self.requests.append(request)
        if self._latency:
            await self._sleep(self._latency)
        outcome = self._next_scripted()
        if outcome is None and self._failure_rate and self._rng.random() < self._failure_rate:
            outcome = self._failure or NotAvailable("mock provider failed at random")
        if outcome is None:
            outcome = self._unscripted(request)
        if isinstance(outcome, str):
            outcome = LlmResponse(outcome)
        if isinstance(outcome, LlmResponse):
            return self._filled(request, outcome)
        raise _fresh(outcome, self._name)

    def _unscripted(self, request: LlmRequest) -> Outcome:
        if self._call_tools and wants_a_call(request):
            return LlmResponse("", tool_calls=(smart_call(request),))
        if self._call_tools and request.messages[-1].role == "tool":
            return tool_result_answer(request)
        if request.response_format is not None and request.response_format.type == "json_schema":
            return schema_answer(request)
        return self._responder(request.prompt)

    def _filled(self, request: LlmRequest, answer: LlmResponse) -> LlmResponse:
        """An answer with what the mock always reports: provider, model, usage, latency."""
        prompt_tokens = sum(_count_tokens(m.content) for m in request.messages)
        arguments = " ".join(call.arguments for call in answer.tool_calls)
        usage = Usage.of(prompt_tokens, _count_tokens(f"{answer.content} {arguments}"))
        finish = "tool_calls" if answer.tool_calls else "stop"
        return dataclasses.replace(
            answer,
            model=request.model or answer.model or self._model,
            provider=self._name,
            usage=answer.usage or usage,
            finish_reason=answer.finish_reason or finish,
            latency_s=self._latency,
        )

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


def _pieces(answer: LlmResponse) -> list[tuple[str, tuple[ToolCallDelta, ...]]]:
    """The stream of an answer: its words, then each tool call in two pieces.

    The first piece of a call carries its id, its name and the first half of its
    arguments; the second the rest (consumers must join pieces, as on a real wire).
    """
    pieces: list[tuple[str, tuple[ToolCallDelta, ...]]] = []
    if answer.content or not answer.tool_calls:
        words = answer.content.split(" ")
        pieces += [(word + " ", ()) for word in words[:-1]]
        pieces.append((words[-1], ()))
    for index, call in enumerate(answer.tool_calls):
        half = len(call.arguments) // 2
        head = ToolCallDelta(index, call.id, call.name, call.arguments[:half])
        pieces.append(("", (head,)))
        pieces.append(("", (ToolCallDelta(index, arguments_delta=call.arguments[half:]),)))
    return pieces


def _fresh(error: BaseException, provider: str) -> BaseException:
    """A copy of a scripted error, so tracebacks and notes never pile up on one instance."""
    cls = type(error)
    clone = cls.__new__(cls)
    clone.args = error.args
    clone.__dict__.update((k, v) for k, v in error.__dict__.items() if k != "__notes__")
    if isinstance(clone, LlmError) and clone.provider is None:
        clone.provider = provider
    return clone
