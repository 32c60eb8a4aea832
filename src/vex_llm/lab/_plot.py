"""The chaos report's PNG timeline (matplotlib, imported only when a plot is drawn).

Five panels over the run's seconds, both sides on each: how many requests were answered
(by the second they started), how many were in flight (and how many of those then
failed), latency, upstream load, and the stack's circuits. The fault windows are shaded
grey on every panel, so a reader sees when each side was failing or stuck.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._report import ChaosRun, SecondStats, bin_edges, bin_of

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.patches import StepPatch

_ARM_COLOURS = {"bare": "#c0392b", "resilient": "#1f77b4"}
_ARM_LABELS = {"bare": "bare client", "resilient": "vex-llm stack"}
_STATE_COLOURS = {"closed": "#2ecc71", "half_open": "#f1c40f", "open": "#e74c3c"}
# The stack's line is drawn wide and pale under the bare client's narrow one: where both
# sides sit at 100 % the reader still sees two lines, not one hiding the other.
_WIDTH = {"bare": 1.8, "resilient": 5.0}
_ALPHA = {"bare": 1.0, "resilient": 0.45}
# Short circuit states (a half-open probe lasts milliseconds) are drawn at least this
# share of the run wide (8 pixels of the PNG), so they show as slivers, not 1-pixel lines.
_MIN_STATE_WIDTH = 1 / 150
_LAYER = {"closed": 0, "open": 1, "half_open": 2}
# Legends sit right of the panels: inside, they hid data in some scenario or other.
_OUTSIDE: dict[str, Any] = {
    "loc": "upper left",
    "bbox_to_anchor": (1.01, 1.0),
    "fontsize": 8,
    "frameon": False,
    "borderaxespad": 0.0,
}


def _colour(arm: str) -> str:
    return _ARM_COLOURS.get(arm, "#555555")


def _line(
    axis: Axes,
    values: Sequence[float],
    edges: Sequence[float],
    arm: str,
    label: str,
    *,
    linestyle: str = "-",
    thinner: float = 1.0,
) -> StepPatch:
    """One side's per-bin values as steps that run to the last edge."""
    return axis.stairs(
        values,
        edges,
        baseline=None,
        label=label,
        color=_colour(arm),
        linewidth=_WIDTH.get(arm, 2.0) * thinner,
        alpha=_ALPHA.get(arm, 1.0),
        linestyle=linestyle,
        zorder=3 if arm == "bare" else 2,
    )


def _label(arm: str) -> str:
    return _ARM_LABELS.get(arm, arm)


def check_out(out: Path) -> None:
    """Make sure the report can be written to the folder ``out`` before a run starts.

    Creates the folder if needed and writes (then removes) a probe file in it.

    Args:
        out: The report folder.

    Raises:
        ValueError: With one line for the user when it is a file or cannot be written.
    """
    if out.exists() and not out.is_dir():
        msg = f"--out {out} is a file; give a folder for report.json and timeline.png"
        raise ValueError(msg)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".vex-llm-probe-"):
            pass
    except OSError as exc:
        msg = f"--out {out} cannot be written: {exc.strerror or exc}"
        raise ValueError(msg) from exc


def _edges(stats: Sequence[SecondStats], end: float) -> list[float]:
    """Bin edges, the last one at the end of the measured run (so step lines reach it)."""
    return [s.start for s in stats] + [end]


def write_timeline(run: ChaosRun, path: Path, *, width: float = 1.0) -> Path:
    """Draw answered share, requests in flight, latency, upstream load and circuit states.

    Args:
        run: The measured run (a partial one too: the interruption is marked).
        path: Where to write the PNG.
        width: Seconds per bin.

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(
        5,
        1,
        figsize=(13, 12),
        sharex=True,
        gridspec_kw={"height_ratios": [3, 2.4, 2.6, 2, 1.2]},
    )
    answered, flight, latency, upstream, states = axes
    series = {arm: run.per_second(arm, width=width) for arm in run.arms()}
    _draw_answered(answered, run, series)
    _draw_in_flight(flight, run, series)
    _draw_latency(latency, run, series)
    _draw_upstream(upstream, run, width)
    _draw_states(states, run)
    title = (
        f"vex-llm chaos: {run.scenario} (seed {run.seed}, {run.concurrency} concurrent per side)"
    )
    if run.interrupted_at is not None:
        title += f", interrupted at {run.interrupted_at:.1f} s"
    answered.set_title(f"{title}\n{run.description}", fontsize=10)
    for axis in axes:
        for start, end in run.fault_windows:
            if start < run.measured:
                end = min(end, run.measured)
                axis.axvspan(start, end, color="#7f7f7f", alpha=0.13, zorder=0, linewidth=0)
        if run.interrupted_at is not None:
            axis.axvline(run.interrupted_at, color="black", linestyle=":", linewidth=1.2)
        axis.grid(alpha=0.3)
    states.set_xlabel("seconds since start (grey: fault in force)")
    states.set_xlim(0, run.duration)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _draw_answered(axis: Axes, run: ChaosRun, series: dict[str, list[SecondStats]]) -> None:
    """Success rate by start second; seconds in which a side could start nothing, hatched."""
    from matplotlib.patches import Patch

    handles: list[Artist] = []
    for arm in sorted(series, key=lambda a: a == "bare"):  # the bare client on top
        stats = series[arm]
        edges = _edges(stats, run.measured)
        rates = [100 * s.success_rate for s in stats]
        colour = _colour(arm)
        handles.append(_line(axis, rates, edges, arm, _label(arm)))
        stuck = [i for i, s in enumerate(stats) if s.requests == 0 and s.in_flight >= 0.5]
        for index in stuck:
            axis.axvspan(
                edges[index],
                edges[index + 1],
                facecolor="none",
                edgecolor=colour,
                hatch="//",
                linewidth=0,
                alpha=0.6,
                zorder=1,
            )
        if stuck:
            label = f"{_label(arm)}: stuck, no request could start"
            handles.append(Patch(facecolor="none", edgecolor=colour, hatch="//", label=label))
    if run.fault_windows:
        handles.append(Patch(color="#7f7f7f", alpha=0.25, label="fault in force"))
    axis.set_ylabel("answered (%)\nby start second")
    axis.set_ylim(-5, 105)
    if handles:
        axis.legend(handles=handles, **_OUTSIDE)


def _draw_in_flight(axis: Axes, run: ChaosRun, series: dict[str, list[SecondStats]]) -> None:
    """Requests waiting for an answer, and the part of them that then failed."""
    top = float(run.concurrency)
    for arm in sorted(series, key=lambda a: a == "bare"):
        stats = series[arm]
        edges = _edges(stats, run.measured)
        busy = [s.in_flight for s in stats]
        failing = [s.in_flight_failing for s in stats]
        top = max(top, *busy)
        _line(axis, busy, edges, arm, f"{_label(arm)}: in flight")
        axis.stairs(
            failing,
            edges,
            fill=True,
            color=_colour(arm),
            alpha=0.25,
            label=f"{_label(arm)}: of which then failed",
        )
    axis.axhline(run.concurrency, color="#555555", linestyle=":", linewidth=1)
    axis.set_ylabel("requests in flight\n(mean per second)")
    axis.set_ylim(0, top * 1.2 + 0.5)
    _legend(axis)


def _draw_latency(axis: Axes, run: ChaosRun, series: dict[str, list[SecondStats]]) -> None:
    """p50 and p99 latency of the requests started in each second, on a labelled log axis."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    shown: list[float] = []
    for arm in sorted(series, key=lambda a: a == "bare"):
        stats = series[arm]
        edges = _edges(stats, run.measured)
        p50 = [1000 * s.p50 for s in stats]
        p99 = [1000 * s.p99 for s in stats]
        shown += [v for v in p50 + p99 if math.isfinite(v) and v > 0]
        _line(axis, p50, edges, arm, f"{_label(arm)} p50")
        _line(axis, p99, edges, arm, f"{_label(arm)} p99", linestyle="--", thinner=0.6)
    axis.set_ylabel("latency\nby start second")
    if shown:  # a log axis needs positive data, else matplotlib warns
        axis.set_yscale("log")
        axis.set_ylim(min(shown) / 1.6, max(shown) * 1.6)
        axis.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.yaxis.set_minor_locator(NullLocator())
        axis.yaxis.set_major_formatter(FuncFormatter(_duration_label))
    _legend(axis)


def _legend(axis: Axes) -> None:
    """A legend, when there is anything to name (matplotlib warns on an empty one)."""
    if axis.get_legend_handles_labels()[0]:
        axis.legend(**_OUTSIDE)


def _duration_label(value: float, _position: object = None) -> str:
    """``20 ms``, ``1.5 s``: milliseconds on the axis, read as people say them."""
    if value >= 1000:
        return f"{value / 1000:g} s"
    return f"{value:g} ms"


def _draw_upstream(axis: Axes, run: ChaosRun, width: float) -> None:
    """Calls per second that reached each upstream, per side."""
    edges = bin_edges(run.measured, width)
    top = 1.0
    routes = sorted({(h.arm, h.server) for h in run.upstream}, key=lambda r: (r[0] == "bare", r))
    for arm, server in routes:
        per_bin = [0.0] * (len(edges) - 1)
        for hit in run.upstream:
            if (hit.arm, hit.server) == (arm, server) and hit.at <= run.measured:
                per_bin[bin_of(edges, hit.at)] += 1
        rates = [n / (edges[i + 1] - edges[i]) for i, n in enumerate(per_bin)]
        top = max(top, *rates)
        dashed = "-" if server == "primary" else "--"
        _line(axis, rates, edges, arm, f"{_label(arm)} → {server}", linestyle=dashed)
    axis.set_ylabel("upstream calls/s")
    axis.set_ylim(0, top * 1.25)
    _legend(axis)


def state_bars(run: ChaosRun, name: str) -> list[tuple[str, float, float]]:
    """One breaker's states as bars ``(state, start, width)``, in drawing order.

    Closed first, then open, then half-open on top: a probe of a few milliseconds between
    two open spans must not be covered by the open span after it. Every state but closed
    is at least ``1/150`` of the run wide, so a short probe shows as a sliver.

    Args:
        run: The run.
        name: The breaker.

    Returns:
        The bars, in seconds since the run started.
    """
    end = run.measured
    least = run.duration * _MIN_STATE_WIDTH
    marks = sorted((m for m in run.states if m.breaker == name), key=lambda m: m.at)
    spans: list[tuple[str, float, float]] = []
    current, since = "closed", 0.0
    for mark in marks:
        spans.append((current, since, mark.at))
        current, since = mark.state, mark.at
    spans.append((current, since, max(since, end)))
    return [
        (state, start, stop - start if state == "closed" else max(stop - start, least))
        for state, start, stop in sorted(spans, key=lambda span: _LAYER.get(span[0], 1))
    ]


def _draw_states(axis: Axes, run: ChaosRun) -> None:
    """One band per breaker on the resilient side, coloured by state over time."""
    from matplotlib.patches import Patch

    names = run.breakers or sorted({m.breaker for m in run.states})
    for row, name in enumerate(names):
        for state, start, length in state_bars(run, name):
            axis.broken_barh(
                [(start, length)],
                (row - 0.4, 0.8),
                color=_STATE_COLOURS.get(state, "#999999"),
                zorder=2 if state == "closed" else 3,
            )
    axis.set_yticks(range(len(names)), labels=[f"circuit {n}" for n in names])
    axis.set_ylim(-0.6, max(1, len(names)) - 0.4)
    axis.legend(
        handles=[Patch(color=c, label=s.replace("_", "-")) for s, c in _STATE_COLOURS.items()],
        **_OUTSIDE,
    )
