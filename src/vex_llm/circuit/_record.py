"""The record of one in-process circuit, as the pure machine reads and changes it.

The record is split in two: the fields a closed-state call touches (``state``,
``generation``, ``failures``, ``calls``) and a ``cold`` part created on the first failure,
rejection or transition. An idle breaker therefore costs a few slots, not a full record.
"""

from __future__ import annotations

import itertools
import threading
from typing import TYPE_CHECKING, Final

from ._config import CircuitState

if TYPE_CHECKING:
    from ._windows import Window

CLOSED: Final = CircuitState.CLOSED

# A fixed set of locks shared by all in-process records, picked by the record's id.
# A lock is held only for one O(1) machine step (never across an await or user code,
# never two at once), so sharing a lock between unrelated breakers costs nothing
# measurable, while an idle breaker carries no lock object of its own.
_LOCKS: Final = tuple(threading.Lock() for _ in range(64))


class Tally(itertools.count):  # type: ignore[type-arg]  # itertools.count is generic in typeshed only
    """A count that threads bump without a lock and read under the record's lock.

    ``next(tally)`` is one atomic C call in CPython (the lock-free hot paths count with
    it). ``itertools.count`` has no read accessor, so ``value()`` takes one number out
    too and remembers how many it took: bumps and reads both consume numbers, and the
    reads are subtracted. Reads must not race each other (hold the record's lock).
    """

    __slots__ = ("_taken",)

    def __init__(self, start: int = 0) -> None:
        self._taken = 0

    def value(self) -> int:
        """The number of bumps (plus the start value); call under the record's lock."""
        value: int = next(self) - self._taken
        self._taken += 1
        return value


class Cold:
    """The parts of a record that only matter once something went wrong."""

    __slots__ = (
        "failures_total",
        "ignored",
        "isolated",
        "leases",
        "next_lease",
        "open_count",
        "open_until",
        "opens",
        "rejected",
        "slow_total",
        "stale",
        "successes",
        "window",
    )

    def __init__(self) -> None:
        self.open_until = 0.0
        self.open_count = 0
        """Opens in this episode (since the last close): the backoff exponent."""
        self.isolated = False
        self.successes = 0
        """Consecutive probe successes in the current half-open period."""
        self.leases: dict[int, float] = {}
        """Live probe leases: lease id -> expiry time."""
        self.next_lease = 0
        self.window: Window | None = None
        self.failures_total = 0
        self.rejected = Tally()
        """Rejections; a ``Tally`` so the breaker's lock-free open-state path can count."""
        self.opens = 0
        self.ignored = 0
        self.stale = 0
        self.slow_total = 0


class CircuitRecord:
    """The state of one circuit, as the machine sees it."""

    __slots__ = ("calls", "cold", "failures", "generation", "state")

    def __init__(self) -> None:
        self.state = CLOSED
        self.generation = 1
        self.failures = 0
        """Consecutive counted failures in the closed state."""
        self.calls: Tally | None = None
        """Admitted calls (made on the first call, see ``count_call``;
        rejections are counted in ``cold.rejected``). ``next()`` on it is atomic in
        CPython, so the closed-state fast path counts without a lock."""
        self.cold: Cold | None = None

    def ensure_cold(self) -> Cold:
        cold = self.cold
        if cold is None:
            cold = self.cold = Cold()
        return cold

    @property
    def total_requests(self) -> int:
        """Admitted calls plus rejected ones (read under the record's lock)."""
        calls = self.calls
        admitted = 0 if calls is None else calls.value()
        cold = self.cold
        return admitted + (0 if cold is None else cold.rejected.value())


def count_value(counter: Tally) -> int:
    """Read a ``Tally`` (under the lock of the record that holds it)."""
    return counter.value()


def lock_for(record: object) -> threading.Lock:
    """The lock that guards an in-process record."""
    return _LOCKS[(id(record) >> 4) & 63]


def count_call(record: CircuitRecord) -> None:
    """Count one call on an in-process record; its counter is made on first use."""
    calls = record.calls
    if calls is None:
        with lock_for(record):
            calls = record.calls
            if calls is None:
                calls = record.calls = Tally()
    next(calls)
