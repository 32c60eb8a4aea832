"""The ``vex-llm`` command: argument parsing and rendering over the public API.

Commands: ``ask`` (one question through the resilience stack), ``chaos`` (the lab: a bare
client and the stack side by side on faulty local upstreams), ``circuits`` (the breakers of
a config, their state and manual control), ``fake-server`` (a fake provider on 127.0.0.1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from .. import LlmError
from .. import __version__ as VERSION
from ..config import ConfigError
from ..providers import KINDS
from . import _ask, _checks, _circuits, _fake_server, _render
from ._checks import CommandFailed, UsageError

if TYPE_CHECKING:
    from ..lab import ChaosRun

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2

_LAB_MODULES: Final = ("starlette", "uvicorn", "rich", "matplotlib")
_SERVER_MODULES: Final = ("starlette", "uvicorn")


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser, and each command's own (to show its usage on an unknown flag)."""
    parser = argparse.ArgumentParser(
        prog="vex-llm",
        description="Call LLM providers through vex-llm's resilience layer.",
    )
    parser.add_argument("--version", action="version", version=f"vex-llm {VERSION}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ask = commands.add_parser(
        "ask",
        help="ask one question through the resilience stack",
        description="Ask one question through the resilience stack (retries, circuit "
        "breaker, deadline, fallbacks) and print the answer. Without a key or a config it "
        "answers with the mock model and says so. Exit 0: answered; 1: the call failed; "
        "2: bad usage or config.",
    )
    ask.add_argument("prompt", help="the question ('-': read it from standard input)")
    ask.add_argument(
        "--provider",
        choices=tuple(KINDS),
        help="openai, anthropic, mock or a preset (default: openai or anthropic when its key "
        "is set, else the mock)",
    )
    ask.add_argument("--model", help="model name (default: the provider's usual one)")
    ask.add_argument(
        "--base-url", help="endpoint root of the first provider, e.g. http://127.0.0.1:8000/v1"
    )
    ask.add_argument(
        "--fallback",
        action="append",
        default=[],
        metavar="PROVIDER[:MODEL]",
        help="a provider to fall back to (repeatable, tried in order)",
    )
    ask.add_argument("--config", type=Path, help="a TOML config of providers (see README)")
    ask.add_argument("--stream", action="store_true", help="print tokens as they arrive")
    ask.add_argument("--deadline", type=float, default=60.0, help="seconds for the whole call")
    ask.add_argument(
        "--verbose", "-v", action="store_true", help="show each decision as it is made"
    )

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

    circuits = commands.add_parser(
        "circuits",
        help="show or change the circuits of a config",
        description="Show the circuit breaker of every provider in a config: state, "
        "requests, failures, opens, rejections and when the next probe may pass. With "
        "Redis (--redis, or redis in the config) these are the circuits every process "
        "shares, and --open / --reset change them for all; without it a circuit lives in "
        "one process's memory, so this command can only show a fresh one.",
    )
    circuits.add_argument("--config", type=Path, required=True, help="the TOML config")
    circuits.add_argument(
        "--redis", metavar="URL", help="Redis URL of the shared circuits (redis://host:port/db)"
    )
    action = circuits.add_mutually_exclusive_group()
    action.add_argument("--reset", metavar="NAME", help="reset a circuit to closed")
    action.add_argument("--open", metavar="NAME", help="hold a circuit open until reset")
    _fake_server.add_parser(commands)
    return parser, dict(commands.choices)


# -- chaos -------------------------------------------------------------------------------


async def _chaos(args: argparse.Namespace) -> int:
    from ..lab import DEFAULT_SCENARIO, SCENARIOS, check_out, run_chaos

    if not 0 < args.duration <= 600:
        msg = f"--duration must be in (0, 600] seconds, got {args.duration}"
        raise UsageError(msg)
    if args.list:
        for scenario in SCENARIOS.values():
            default = " (default)" if scenario.name == DEFAULT_SCENARIO else ""
            _render.out(f"{scenario.name:18} {scenario.describe(args.duration)}{default}")
        return EXIT_OK
    name = args.scenario or DEFAULT_SCENARIO
    if name not in SCENARIOS:
        msg = f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)} (see --list)"
        raise UsageError(msg)
    if not 1 <= args.concurrency <= 256:
        msg = f"--concurrency must be in [1, 256], got {args.concurrency}"
        raise UsageError(msg)
    try:  # before the run: a bad --out must not cost the results of a whole run
        check_out(args.out)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    started: list[tuple[ChaosRun, _render.ChaosView]] = []

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
    # Written in the loop's thread: the run is over, and once cancelled nothing is awaited.
    report, image = _write_report(run, args.out)
    _render.chaos_summary(run, report=str(report), image=str(image))
    if interrupted is not None:
        stop = f"{run.interrupted_at or 0.0:.1f}s of {args.duration:g}s"
        _render.err(f"vex-llm chaos: interrupted at {stop}; partial report written ({report})")
        raise interrupted
    return EXIT_OK


def _write_report(run: ChaosRun, out: Path) -> tuple[Path, Path]:
    from ..lab import write_timeline

    out.mkdir(parents=True, exist_ok=True)
    report = out / "report.json"
    report.write_text(json.dumps(run.to_json(), indent=1))
    return report, write_timeline(run, out / "timeline.png")


# -- entry -------------------------------------------------------------------------------


def _parse(argv: Sequence[str]) -> argparse.Namespace | int:
    """The arguments, or an exit code when argparse already answered (help, usage error)."""
    parser, commands = _parser()
    if not argv:
        parser.print_help()
        return EXIT_OK
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown:
            # The command's own usage: it lists the flags the user meant to type.
            command = commands.get(getattr(args, "command", ""), parser)
            command.error(f"unrecognized arguments: {' '.join(unknown)}")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    return args


def _needs(args: argparse.Namespace) -> None:
    """Refuse, in one line, a command whose optional packages are missing."""
    if args.command == "chaos":
        _checks.require("vex-llm chaos", _LAB_MODULES, "lab")
    elif args.command == "fake-server":
        _checks.require("vex-llm fake-server", _SERVER_MODULES, "lab")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Args:
        argv: Arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        0 on success (and for ``--help``, ``--version`` and no arguments: the help); 1 when
        a call failed or the command could not do its job (Redis unreachable, port taken);
        2 on bad usage or a bad config; 130 when interrupted.
    """
    args = _parse(sys.argv[1:] if argv is None else argv)
    if isinstance(args, int):
        return args
    # The library logs transitions and decisions; the CLI shows them only with --verbose,
    # each once, as it happens. Restored afterwards, so main() called in-process leaves
    # logging as it found it.
    library_log = logging.getLogger("vex_llm")
    saved = (library_log.propagate, list(library_log.handlers), library_log.level)
    handler: logging.Handler
    if getattr(args, "verbose", False):
        handler = logging.StreamHandler()
        decisions = _render.DecisionFormatter(time.time())
        handler.setFormatter(decisions)
        handler.addFilter(decisions)
        library_log.setLevel(logging.DEBUG)
    else:
        handler = logging.NullHandler()
    library_log.addHandler(handler)
    library_log.propagate = False
    handlers: dict[str, Callable[[argparse.Namespace], Coroutine[None, None, int]]] = {
        "ask": _ask.ask,
        "chaos": _chaos,
        "circuits": _circuits.circuits,
        "fake-server": _fake_server.serve,
    }
    try:
        _needs(args)
        return asyncio.run(handlers[args.command](args))
    except (UsageError, ConfigError) as exc:
        _render.err(f"vex-llm: {exc}")
        return EXIT_USAGE
    except CommandFailed as exc:
        _render.err(f"vex-llm: {exc}")
        return EXIT_FAILED
    except LlmError as exc:
        _render.err(f"vex-llm: {_ask.describe(exc)}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        _render.err("vex-llm: interrupted")
        return 130
    finally:
        library_log.propagate = saved[0]
        library_log.handlers[:] = saved[1]
        library_log.setLevel(saved[2])


def run() -> None:
    """Console-script entry point."""
    raise SystemExit(main())
