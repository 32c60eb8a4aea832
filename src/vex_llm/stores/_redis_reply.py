"""What a ``RedisStore`` script answers, parsed, and what the store keeps of it per circuit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .._errors import RejectReason
from ..circuit import Admission, CircuitState, Snapshot, Transition, TransitionReason
from . import _redis_scripts as scripts

STATES: Final = (CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN)
US: Final = 1_000_000
_REPLY_LENGTH: Final = 26


@dataclass(slots=True)
class Reply:
    """One script's answer (the layout ``reply()`` in the Lua prelude builds)."""

    result: int
    state: CircuitState
    generation: int
    incarnation: str
    failures: int
    isolated: bool
    open_count: int
    remaining_us: int
    corrupt: int
    transition: tuple[int, int, int, int, int, int]
    lease: int
    reject: int
    reject_after_us: int
    counts: tuple[int, int, int, int, int, int, int, int]
    """Admitted calls, failures, opens, rejected, ignored, stale, slow, probe leases."""

    @classmethod
    def parse(cls, raw: object) -> Reply:
        text = raw.decode() if isinstance(raw, bytes) else raw
        fields = text.split(" ") if isinstance(text, str) else []
        if len(fields) != _REPLY_LENGTH:
            msg = f"unexpected reply from a RedisStore script: {raw!r:.200}"
            raise ValueError(msg)
        incarnation = "" if fields[3] == "-" else fields[3]
        n = [int(value) for index, value in enumerate(fields) if index != 3]
        # n is raw without the incarnation: indexes from 3 on are shifted by one.
        return cls(
            result=n[0],
            state=STATES[n[1]],
            generation=n[2],
            incarnation=incarnation,
            failures=n[3],
            isolated=bool(n[4]),
            open_count=n[5],
            remaining_us=n[6],
            corrupt=n[7],
            transition=(n[8], n[9], n[10], n[11], n[12], n[13]),
            lease=n[14],
            reject=n[15],
            reject_after_us=n[16],
            counts=(n[17], n[18], n[19], n[20], n[21], n[22], n[23], n[24]),
        )

    def made(self, now: float) -> Transition | None:
        """The transition this operation made, with times on the caller's clock."""
        from_state, to_state, generation, reason, until_us, manual = self.transition
        if from_state < 0:
            return None
        reason_name: TransitionReason = _reason(reason)
        return Transition(
            STATES[from_state],
            STATES[to_state],
            generation,
            reason_name,
            open_until=None if until_us < 0 else now + until_us / US,
            manual=bool(manual),
        )

    def admission(self, now: float) -> Admission:
        reason: RejectReason | None = None
        retry_after = None
        if not self.result:
            reason = _reject_reason(self.reject)
            if self.reject_after_us >= 0:
                retry_after = self.reject_after_us / US
        return Admission(
            bool(self.result),
            self.state,
            self.generation,
            lease=self.lease,
            retry_after=retry_after,
            reason=reason,
            transition=self.made(now),
            incarnation=self.incarnation,
        )

    def snapshot(self, now: float) -> Snapshot:
        admitted, failures, opens, rejected, ignored, stale, slow, leases = self.counts
        return Snapshot(
            self.state,
            self.generation,
            total_requests=admitted + rejected,
            total_failures=failures,
            circuit_opens=opens,
            rejected=rejected,
            ignored=ignored,
            stale=stale,
            slow_calls=slow,
            consecutive_failures=self.failures,
            retry_after=None if self.remaining_us < 0 else self.remaining_us / US,
            isolated=self.isolated,
            half_open_in_flight=leases,
            transition=self.made(now),
        )


def _reason(code: int) -> TransitionReason:
    match scripts.REASONS[code]:
        case (
            "failure_threshold"
            | "failure_rate"
            | "slow_call_rate"
            | "retry_after"
            | "reset_timeout"
            | "probe_failed"
            | "probes_succeeded"
            | "manual"
            | "reset"
        ) as name:
            return name
        case other:
            msg = f"unknown transition reason code {code} ({other!r})"
            raise ValueError(msg)


def _reject_reason(code: int) -> RejectReason:
    match scripts.REJECT_REASONS[code]:
        case "open" | "half_open_full" | "isolated" as name:
            return name
        case other:
            msg = f"unknown rejection reason code {code} ({other!r})"
            raise ValueError(msg)


@dataclass(slots=True)
class Known:
    """What this process last learned about one circuit from Redis."""

    reply: Reply
    stamp: float
    """The caller's clock when the operation that returned ``reply`` started."""
    open_until: float | None
    """End of the open period on the caller's clock (open, not isolated)."""
    pending: int = 0
    """Calls admitted from the closed-state cache, not yet added to Redis's count."""
