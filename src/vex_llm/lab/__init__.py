"""The chaos lab: the same faulty upstreams, hit by a bare client and by the vex-llm stack.

``run_chaos(SCENARIOS["outage"])`` starts ``FakeLLMServer`` upstreams on 127.0.0.1,
drives bounded traffic through a bare ``OpenAIProvider`` and through ``vex_llm.stack()``,
and returns a ``ChaosRun`` (every request, circuit transition and upstream hit), which
``write_timeline`` draws as a PNG. ``vex-llm chaos`` is this package on the command line.

Needs the ``lab`` extra (Starlette and uvicorn for the fake upstreams; matplotlib, imported
only when a plot is drawn).

Modules: ``_scenarios`` (named fault patterns), ``_driver`` (the traffic), ``_report``
(records, summaries, per-second bins, JSON), ``_chaos`` (one run, both sides), ``_plot``
(the timeline).
"""

from __future__ import annotations

from ._chaos import (
    BARE_TIMEOUT,
    LAB_CIRCUIT,
    LAB_DEADLINE,
    LAB_RETRY,
    LAB_TIMEOUTS,
    OnStart,
    run_chaos,
)
from ._driver import drive
from ._plot import check_out, state_bars, write_timeline
from ._report import (
    INTERRUPTED,
    ArmSummary,
    CallRecord,
    ChaosRun,
    SecondStats,
    StateMark,
    UpstreamHit,
    bin_edges,
    bin_of,
    per_second,
    percentile,
)
from ._scenarios import DEFAULT_SCENARIO, SCENARIOS, FaultWindow, Scenario, Windows

__all__ = [
    "BARE_TIMEOUT",
    "DEFAULT_SCENARIO",
    "INTERRUPTED",
    "LAB_CIRCUIT",
    "LAB_DEADLINE",
    "LAB_RETRY",
    "LAB_TIMEOUTS",
    "SCENARIOS",
    "ArmSummary",
    "CallRecord",
    "ChaosRun",
    "FaultWindow",
    "OnStart",
    "Scenario",
    "SecondStats",
    "StateMark",
    "UpstreamHit",
    "Windows",
    "bin_edges",
    "bin_of",
    "check_out",
    "drive",
    "per_second",
    "percentile",
    "run_chaos",
    "state_bars",
    "write_timeline",
]
