"""The chaos report's PNG timeline (matplotlib, imported only when a plot is drawn)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from ..testing._chaos_run import CallRecord, ChaosRun, percentile

_ARM_COLOURS = {"bare": "#c0392b", "resilient": "#1f77b4"}
_STATE_COLOURS = {"closed": "#2ecc71", "half_open": "#f1c40f", "open": "#e74c3c"}


def _bins(duration: float, width: float) -> list[float]:
    count = max(1, math.ceil(duration / width))
    return [i * width for i in range(count)]


def _per_bin(
    records: Sequence[CallRecord], starts: Sequence[float], width: float
) -> tuple[list[float], list[float], list[float]]:
    """Success rate, p50 and p99 latency (ms) of the requests started in each bin."""
    rates: list[float] = []
    p50: list[float] = []
    p99: list[float] = []
    for start in starts:
        inside = [r for r in records if start <= r.started < start + width]
        latencies = sorted(r.latency * 1000 for r in inside)
        rates.append(100.0 * sum(r.ok for r in inside) / len(inside) if inside else math.nan)
        p50.append(percentile(latencies, 0.5) if inside else math.nan)
        p99.append(percentile(latencies, 0.99) if inside else math.nan)
    return rates, p50, p99


def write_timeline(run: ChaosRun, path: Path, *, width: float = 1.0) -> Path:
    """Draw success rate, latency, upstream load and circuit states over time.

    Args:
        run: The measured run.
        path: Where to write the PNG.
        width: Seconds per bin.

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    starts = _bins(run.duration, width)
    centres = [s + width / 2 for s in starts]
    figure, axes = plt.subplots(
        4, 1, figsize=(11, 9), sharex=True, gridspec_kw={"height_ratios": [3, 3, 2, 1.4]}
    )
    success, latency, upstream, states = axes
    for arm in run.arms():
        records = [r for r in run.calls if r.arm == arm]
        rates, p50, p99 = _per_bin(records, starts, width)
        colour = _ARM_COLOURS.get(arm, "#555555")
        label = "bare client" if arm == "bare" else "vex-llm stack"
        success.plot(centres, rates, color=colour, linewidth=2, label=label)
        latency.plot(centres, p50, color=colour, linewidth=2, label=f"{label} p50")
        latency.plot(centres, p99, color=colour, linewidth=1, linestyle="--", label=f"{label} p99")
        hits = [h.at for h in run.upstream if h.arm == arm]
        per_second = [sum(1 for t in hits if s <= t < s + width) / width for s in starts]
        upstream.step(starts, per_second, where="post", color=colour, label=label)
    success.set_ylabel("success rate (%)")
    success.set_ylim(-5, 105)
    success.legend(loc="lower left")
    success.set_title(
        f"vex-llm chaos: {run.scenario} (seed {run.seed}, {run.concurrency} concurrent per side)"
    )
    latency.set_ylabel("latency (ms)")
    latency.set_yscale("log")
    latency.legend(loc="upper left", fontsize=8, ncol=2)
    upstream.set_ylabel("upstream calls/s")
    upstream.set_ylim(bottom=0)
    upstream.legend(loc="lower left", fontsize=8)
    _draw_states(states, run)
    states.set_xlabel("seconds since start")
    states.set_xlim(0, run.duration)
    for axis in axes:
        axis.grid(alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _draw_states(axis: object, run: ChaosRun) -> None:
    """One band per breaker on the resilient side, coloured by state over time."""
    from matplotlib.axes import Axes
    from matplotlib.patches import Patch

    assert isinstance(axis, Axes)
    names = run.breakers or sorted({m.breaker for m in run.states})
    for row, name in enumerate(names):
        marks = sorted((m for m in run.states if m.breaker == name), key=lambda m: m.at)
        current, since = "closed", 0.0
        for mark in marks:
            axis.broken_barh(
                [(since, max(0.0, mark.at - since))],
                (row - 0.4, 0.8),
                color=_STATE_COLOURS.get(current, "#999999"),
            )
            current, since = mark.state, mark.at
        axis.broken_barh(
            [(since, max(0.0, run.duration - since))],
            (row - 0.4, 0.8),
            color=_STATE_COLOURS.get(current, "#999999"),
        )
    axis.set_yticks(range(len(names)), labels=[f"circuit {n}" for n in names])
    axis.set_ylim(-0.6, max(1, len(names)) - 0.4)
    axis.legend(
        handles=[Patch(color=c, label=s.replace("_", "-")) for s, c in _STATE_COLOURS.items()],
        loc="upper right",
        fontsize=8,
        ncol=3,
    )
