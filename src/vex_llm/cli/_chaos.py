"""``vex-llm chaos``: the lab's scenarios on a bare client and on the stack, side by side."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final

from . import _checks, _render
from ._checks import UsageError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from ..lab import ChaosRun

EXIT_OK: Final = 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``chaos`` command."""
    chaos = commands.add_parser(
        "chaos", help="run a fault scenario on a bare client and on the vex-llm stack"
    )
    chaos.add_argument("scenario", nargs="?", help="scenario name (see --list)")
    chaos.add_argument("--list", action="store_true", help="list the scenarios and exit")
    chaos.add_argument("--duration", type=float, default=20.0, help="seconds of traffic (20)")
    chaos.add_argument("--concurrency", type=int, default=8, help="requesters per side (8)")
    chaos.add_argument("--seed", type=int, default=7, help="seed of the faults (7)")
    chaos.add_argument(
        "--out", type=Path, default=Path("chaos-report"), help="folder for report.json and PNG"
    )
    chaos.add_argument("--no-live", action="store_true", help="no live view, only the result")
    chaos.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve the stack's Prometheus metrics on http://127.0.0.1:PORT/metrics during the "
        "run (needs the metrics extra)",
    )


async def chaos(args: argparse.Namespace) -> int:
    """Run a scenario (or list them) and write the report; returns the exit code.

    Raises:
        UsageError: On a bad flag or scenario (checked before any traffic).
    """
    from ..lab import SCENARIOS, run_chaos

    name = _scenario(args)
    if name is None:
        return EXIT_OK
    started: list[tuple[ChaosRun, _render.ChaosView]] = []
    exported = _Exported.start(args.metrics_port)

    def on_start(
        run: ChaosRun, states: Callable[[], dict[str, str]], elapsed: Callable[[], float]
    ) -> None:
        _render.err(
            f"vex-llm chaos: {name}, {args.duration:g}s, {args.concurrency} requesters per "
            f"side, seed {args.seed} (local fake upstreams on 127.0.0.1)"
        )
        view = _render.ChaosView(run, elapsed, states, live=False if args.no_live else None)
        started.append((run, view.__enter__()))

    interrupted: asyncio.CancelledError | None = None
    try:
        run = await run_chaos(
            SCENARIOS[name],
            duration=args.duration,
            concurrency=args.concurrency,
            seed=args.seed,
            on_start=on_start,
        )
    except asyncio.CancelledError as exc:  # Ctrl-C: keep what was measured, then stop
        if not started:  # interrupted before traffic started: nothing to report
            raise
        run, interrupted = started[0][0], exc
    finally:
        for _, view in started:
            view.__exit__(None, None, None)
        counters = exported.stop()
    # Written in the loop's thread: the run is over, and once cancelled nothing is awaited.
    report, image = _write_report(run, args.out, counters)
    _render.chaos_summary(run, report=str(report), image=str(image))
    if interrupted is not None:
        stop = f"{run.interrupted_at or 0.0:.1f}s of {args.duration:g}s"
        _render.err(f"vex-llm chaos: interrupted at {stop}; partial report written ({report})")
        raise interrupted
    return EXIT_OK


def _scenario(args: argparse.Namespace) -> str | None:
    """The scenario to run, after checking the flags; ``None`` once ``--list`` was shown."""
    from ..lab import DEFAULT_SCENARIO, SCENARIOS, check_out

    _checks.seconds("--duration", args.duration, maximum=600)
    if args.list:
        for scenario in SCENARIOS.values():
            default = " (default)" if scenario.name == DEFAULT_SCENARIO else ""
            _render.out(f"{scenario.name:18} {scenario.describe(args.duration)}{default}")
        return None
    name: str = args.scenario or DEFAULT_SCENARIO
    if name not in SCENARIOS:
        msg = f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)} (see --list)"
        raise UsageError(msg)
    _checks.count("--concurrency", args.concurrency, minimum=1, maximum=256)
    try:  # before the run: a bad --out must not cost the results of a whole run
        check_out(args.out)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return name


def _write_report(run: ChaosRun, out: Path, counters: dict[str, float] | None) -> tuple[Path, Path]:
    from ..lab import write_timeline

    out.mkdir(parents=True, exist_ok=True)
    report = out / "report.json"
    data = run.to_json()
    if counters is not None:
        data["metrics"] = counters
    report.write_text(json.dumps(data, indent=1))
    return report, write_timeline(run, out / "timeline.png")


class _Exported:
    """The run's Prometheus metrics: on a registry of their own whenever prometheus-client
    is installed (their final values go in the report), served with ``--metrics-port``."""

    def __init__(self, registry: CollectorRegistry | None, stop: Callable[[], None]) -> None:
        self._registry = registry
        self._stop = stop

    @classmethod
    def start(cls, port: int | None) -> _Exported:
        """Install the metrics (and serve them on ``port``, if given).

        Raises:
            UsageError: On a bad port, or a port without prometheus-client installed.
        """
        if port is not None:
            _checks.count("--metrics-port", port, minimum=1, maximum=65535)
            _checks.require("chaos --metrics-port", ("prometheus_client",), "metrics")
        elif importlib.util.find_spec("prometheus_client") is None:
            return cls(None, lambda: None)
        from prometheus_client import CollectorRegistry, start_http_server

        from .. import metrics

        registry = CollectorRegistry()
        handle = metrics.install(registry)
        if port is None:
            return cls(registry, handle.uninstall)
        try:
            server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
        except OSError as exc:
            handle.uninstall()
            msg = f"--metrics-port {port}: cannot listen on 127.0.0.1:{port} ({exc})"
            raise UsageError(msg) from None
        _render.err(f"vex-llm chaos: metrics on http://127.0.0.1:{port}/metrics")

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5.0)
            handle.uninstall()

        return cls(registry, stop)

    def stop(self) -> dict[str, float] | None:
        """Stop serving and reporting; the final sample values (``None``: not installed)."""
        registry = self._registry
        values = None if registry is None else final_values(registry)
        self._stop()
        return values


def final_values(registry: CollectorRegistry) -> dict[str, float]:
    """Every vex-llm sample's value by ``name{labels}`` (no buckets or creation times)."""
    values: dict[str, float] = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name.endswith(("_bucket", "_created")):
                continue
            labels = ",".join(f'{key}="{value}"' for key, value in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return values
