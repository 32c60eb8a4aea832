"""The only module that writes to the terminal (plain lines, and rich views for the lab)."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Self

from .. import LlmResponse, ToolCall, TraceEvent

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.live import Live

    from ..lab import ChaosRun

_STATE_STYLE = {"closed": "green", "half_open": "yellow", "open": "bold red"}


def out(text: str) -> None:
    """Write a line to standard output."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def err(text: str) -> None:
    """Write a line to standard error."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def answer_extras(response: LlmResponse) -> None:
    """Print what an answer holds besides its text: a refusal, and the tools it called."""
    if response.refusal:
        out(f"[refused: {response.refusal}]")
    tool_calls(response.tool_calls)


def tool_calls(calls: Sequence[ToolCall]) -> None:
    """Print each tool call: a line with its name and id, then its arguments, pretty.

    Arguments that are not valid JSON (a model may produce anything) are printed as sent.
    """
    for call in calls:
        out(f"[tool call: {call.name} · id {call.id}]")
        try:
            arguments = json.dumps(json.loads(call.arguments), indent=2, ensure_ascii=False)
        except (ValueError, RecursionError):
            arguments = call.arguments
        out(arguments)


def answer_json(response: LlmResponse, circuits: Mapping[str, str]) -> None:
    """Print the answer as one JSON object (``--json``).

    Keys: ``content``, ``tool_calls`` (``id``, ``name``, ``arguments``: the JSON text
    exactly as the model produced it), ``finish_reason``, ``refusal``, ``provider``,
    ``model``, ``usage`` (null when not reported) and ``circuits`` (state by name).
    """
    answer = {
        "content": response.content,
        "tool_calls": [
            {"id": call.id, "name": call.name, "arguments": call.arguments}
            for call in response.tool_calls
        ],
        "finish_reason": response.finish_reason,
        "refusal": response.refusal,
        "provider": response.provider,
        "model": response.model,
        "usage": None if response.usage is None else dataclasses.asdict(response.usage),
        "circuits": dict(circuits),
    }
    out(json.dumps(answer, indent=2, ensure_ascii=False))


def _summary_table(run: ChaosRun, title: str, *, upstream: bool = True) -> RenderableType:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("side")
    table.add_column("requests", justify="right")
    table.add_column("success", justify="right")
    table.add_column("p50 ms", justify="right")
    table.add_column("p99 ms", justify="right")
    if upstream:  # known only at the end, from the upstreams' journals
        table.add_column("upstream calls", justify="right")
        table.add_column("upstream / request", justify="right")
        table.add_column("429s", justify="right")
    table.add_column("errors")
    for arm in run.arms():
        s = run.summary(arm)
        label = "bare client" if arm == "bare" else "vex-llm stack"
        colour = "green" if s.success_rate >= 0.99 else "yellow" if s.success_rate >= 0.9 else "red"
        cells = [
            label,
            str(s.requests),
            f"[{colour}]{100 * s.success_rate:.1f}%[/{colour}]",
            f"{1000 * s.p50:.0f}",
            f"{1000 * s.p99:.0f}",
        ]
        if upstream:
            cells += [str(s.upstream_calls), f"{s.upstream_per_request:.2f}", str(s.rate_limited)]
        cells.append(", ".join(f"{name} x{count}" for name, count in s.errors.items()) or "-")
        table.add_row(*cells)
    return table


class ChaosView:
    """A live terminal view of a chaos run: progress, success rates, latency, circuits.

    Falls back to nothing while running (and the final table only) when standard output
    is not a terminal, so CI logs stay readable.

    Args:
        run: The run being filled in.
        elapsed: Seconds since the run started.
        circuits: The resilient side's circuit states by breaker name.
        live: Draw the live view (default: only on a terminal).
    """

    def __init__(
        self,
        run: ChaosRun,
        elapsed: Callable[[], float],
        circuits: Callable[[], Mapping[str, str]],
        *,
        live: bool | None = None,
    ) -> None:
        self._run = run
        self._elapsed = elapsed
        self._circuits = circuits
        self._enabled = sys.stdout.isatty() if live is None else live
        self._live: Live | None = None

    def _render(self) -> RenderableType:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        elapsed = min(self._elapsed(), self._run.duration)
        bar = ProgressBar(total=self._run.duration, completed=elapsed, width=50)
        circuits = Text("circuits: ")
        for name, state in self._circuits().items():
            circuits.append(f"{name} ", style="bold")
            circuits.append(f"{state.replace('_', '-')}  ", style=_STATE_STYLE.get(state, ""))
        header = Table.grid(padding=(0, 2))
        header.add_row(
            Text(self._run.scenario, style="bold"),
            bar,
            Text(f"{elapsed:5.1f}s / {self._run.duration:.0f}s"),
        )
        return Group(header, circuits, _summary_table(self._run, "so far", upstream=False))

    def __enter__(self) -> Self:
        if self._enabled:
            from rich.live import Live

            self._live = Live(self._render(), refresh_per_second=4, get_renderable=self._render)
            self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
            self._live = None


def chaos_summary(run: ChaosRun, *, report: str, image: str) -> None:
    """Print the final comparison table and where the report and picture were written."""
    from rich.console import Console

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    console.print(_summary_table(run, f"vex-llm chaos: {run.scenario} (seed {run.seed})"))
    console.print(f"report: {report}")
    console.print(f"timeline: {image}")


def write(text: str) -> None:
    """Write text to standard output without a newline (streamed tokens)."""
    sys.stdout.write(text)
    sys.stdout.flush()


def circuits_table(rows: list[tuple[str, str, int, int, int, int, str]], *, title: str) -> None:
    """Print the circuits of a config as a plain table (no optional packages needed)."""
    header = ("circuit", "state", "requests", "failures", "opens", "rejected", "next probe")
    cells = [header, *((name, state, *(str(n) for n in numbers)) for name, state, *numbers in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    out(title)
    for row in cells:
        # Names and states read left to right; numbers line up on the right.
        line = "  ".join(
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        out("  " + line.rstrip())


class DecisionFormatter(logging.Formatter):
    """``-v`` lines: a call's decisions as the trace prints them, other events with a time.

    Times count from the start of the call, as the trace's do: the first decision tells
    when that was. Records below INFO that are not decisions are left out (the providers'
    debug lines repeat what the trace already says).

    Args:
        started: ``time.time()`` when the command started (the zero until the call starts).
    """

    def __init__(self, started: float) -> None:
        super().__init__("%(message)s")
        self._started = started
        self._synced = False

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether a record is shown: decisions, and other events from INFO up."""
        return hasattr(record, "vex_llm_event") or record.levelno >= logging.INFO

    def format(self, record: logging.LogRecord) -> str:
        """One line per event (a logged exception adds its traceback)."""
        event = getattr(record, "vex_llm_event", None)
        if isinstance(event, TraceEvent):
            if not self._synced:
                self._started, self._synced = record.created - event.at, True
            return str(event)
        return f"{record.created - self._started:8.3f}s {super().format(record)}"
