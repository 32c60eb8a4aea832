"""RetryProvider: capped, jittered retries inside the call's deadline and a retry budget."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from .._clock import Clock, Sleep, sleep_for
from .._errors import CircuitOpenError, LlmError, RateLimited, Timeout
from .._limits import check_seconds, checked_as
from .._provider import LlmProvider, ProviderWrapper
from .._stream import ChunkStream, first_chunk
from .._types import LlmRequest, LlmResponse, StreamChunk
from ._backoff import Random, backoff
from ._scope import Deadline, current_deadline, deadline_scope, time_left
from ._trace import base_name, emit


def _seconds(owner: str, name: str, value: float, *, allow_zero: bool = True) -> None:
    check = _delay if allow_zero else check_seconds
    checked_as(f"{owner}.{name}", check, value)


def _delay(value: object) -> float:
    return check_seconds(value, zero=True)


def _fraction(owner: str, name: str, value: float) -> None:
    if not (0.0 <= value <= 1.0):
        msg = f"{owner}.{name} must be in [0, 1], got {value!r}"
        raise ValueError(msg)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryConfig:
    """How a provider's transient failures are retried.

    Args:
        attempts: Tries per call, the first included (default 3: two retries catch a
            blip without tripling an outage's load). 1 turns retries off.
        base_delay: The first backoff ceiling, seconds (default 0.5).
        max_delay: The largest backoff ceiling, seconds (default 8.0).
        jitter: Fraction of each delay that is randomised, in [0, 1] (default 1.0, full
            jitter: retrying clients spread out instead of returning together).
        deadline: Seconds for all attempts of one call (default ``None``: only the
            call's own deadline, if any, bounds them; ``attempts`` always does).
        max_retry_after: The longest ``Retry-After`` waited out, seconds (default 30.0);
            a longer one, or one that does not fit in the time left, ends the retries
            at once so a fallback can answer instead.
        budget: Retries allowed as a fraction of calls, in [0, 1] (default 0.2: an outage
            adds at most 20 % load on top of the calls themselves).
        budget_floor: Retries per second allowed whatever the budget (default 1.0, so a
            quiet service can still retry a blip).
        retry_timeouts: Retry a ``Timeout`` too (default ``False``: a provider that stayed
            silent for a whole attempt timeout is rarely quicker the second time, and the
            time left is better spent on the next provider of a fallback chain; set it
            for a single provider).

    Raises:
        ValueError: On ``attempts < 1``, negative or non-finite delays, or a budget outside
            [0, 1].
    """

    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 1.0
    deadline: float | None = None
    max_retry_after: float = 30.0
    budget: float = 0.2
    budget_floor: float = 1.0
    retry_timeouts: bool = False

    def __post_init__(self) -> None:
        attempts: object = self.attempts
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            msg = f"RetryConfig.attempts must be an integer >= 1, got {attempts!r}"
            raise ValueError(msg)
        _seconds("RetryConfig", "base_delay", self.base_delay)
        _seconds("RetryConfig", "max_delay", self.max_delay)
        _seconds("RetryConfig", "max_retry_after", self.max_retry_after)
        _seconds("RetryConfig", "budget_floor", self.budget_floor)
        if self.deadline is not None:
            _seconds("RetryConfig", "deadline", self.deadline, allow_zero=False)
        _fraction("RetryConfig", "jitter", self.jitter)
        _fraction("RetryConfig", "budget", self.budget)


class RetryBudget:
    """A token bucket that keeps retries a small fraction of calls.

    Every call earns ``ratio`` of a retry, and ``floor`` retries are earned per second
    whatever the traffic; a retry spends one. At most ``max(1, 10 * floor)`` retries are
    banked (a long healthy spell cannot fund a storm later), and the bucket starts full.
    So over any stretch of ``T`` seconds with ``N`` calls, retries stay below
    ``ratio * N + floor * T + max(1, 10 * floor)``. Share one budget between several
    ``RetryProvider``s to bound them together.

    Args:
        ratio: Retries per call, in [0, 1] (0.2: at most 20 % extra load).
        floor: Retries per second allowed whatever ``ratio`` says (>= 0).
        clock: Monotonic seconds.

    Raises:
        ValueError: On a ratio outside [0, 1] or a negative floor.
    """

    __slots__ = ("_balance", "_capacity", "_clock", "_floor", "_ratio", "_stamp")

    def __init__(self, ratio: float = 0.2, *, floor: float = 1.0, clock: Clock = time.monotonic):
        _fraction("RetryBudget", "ratio", ratio)
        _seconds("RetryBudget", "floor", floor)
        self._ratio = ratio
        self._floor = floor
        self._clock = clock
        self._capacity = max(1.0, 10.0 * floor)
        self._balance = self._capacity
        self._stamp = clock()

    @property
    def balance(self) -> float:
        """Retries available now (fractional: a retry needs 1)."""
        self._refill()
        return self._balance

    def record_call(self) -> None:
        """Earn the share of a retry that one call brings."""
        self._refill()
        self._balance = min(self._capacity, self._balance + self._ratio)

    def try_spend(self) -> bool:
        """Spend one retry if the budget has one.

        Returns:
            ``True`` if the retry may go ahead.
        """
        self._refill()
        if self._balance < 1.0:
            return False
        self._balance -= 1.0
        return True

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        if elapsed and self._floor:
            self._balance = min(self._capacity, self._balance + elapsed * self._floor)


class RetryProvider(ProviderWrapper):
    """Retries a provider's transient failures with capped, jittered exponential backoff.

    Only errors whose ``.retryable`` is true are retried; a ``CircuitOpenError`` never is
    (and once the inner circuit opens, retrying stops without knocking on it). A
    ``RateLimited`` error's ``Retry-After`` is waited out only when it is at most
    ``max_retry_after`` and fits in the time left; otherwise the retries end at once so
    a fallback can act. Streams are retried only before their first chunk. Each retry
    spends from a ``RetryBudget``. When the retries end, the last error itself is raised,
    with a note saying why.

    Args:
        provider: The provider to retry (usually a ``ResilientProvider``).
        config: The retry settings.
        budget: A budget to share with other retry layers (default: one of this
            provider's own, built from ``config.budget`` and ``config.budget_floor``).
        clock: Monotonic seconds (deadlines and the budget).
        sleep: How the backoff waits (default: the clock's own ``sleep``, else ``asyncio.sleep``).
        rng: The jitter's random source (default: a fresh ``random.Random``).
    """

    def __init__(
        self,
        provider: LlmProvider,
        config: RetryConfig | None = None,
        *,
        budget: RetryBudget | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep | None = None,
        rng: Random | None = None,
    ) -> None:
        super().__init__(provider)
        self._config = config or RetryConfig()
        self._budget = budget or RetryBudget(
            self._config.budget, floor=self._config.budget_floor, clock=clock
        )
        self._clock = clock
        self._sleep = sleep if sleep is not None else sleep_for(clock)
        self._rng: Random = rng or random.Random()
        self._base = base_name(provider)

    @property
    def config(self) -> RetryConfig:
        """The retry settings."""
        return self._config

    @property
    def budget(self) -> RetryBudget:
        """The retry budget this layer spends from."""
        return self._budget

    async def complete(self, request: LlmRequest) -> LlmResponse:
        self._budget.record_call()
        with deadline_scope(self._own_deadline()):
            started = self._clock()
            attempt = 1
            while True:
                emit("attempt", self._base, attempt=attempt)
                try:
                    response = await self._inner.complete(request)
                except LlmError as exc:
                    emit("failure", self._base, attempt=attempt, error=exc)
                    await self._pause_or_raise(exc, attempt, started)
                    attempt += 1
                    continue
                emit("success", self._base, attempt=attempt)
                return response

    def stream(self, request: LlmRequest) -> AsyncIterator[StreamChunk]:
        return _RetriedStream(self, request)

    def _own_deadline(self) -> Deadline | None:
        """This layer's own deadline for a call, if it is tighter than the call's."""
        if self._config.deadline is None:
            return None
        allowed = min(self._config.deadline, time_left())
        outer = current_deadline()
        if outer is not None and allowed >= outer.time_left():
            return None
        return Deadline(self._clock() + allowed, self._clock)

    async def _pause_or_raise(self, exc: LlmError, attempt: int, started: float) -> None:
        """Wait before the next attempt, or raise ``exc`` with a note saying why not."""
        reason = await self._why_not_retry(exc, attempt)
        wait = 0.0
        if reason is None:
            wait, reason = self._delay(exc, attempt)
        if reason is None and not self._budget.try_spend():
            reason = "the retry budget is spent (retries are capped to a share of calls)"
            emit("give_up", self._base, attempt=attempt, error=exc, detail="budget")
        if reason is not None:
            spent = self._clock() - started
            exc.add_note(
                f"vex_llm: gave up on {self._base} after {attempt} attempt(s) "
                f"in {spent:.1f}s: {reason}"
            )
            raise exc
        detail = "retry_after" if isinstance(exc, RateLimited) and exc.retry_after else "backoff"
        emit("wait", self._base, attempt=attempt, error=exc, wait=wait, detail=detail)
        await self._sleep(wait)

    async def _why_not_retry(self, exc: LlmError, attempt: int) -> str | None:
        """Why ``exc`` ends the retries (``None``: it may be retried)."""
        if isinstance(exc, CircuitOpenError):
            emit("give_up", self._base, attempt=attempt, error=exc, detail="circuit_open")
            return "the circuit is open"
        if not exc.retryable:
            emit("give_up", self._base, attempt=attempt, error=exc, detail="not_retryable")
            return "the error is not retryable"
        if isinstance(exc, Timeout) and not self._config.retry_timeouts:
            emit("give_up", self._base, attempt=attempt, error=exc, detail="timeout")
            return "timeouts are not retried (retry_timeouts=False); a fallback can answer"
        if attempt >= self._config.attempts:
            emit("give_up", self._base, attempt=attempt, error=exc, detail="attempts")
            return f"all {self._config.attempts} attempts failed"
        if not await self._inner.is_available():
            # The inner circuit opened on this failure: another try would only be rejected.
            emit("give_up", self._base, attempt=attempt, error=exc, detail="circuit_open")
            return "the circuit opened"
        return None

    def _delay(self, exc: LlmError, attempt: int) -> tuple[float, str | None]:
        """The wait before the next attempt, or why there is no time for one."""
        config = self._config
        wait = backoff(
            attempt,
            base=config.base_delay,
            cap=config.max_delay,
            rng=self._rng,
            jitter=config.jitter,
        )
        left = time_left()
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            hint = exc.retry_after
            if hint > config.max_retry_after or hint >= left:
                emit(
                    "give_up",
                    self._base,
                    attempt=attempt,
                    error=exc,
                    wait=hint,
                    detail="retry_after",
                )
                return 0.0, (
                    f"Retry-After of {hint:.1f}s does not fit "
                    f"(time left {left:.1f}s, max_retry_after {config.max_retry_after:.1f}s)"
                )
            wait = max(wait, hint)
        if wait >= left:
            emit("give_up", self._base, attempt=attempt, error=exc, wait=wait, detail="deadline")
            return (
                0.0,
                f"the next backoff ({wait:.1f}s) does not fit in the time left ({left:.1f}s)",
            )
        return wait, None


class _RetriedStream(ChunkStream):
    """A stream retried until its first chunk; past it a retry would repeat text the
    consumer already has, so errors go up as they are (a fallback above decides)."""

    __slots__ = ("_attempt", "_owner", "_request")

    def __init__(self, owner: RetryProvider, request: LlmRequest) -> None:
        super().__init__(owner.inner.name)
        self._owner = owner
        self._request = request
        self._attempt = 1

    async def _start(self) -> tuple[StreamChunk, AsyncIterator[StreamChunk]]:
        owner = self._owner
        owner.budget.record_call()
        own = owner._own_deadline()
        started = owner._clock()
        with deadline_scope(own):
            while True:
                emit("attempt", owner._base, attempt=self._attempt)
                chunks = owner.inner.stream(self._request)
                try:
                    first = await first_chunk(chunks, owner.inner.name)
                except LlmError as exc:
                    emit("failure", owner._base, attempt=self._attempt, error=exc)
                    await owner._pause_or_raise(exc, self._attempt, started)
                    self._attempt += 1
                    continue
                return first, chunks

    async def _finished(self) -> None:
        # Traced before the last chunk is handed on: the consumer may stop at it.
        emit("success", self._owner._base, attempt=self._attempt)
