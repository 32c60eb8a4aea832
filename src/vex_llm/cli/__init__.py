"""The ``vex-llm`` command: argument parsing and rendering over the public API.

Commands: ``ask`` (one question through the resilience stack), ``chaos`` (the lab: a bare
client and the stack side by side on faulty local upstreams), ``circuits`` (the breakers of
a config, their state and manual control), ``fake-server`` (a fake provider on 127.0.0.1),
``serve`` (the OpenAI- and Anthropic-compatible gateway).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Final

from .. import LlmError
from .. import __version__ as VERSION
from ..config import ConfigError
from . import _ask, _chaos, _checks, _circuits, _fake_server, _render, _serve
from ._checks import CommandFailed, UsageError

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
    for command in (_ask, _chaos, _circuits, _fake_server, _serve):
        command.add_parser(commands)
    return parser, dict(commands.choices)


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
    elif args.command == "serve":
        _checks.require("vex-llm serve", _SERVER_MODULES, "gateway")


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
        "chaos": _chaos.chaos,
        "circuits": _circuits.circuits,
        "fake-server": _fake_server.serve,
        "serve": _serve.serve,
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
