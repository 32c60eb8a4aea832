"""The in-process record's counters: bumped without a lock, read exactly."""

from __future__ import annotations

import threading

from vex_llm.circuit import CircuitConfig, LocalCircuit, Outcome, Ticket, machine


def test_tally_counts_bumps_from_many_threads_and_reads_do_not_count() -> None:
    """Concurrent next() calls are all counted; reading twice gives the same number."""
    tally = machine.Tally(5)
    bumps = 20_000

    def bump() -> None:
        for _ in range(bumps):
            next(tally)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tally.value() == 5 + 4 * bumps
    assert tally.value() == 5 + 4 * bumps
    next(tally)
    assert tally.value() == 6 + 4 * bumps


def test_local_circuit_snapshot_counts_admitted_and_rejected_calls() -> None:
    """total_requests is admitted plus rejected calls, read without parsing a repr."""
    config = CircuitConfig(failure_threshold=1, reset_timeout=10.0)
    circuit = LocalCircuit()
    admission = circuit.acquire(config, 0.0)
    circuit.record(config, Ticket(admission.generation), Outcome.FAILURE, 0.0)
    assert not circuit.acquire(config, 1.0).admitted
    assert not circuit.acquire(config, 2.0).admitted
    snapshot = circuit.snapshot(3.0)
    assert (snapshot.total_requests, snapshot.rejected) == (3, 2)
    assert circuit.snapshot(3.0).total_requests == 3
