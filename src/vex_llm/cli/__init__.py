"""The ``vex-llm`` command: argument parsing and rendering over the public API.

Commands: ``ask`` (one question through the resilience stack), ``chaos`` (the lab: a bare
client and the stack side by side on faulty local upstreams), ``circuits`` (the breakers of
a config, their state and manual control).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from .. import LlmError, LlmRequest, StreamReset, trace
from ..config import PROVIDER_KINDS, ConfigError, ProviderSettings, Settings, build, load
from . import _render

if TYPE_CHECKING:
    from ..testing._chaos_run import ChaosRun

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2

_KEY_ENV: Final = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
_DEFAULT_MODEL: Final = {"openai": "gpt-4o-mini", "anthropic": "claude-3-5-haiku-latest"}


class UsageError(Exception):
    """A command line that cannot run; the message is the one line shown."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vex-llm",
        description="Call LLM providers through vex-llm's resilience layer.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    ask = commands.add_parser("ask", help="ask one question through the resilience stack")
    ask.add_argument("prompt", help="the question")
    ask.add_argument(
        "--provider",
        choices=PROVIDER_KINDS,
        help="openai, anthropic, mock or a preset (default: openai or anthropic when its key "
        "is set, else the mock)",
    )
    ask.add_argument("--model", help="model name (default: the provider's usual one)")
    ask.add_argument("--base-url", help="endpoint root, e.g. http://127.0.0.1:8000/v1")
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
    ask.add_argument("--verbose", "-v", action="store_true", help="show the decision trace")

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

    circuits = commands.add_parser("circuits", help="show or change the circuits of a config")
    circuits.add_argument("--config", type=Path, required=True, help="the TOML config")
    circuits.add_argument("--redis", help="Redis URL whose shared circuits to show")
    action = circuits.add_mutually_exclusive_group()
    action.add_argument("--reset", metavar="NAME", help="reset a circuit to closed")
    action.add_argument("--open", metavar="NAME", help="hold a circuit open until reset")
    return parser


# -- ask ---------------------------------------------------------------------------------


def _has_key(kind: str) -> bool:
    name = _KEY_ENV.get(kind)
    return bool(name and os.environ.get(name))


def _provider_entry(spec: str, index: int, *, base_url: str | None = None) -> ProviderSettings:
    kind, _, model = spec.partition(":")
    if kind not in PROVIDER_KINDS:
        msg = f"unknown provider {kind!r}; use one of {', '.join(PROVIDER_KINDS)}"
        raise UsageError(msg)
    if kind in _KEY_ENV and not _has_key(kind) and base_url is None:
        msg = f"provider {kind!r} needs an API key: set {_KEY_ENV[kind]} (or pass --base-url)"
        raise UsageError(msg)
    name = kind if index == 0 else f"{kind}-{index + 1}"
    return ProviderSettings(
        name=name,
        kind=kind,
        model=model or _DEFAULT_MODEL.get(kind),
        base_url=base_url,
    )


def _ask_settings(args: argparse.Namespace) -> tuple[Settings, str | None]:
    """The providers to ask, and a note for the user when the mock was picked for them."""
    if args.config is not None:
        settings = load(args.config)
        return Settings(
            providers=settings.providers,
            deadline=settings.deadline or args.deadline,
            redis=settings.redis,
            source=settings.source,
        ), None
    note = None
    kind = args.provider
    if kind is None:
        kind = next((k for k in ("openai", "anthropic") if _has_key(k)), "mock")
        if kind == "mock" and args.base_url is None:
            note = "no OPENAI_API_KEY or ANTHROPIC_API_KEY set: answering with the mock model"
        elif kind == "mock":
            kind = "openai"  # a --base-url alone means an OpenAI-compatible local server
    spec = kind if args.model is None else f"{kind}:{args.model}"
    entries = [_provider_entry(spec, 0, base_url=args.base_url)]
    entries += [_provider_entry(s, i + 1) for i, s in enumerate(args.fallback)]
    return Settings(providers=tuple(entries), deadline=args.deadline), note


async def _ask(args: argparse.Namespace) -> int:
    settings, note = _ask_settings(args)
    if note:
        _render.err(f"vex-llm: {note}")
    llm = build(settings)
    with trace() as events:
        try:
            async with llm:
                request = LlmRequest.from_prompt(args.prompt)
                if args.stream:
                    served = await _stream(llm.stream(request))
                else:
                    response = await llm.complete(request)
                    served = response.provider
                    _render.out(response.content)
        except LlmError as exc:
            _render.err(f"vex-llm: {type(exc).__name__}: {exc}")
            if args.verbose:
                _render.err(events.format())
            return EXIT_FAILED
    circuits = ", ".join(f"{n}: {c.circuit_state.value}" for n, c in llm.circuits.items())
    _render.out(f"[answered by {served or '?'} · circuits {circuits}]")
    if args.verbose:
        _render.err(events.format())
    return EXIT_OK


async def _stream(chunks: object) -> str:
    from collections.abc import AsyncIterator

    assert isinstance(chunks, AsyncIterator)
    served = ""
    async for chunk in chunks:
        if isinstance(chunk, StreamReset):
            _render.write("\n[stream restarted on another provider]\n")
            continue
        served = chunk.provider or served
        _render.write(chunk.delta)
    _render.write("\n")
    return served


# -- chaos -------------------------------------------------------------------------------


async def _chaos(args: argparse.Namespace) -> int:
    from ..testing.chaos import DEFAULT_SCENARIO, SCENARIOS, run_chaos
    from ._plot import check_out

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
    from ._plot import write_timeline

    out.mkdir(parents=True, exist_ok=True)
    report = out / "report.json"
    report.write_text(json.dumps(run.to_json(), indent=1))
    return report, write_timeline(run, out / "timeline.png")


# -- circuits ----------------------------------------------------------------------------


async def _circuits(args: argparse.Namespace) -> int:
    settings = load(args.config)
    redis_url = args.redis or settings.redis
    store = None
    if redis_url:
        from ..stores.redis import RedisStore

        store = RedisStore(redis_url)
    try:
        llm = build(settings, store=store)
        target = args.reset or args.open
        if target is not None:
            if target not in llm.circuits:
                msg = f"no circuit named {target!r}; the config has {', '.join(llm.circuits)}"
                raise UsageError(msg)
            await llm.circuits[target].breaker.apply("reset" if args.reset else "isolate")
        rows = []
        for name, circuit in llm.circuits.items():
            stats = await circuit.breaker.fetch_stats()
            rows.append(
                (
                    name,
                    stats.state.value + (" (held open)" if stats.isolated else ""),
                    stats.total_requests,
                    stats.total_failures,
                    stats.circuit_opens,
                    stats.rejected,
                    "-" if stats.retry_after is None else f"{stats.retry_after:.1f}s",
                )
            )
        _render.circuits_table(rows, shared=redis_url is not None)
        await llm.aclose()
    finally:
        if store is not None:
            await store.aclose()
    return EXIT_OK


# -- entry -------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Args:
        argv: Arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        0 on success, 1 when a call failed, 2 on bad usage or a bad config.
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    # The library logs transitions and decisions; the CLI shows them only with --verbose.
    # Restored afterwards, so main() called in-process leaves logging as it found it.
    library_log = logging.getLogger("vex_llm")
    saved = (library_log.propagate, list(library_log.handlers), library_log.level)
    if getattr(args, "verbose", False):
        handler: logging.Handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        library_log.setLevel(logging.INFO)
    else:
        handler = logging.NullHandler()
    library_log.addHandler(handler)
    library_log.propagate = False
    handlers = {"ask": _ask, "chaos": _chaos, "circuits": _circuits}
    try:
        return asyncio.run(handlers[args.command](args))
    except (UsageError, ConfigError) as exc:
        _render.err(f"vex-llm: {exc}")
        return EXIT_USAGE
    except LlmError as exc:
        _render.err(f"vex-llm: {type(exc).__name__}: {exc}")
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
