"""``vex-llm fake-server``: the FakeLLMServer on 127.0.0.1 until Ctrl-C, with faults from flags.

``--fault SPEC`` maps onto the ``Fault`` builders of ``vex_llm.testing`` (see ``FAULT_HELP``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Literal

from .._limits import check_count, check_seconds, checked_as
from . import _checks, _render
from ._checks import CommandFailed, UsageError

if TYPE_CHECKING:
    from ..testing import FakeLLMServer, Fault

FAULT_HELP: Final = """\
SPEC is parts joined by ':'. One part names the fault, the others narrow it.
  faults:   outage (503), status=CODE, rate-limited, overloaded, context-length,
            latency=SECONDS, slow-first-token=SECONDS, hang, reset, cut, stall,
            malformed, garbage-sse, noisy-sse, stream-error
  details:  retry-after=SECONDS (status, rate-limited), jitter=SECONDS (latency),
            after=CHUNKS (reset, cut, stall, stream-error), seconds=SECONDS (stall)
  requests: rate=P (0-1, drawn with --seed), times=N, wire=openai|anthropic,
            stream=yes|no
examples:
  --fault outage                    every request gets 503
  --fault status=429:retry-after=2  429 with Retry-After: 2
  --fault rate=0.3:status=503       30% of requests get 503
  --fault latency=0.5:times=10      the next 10 requests wait half a second first
  --fault cut:after=3:stream=yes    streams end after 3 chunks, without a finish reason
"""

Options = dict[str, str]

_DELAY: Final = functools.partial(check_seconds, zero=True)
_WHOLE: Final = functools.partial(check_count, minimum=0)


def _number(options: Options, key: str, default: float | None = None) -> float | None:
    raw = options.get(key)
    if raw is None:
        return default
    if not raw:
        msg = f"{key} needs a value: {key}=N"
        raise ValueError(msg)
    try:
        return float(raw)
    except ValueError:
        msg = f"{key} must be a number, got {raw!r}"
        raise ValueError(msg) from None


def _count(options: Options, key: str, default: int | None = None) -> int | None:
    raw = options.get(key)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit():
        msg = f"{key} must be a whole number >= 0, got {raw!r}"
        raise ValueError(msg)
    return checked_as(key, _WHOLE, int(raw))


def _seconds(options: Options, key: str, default: float | None = None) -> float | None:
    """A duration part (``latency=0.5``): the library's one duration check, 0 allowed."""
    value = _number(options, key, default)
    return None if value is None else checked_as(key, _DELAY, value)


def _value(options: Options, key: str) -> float:
    value = _seconds(options, key)
    if value is None:
        msg = f"{key} needs a value: {key}=N"
        raise ValueError(msg)
    return value


def _status(options: Options) -> int:
    raw = options.get("status", "")
    if not raw.isascii() or not raw.isdigit():
        msg = f"status must be an HTTP status code, got {raw!r}"
        raise ValueError(msg)
    return int(raw)


def _builders() -> dict[str, tuple[Callable[[Options], Fault], frozenset[str]]]:
    """Fault names, how each maps onto a ``Fault`` builder, and the options it takes."""
    from ..testing import Fault

    after = frozenset({"after"})
    return {
        "outage": (lambda o: Fault.error(503), frozenset()),
        "status": (
            lambda o: Fault.error(_status(o), retry_after=_seconds(o, "retry-after")),
            frozenset({"retry-after"}),
        ),
        "rate-limited": (
            lambda o: Fault.rate_limited(retry_after=_seconds(o, "retry-after")),
            frozenset({"retry-after"}),
        ),
        "overloaded": (lambda o: Fault.overloaded(), frozenset()),
        "context-length": (lambda o: Fault.context_length(), frozenset()),
        "latency": (
            lambda o: Fault.latency(_value(o, "latency"), jitter=_seconds(o, "jitter", 0.0) or 0.0),
            frozenset({"jitter"}),
        ),
        "slow-first-token": (
            lambda o: Fault.slow_first_token(_value(o, "slow-first-token")),
            frozenset(),
        ),
        "hang": (lambda o: Fault.hang(), frozenset()),
        "reset": (lambda o: Fault.reset(after_chunks=_count(o, "after")), after),
        "cut": (lambda o: Fault.cut(after_chunks=_count(o, "after", 1) or 0), after),
        "stall": (
            lambda o: Fault.stall(
                after_chunks=_count(o, "after", 1) or 0, seconds=_seconds(o, "seconds")
            ),
            frozenset({"after", "seconds"}),
        ),
        "malformed": (lambda o: Fault.malformed(), frozenset()),
        "garbage-sse": (lambda o: Fault.garbage_sse(), frozenset()),
        "noisy-sse": (lambda o: Fault.noisy_sse(), frozenset()),
        "stream-error": (
            lambda o: Fault.stream_error(after_chunks=_count(o, "after", 0) or 0),
            after,
        ),
    }


_RULE_KEYS: Final = frozenset({"rate", "times", "wire", "stream"})
_YES_NO: Final = {"yes": True, "true": True, "no": False, "false": False}


@dataclass(frozen=True, slots=True, kw_only=True)
class FaultSpec:
    """One ``--fault``: the fault and the rule that says which requests get it."""

    fault: Fault
    rate: float = 1.0
    times: int | None = None
    wire: Literal["openai", "anthropic"] | None = None
    stream: bool | None = None


def parse_fault(spec: str) -> FaultSpec:
    """Read one ``--fault`` value (see ``FAULT_HELP``).

    Raises:
        ValueError: Naming the part that is wrong.
    """
    builders = _builders()
    options: Options = {}
    for part in spec.split(":"):
        key, sep, value = part.partition("=")
        key = key.strip().replace("_", "-")
        if not key or (sep and not value):
            msg = f"empty part in {spec!r}; write NAME or NAME=VALUE parts joined by ':'"
            raise ValueError(msg)
        if key in options:
            msg = f"{key} is given twice"
            raise ValueError(msg)
        options[key] = value
    names = [key for key in options if key in builders]
    if len(names) != 1:
        found = "none" if not names else ", ".join(names)
        msg = f"name exactly one fault ({', '.join(builders)}); found {found}"
        raise ValueError(msg)
    name = names[0]
    build, takes = builders[name]
    unknown = set(options) - {name} - takes - _RULE_KEYS
    if unknown:
        known = ", ".join(sorted(takes | _RULE_KEYS))
        msg = f"{name} does not take {', '.join(sorted(unknown))} (it takes {known})"
        raise ValueError(msg)
    wire = options.get("wire")
    if wire not in (None, "openai", "anthropic"):
        msg = f"wire must be openai or anthropic, got {wire!r}"
        raise ValueError(msg)
    stream = options.get("stream")
    if stream is not None and stream not in _YES_NO:
        msg = f"stream must be yes or no, got {stream!r}"
        raise ValueError(msg)
    rate = _number(options, "rate", 1.0)
    if rate is None or not 0.0 <= rate <= 1.0:
        msg = f"rate must be a probability in [0, 1], got {options.get('rate')!r}"
        raise ValueError(msg)
    return FaultSpec(
        fault=build(options),
        rate=rate,
        times=_count(options, "times"),
        wire="openai" if wire == "openai" else "anthropic" if wire == "anthropic" else None,
        stream=None if stream is None else _YES_NO[stream],
    )


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``fake-server`` command."""
    parser = commands.add_parser(
        "fake-server",
        help="run a fake OpenAI/Anthropic server on 127.0.0.1, with faults on cue",
        description="Serve the FakeLLMServer of vex_llm.testing on 127.0.0.1 until Ctrl-C "
        "(or SIGTERM). The first line on standard output is its OpenAI base URL, for "
        "`vex-llm ask --base-url URL ...`. It answers 'You said: <prompt>'.",
        epilog="faults (--fault SPEC, repeatable; tried in order, latencies add up, the first "
        "other fault that matches applies):\n" + FAULT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: a free one)")
    parser.add_argument(
        "--fault", action="append", default=[], metavar="SPEC", help="a fault (see below)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of fault rates (0)")
    parser.add_argument(
        "--chunk-delay", type=float, default=0.0, help="seconds between streamed chunks (0)"
    )


async def serve(args: argparse.Namespace) -> int:
    """Run the server until SIGINT or SIGTERM; returns the exit code.

    Raises:
        UsageError: On a bad port or fault.
        CommandFailed: If the port cannot be bound.
    """
    from ..testing import FakeLLMServer

    _checks.count("--port", args.port, minimum=0, maximum=65535)
    _checks.seconds("--chunk-delay", args.chunk_delay, zero=True)
    specs: list[FaultSpec] = []
    for text in args.fault:
        try:
            specs.append(parse_fault(text))
        except ValueError as exc:
            msg = f"--fault {text!r}: {exc}"
            raise UsageError(msg) from None
    server = FakeLLMServer(seed=args.seed, port=args.port, chunk_delay=args.chunk_delay)
    with _stop_signals() as stop:
        try:
            await server.start()
        except OSError as exc:
            msg = f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}"
            raise CommandFailed(msg) from None
        served = await _serve_until(server, specs, stop)
    _render.err(f"vex-llm fake-server: stopped after {served} request(s)")
    return 0


async def _serve_until(server: FakeLLMServer, specs: list[FaultSpec], stop: asyncio.Event) -> int:
    """Inject the faults, say where the server is, serve until ``stop``; the requests served."""
    try:
        for spec in specs:
            server.inject(
                spec.fault, rate=spec.rate, times=spec.times, wire=spec.wire, stream=spec.stream
            )
        _render.out(server.base_url)
        _render.err(
            f"vex-llm fake-server: OpenAI base URL {server.base_url}, Anthropic base URL "
            f"{server.anthropic_base_url}, admin {server.admin_url}; "
            f"{len(specs) or 'no'} fault rule(s). Ctrl-C stops it."
        )
        _render.err(f"try: vex-llm ask --base-url {server.base_url} 'hello'")
        await stop.wait()
    finally:
        served = len(server.journal)
        await server.stop()
    return served


@contextlib.contextmanager
def _stop_signals() -> Iterator[asyncio.Event]:
    """An event set by SIGINT or SIGTERM, caught from before the URL is printed (a
    supervisor may stop the server as soon as it reads it). Where the loop cannot catch
    signals, Ctrl-C still ends the command (exit 130)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    caught: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            caught.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread, or a platform without loop signal handlers
    try:
        yield stop
    finally:
        for sig in caught:
            loop.remove_signal_handler(sig)
