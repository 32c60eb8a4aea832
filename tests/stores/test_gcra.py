"""The GCRA maths behind rate-limit buckets: never more than the limit in any window,
all-or-nothing reservations, refunds that never overfill, header floors that only tighten."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vex_llm.stores import Cell
from vex_llm.stores._gcra import (
    EPSILON,
    adjust,
    available,
    header_floor,
    reserve,
    reserve_one,
    wait_for,
)

bursts = st.integers(min_value=1, max_value=50)
windows = st.floats(min_value=0.1, max_value=3600.0)
gaps = st.lists(st.floats(min_value=0.0, max_value=30.0), min_size=1, max_size=200)


@given(bursts, windows, gaps)
def test_admissions_in_any_span_stay_within_the_limit(
    burst: int, window: float, arrivals: list[float]
) -> None:
    """Between any two admissions: their count <= burst + span / interval."""
    cell = Cell(window / burst, float(burst), 1.0)
    now, tat = 0.0, None
    admitted: list[float] = []
    for gap in arrivals:
        now += gap
        ok, _, new = reserve([tat], now, [cell], max_wait=0.0)
        if ok:
            tat = new[0]
            admitted.append(now)
    for i, start in enumerate(admitted):
        for j in range(i, len(admitted)):
            assert j - i + 1 <= burst + (admitted[j] - start) / cell.interval + 1e-6


@given(bursts, windows, gaps)
def test_admitted_units_never_exceed_burst_plus_refill(
    burst: int, window: float, arrivals: list[float]
) -> None:
    """Over [0, t]: admitted units <= burst + t / interval (the token-bucket bound)."""
    cell = Cell(window / burst, float(burst), 1.0)
    now, tat, count = 0.0, None, 0
    for gap in arrivals:
        now += gap
        ok, _, new = reserve([tat], now, [cell], max_wait=0.0)
        if ok:
            tat, count = new[0], count + 1
        assert count <= burst + now / cell.interval + 1e-9


@given(bursts, windows, st.floats(min_value=0.0, max_value=100.0), st.integers(1, 200))
def test_a_wait_granted_is_the_wait_needed(
    burst: int, window: float, max_wait: float, calls: int
) -> None:
    """A caller that sleeps the granted wait finds its units were inside the limit then."""
    cell = Cell(window / burst, float(burst), 1.0)
    tat = None
    for _ in range(calls):
        ok, wait, new = reserve([tat], 0.0, [cell], max_wait=max_wait)
        if not ok:
            assert wait > max_wait
            assert new == []
            break
        assert wait <= max_wait + EPSILON  # rounding on the boundary is forgiven
        # At the moment it goes, the bucket (with this call charged) is within its burst.
        assert new[0] - wait <= burst * cell.interval + 1e-9
        tat = new[0]


@given(
    st.lists(st.one_of(st.none(), st.floats(-100.0, 100.0)), min_size=2, max_size=2),
    st.floats(min_value=0.0, max_value=50.0),
)
def test_a_reservation_charges_every_bucket_or_none(
    tats: list[float | None], max_wait: float
) -> None:
    """Two buckets: refused leaves both as they were, admitted charges both."""
    cells = [Cell(1.0, 5.0, 1.0), Cell(0.01, 1000.0, 400.0)]
    ok, wait, new = reserve(tats, 0.0, cells, max_wait)
    before = [0.0 if t is None else t for t in tats]
    if ok:
        assert all(n > b for n, b in zip(new, before, strict=True))
        assert wait == max(wait_for(t, 0.0, c) for t, c in zip(tats, cells, strict=True))
    else:
        assert new == []


@given(
    st.one_of(st.none(), st.floats(-100.0, 100.0)),
    st.floats(min_value=-1e4, max_value=1e4),
    st.floats(min_value=0.0, max_value=100.0),
)
def test_a_settlement_never_fills_a_bucket_past_its_burst(
    tat: float | None, delta: float, later: float
) -> None:
    """However large the refund, the bucket holds at most its burst."""
    cell = Cell(0.5, 10.0, 1.0)
    new = adjust(tat, 0.0, delta * cell.interval, None)
    assert available(new, later, cell) <= cell.burst


@given(
    st.one_of(st.none(), st.floats(-100.0, 100.0)),
    st.floats(min_value=0.0, max_value=100.0),
    st.one_of(st.none(), st.floats(min_value=1.0, max_value=1000.0)),
    st.one_of(st.none(), st.floats(min_value=0.0, max_value=600.0)),
)
def test_a_header_floor_only_tightens_and_leaves_at_most_remaining(
    tat: float | None, remaining: float, limit: float | None, reset: float | None
) -> None:
    """After a header floor the bucket holds no more than before, nor than ``remaining``."""
    cell = Cell(0.6, 100.0, 1.0)
    floor = header_floor(remaining, limit, reset, cell)
    new = adjust(tat, 0.0, 0.0, floor)
    assert available(new, 0.0, cell) <= available(tat, 0.0, cell) + 1e-9
    assert available(new, 0.0, cell) <= max(remaining, 0.0) + 1e-9 or remaining >= cell.burst


def test_nothing_left_and_a_reset_waits_for_the_providers_next_unit() -> None:
    """0 of 100 left, full again in 60 s: the next request goes in 0.6 s at the earliest."""
    cell = Cell(0.1, 100.0, 1.0)  # ours refills faster than theirs
    floor = header_floor(0.0, 100.0, 60.0, cell)
    assert wait_for(adjust(None, 0.0, 0.0, floor), 0.0, cell) == pytest.approx(0.6)


@given(
    st.one_of(st.none(), st.floats(-100.0, 100.0)),
    st.floats(min_value=0.01, max_value=10.0),
    st.integers(1, 100),
    st.floats(min_value=0.0, max_value=200.0),
    st.floats(min_value=0.0, max_value=50.0),
)
def test_one_bucket_decides_as_many(
    tat: float | None, interval: float, burst: int, cost: float, max_wait: float
) -> None:
    """reserve_one (the one-bucket fast path) answers as reserve does."""
    ok, wait, end = reserve_one(tat, 0.0, interval, float(burst), cost, max_wait)
    many = reserve([tat], 0.0, [Cell(interval, float(burst), cost)], max_wait)
    assert (ok, wait) == many[:2]
    if ok:
        assert [end] == many[2]
