"""Reading an in-process record: its snapshot and its window's rates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ._config import CircuitState
from ._results import Snapshot
from ._windows import minimum_calls

if TYPE_CHECKING:
    from ._config import CircuitConfig
    from ._record import CircuitRecord
    from ._results import Transition

OPEN: Final = CircuitState.OPEN


def snapshot(record: CircuitRecord, now: float, transition: Transition | None = None) -> Snapshot:
    """Read a record into a ``Snapshot`` (call under the record's lock).

    Args:
        record: The circuit.
        now: Current clock time.
        transition: A transition to report with it (the lazy step a read made).

    Returns:
        The snapshot.
    """
    cold = record.cold
    if cold is None:
        return Snapshot(
            record.state,
            record.generation,
            total_requests=record.total_requests,
            transition=transition,
        )
    retry_after = None
    if record.state is OPEN and not cold.isolated:
        retry_after = max(0.0, cold.open_until - now)
    return Snapshot(
        record.state,
        record.generation,
        total_requests=record.total_requests,
        total_failures=cold.failures_total,
        circuit_opens=cold.opens,
        rejected=cold.rejected.value(),
        ignored=cold.ignored,
        stale=cold.stale,
        slow_calls=cold.slow_total,
        consecutive_failures=record.failures,
        retry_after=retry_after,
        isolated=cold.isolated,
        half_open_in_flight=len(cold.leases),
        transition=transition,
    )


def window_rates(
    record: CircuitRecord, config: CircuitConfig, now: float
) -> tuple[int, float | None, float | None]:
    """Calls in the window and its failure and slow-call rates (``None`` until judged).

    Args:
        record: The circuit.
        config: Its settings.
        now: Current clock time.

    Returns:
        ``(calls, failure_rate, slow_call_rate)``; the rates are ``None`` below
        ``minimum_calls`` (not yet computable) and always in consecutive mode.
    """
    cold = record.cold
    window = None if cold is None else cold.window
    if config.mode != "ratio" or window is None:
        return 0, None, None
    calls, failed, slow = window.totals(now)
    if calls < minimum_calls(config) or calls == 0:
        return calls, None, None
    return calls, failed / calls, slow / calls
