"""The ``vex-llm`` command: argument parsing and rendering over the public API."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from .. import LlmError, MockProvider, ResilientProvider
from . import _render

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vex-llm",
        description="Call LLM providers through vex-llm's resilience layer.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    ask = commands.add_parser("ask", help="ask one question and print the answer")
    ask.add_argument("prompt", help="the question")
    return parser


async def _ask(prompt: str) -> int:
    async with ResilientProvider.wrap(MockProvider.smart()) as provider:
        try:
            answer = await provider.ask(prompt)
        except LlmError as exc:
            _render.err(f"vex-llm: {type(exc).__name__}: {exc}")
            return EXIT_FAILED
        _render.out(answer)
        _render.out(
            f"[provider: {provider.inner.name} (mock, no API key needed) · "
            f"circuit: {provider.circuit_state.value}]"
        )
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Args:
        argv: Arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        0 on success, 1 when the call failed, 2 on bad usage.
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_USAGE
    if args.command == "ask":
        return asyncio.run(_ask(args.prompt))
    return EXIT_USAGE  # pragma: no cover - argparse rejects unknown commands


def run() -> None:
    """Console-script entry point."""
    raise SystemExit(main())
