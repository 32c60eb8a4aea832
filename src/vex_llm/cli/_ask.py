"""``vex-llm ask``: one question through the resilience stack."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .. import (
    AuthenticationFailed,
    LlmError,
    LlmResponse,
    ResilientProvider,
    StreamChunk,
    StreamReset,
    collect,
    trace,
)
from ..config import ConfigError, ProviderSettings, Settings, build, load, missing_key
from ..providers import KINDS
from . import _checks, _render, _request
from ._checks import UsageError

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``ask`` command."""
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
    ask.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="PATH_OR_URL",
        help="attach an image: a PNG, JPEG, GIF or WebP file, or an http(s) URL (repeatable)",
    )
    ask.add_argument(
        "--json-schema",
        type=Path,
        metavar="FILE",
        help="answer in JSON matching the JSON Schema in FILE (strict; named after the file)",
    )
    ask.add_argument(
        "--tools",
        type=Path,
        metavar="FILE",
        help="offer the tools in FILE (a JSON list, OpenAI or plain {name, description, "
        "parameters} entries) and print the calls the model makes",
    )
    ask.add_argument(
        "--json",
        action="store_true",
        help="print the answer as one JSON object (content, tool_calls, usage, provider, ...)",
    )
    ask.add_argument("--deadline", type=float, default=60.0, help="seconds for the whole call")
    ask.add_argument(
        "--verbose", "-v", action="store_true", help="show each decision as it is made"
    )


def _has_key(kind: str) -> bool:
    return missing_key(ProviderSettings(name=kind, kind=kind)) is None


def _provider_entry(
    spec: str, index: int, *, flag: str, base_url: str | None = None
) -> ProviderSettings:
    """One provider of the command line: ``--provider``/``--model`` or a ``--fallback``."""
    kind, sep, model = spec.partition(":")
    if kind not in KINDS:
        msg = f"unknown provider {kind!r}; use one of {', '.join(KINDS)}"
        raise UsageError(msg)
    if sep:
        _checks.text(f"the model in {flag} {spec!r}", model)
    model = model or KINDS[kind].default_model or ""
    if not model and kind != "mock":
        fix = "add --model NAME" if index == 0 else f"write --fallback {kind}:MODEL"
        msg = f"{kind} has no default model (it serves the one it was started with): {fix}"
        raise UsageError(msg)
    name = kind if index == 0 else f"{kind}-{index + 1}"
    entry = ProviderSettings(name=name, kind=kind, model=model or None, base_url=base_url)
    key_env = missing_key(entry)  # the one key check, config's
    if key_env is not None:
        if index == 0:
            msg = (
                f"provider {kind!r} needs an API key: set {key_env} "
                "(or give --base-url of a server that needs none)"
            )
        else:  # --base-url is the first provider's only: no hint to use it here
            msg = f"fallback {kind!r} needs an API key: set {key_env}"
        raise UsageError(msg)
    return entry


def _ask_settings(args: argparse.Namespace) -> tuple[Settings, str | None]:
    """The providers to ask, and a note for the user when the mock was picked for them."""
    deadline = _checks.seconds("--deadline", args.deadline)
    if args.config is not None:
        given = [
            flag
            for flag, value in (
                ("--provider", args.provider),
                ("--model", args.model),
                ("--base-url", args.base_url),
                ("--fallback", args.fallback or None),
            )
            if value is not None
        ]
        if given:
            msg = f"--config names the providers; drop {', '.join(given)}"
            raise UsageError(msg)
        settings = load(args.config)
        return Settings(
            providers=settings.providers,
            deadline=settings.deadline or deadline,
            redis=settings.redis,
            source=settings.source,
        ), None
    if args.base_url is not None:
        _checks.url("--base-url", args.base_url, schemes=_checks.HTTP_SCHEMES)
    note = None
    kind = args.provider
    if kind is None:
        kind = next((k for k in ("openai", "anthropic") if _has_key(k)), "mock")
        if kind == "mock" and args.base_url is None:
            note = "no OPENAI_API_KEY or ANTHROPIC_API_KEY set: answering with the mock model"
        elif kind == "mock":
            kind = "openai"  # a --base-url alone means an OpenAI-compatible local server
    if args.base_url is not None and kind == "mock":
        msg = "--base-url does not apply to the mock provider"
        raise UsageError(msg)
    spec = kind if args.model is None else f"{kind}:{args.model}"
    if args.model is not None:
        _checks.text("--model", args.model)
    entries = [_provider_entry(spec, 0, flag="--model", base_url=args.base_url)]
    entries += [_provider_entry(s, i + 1, flag="--fallback") for i, s in enumerate(args.fallback)]
    return Settings(providers=tuple(entries), deadline=deadline), note


def describe(exc: LlmError) -> str:
    """The failure as the user reads it: class and message, one line per provider tried."""
    if isinstance(exc, BaseExceptionGroup):
        lines = [f"{type(exc).__name__}: {exc.message}"]
        lines += [f"  {describe(inner)}" for inner in exc.exceptions if isinstance(inner, LlmError)]
        return "\n".join(lines)
    text = str(exc)
    if isinstance(exc, AuthenticationFailed):
        # The library's hint speaks to code ("pass api_key="); on the command line the
        # key can only come from the environment variable the same hint names.
        text = text.replace(" (or pass api_key=)", "")
    name = f" [{exc.provider}]" if exc.provider and exc.provider not in text else ""
    return f"{type(exc).__name__}{name}: {text}"


@dataclass(slots=True)
class _Terminal:
    """Whether the last thing written to standard output left a line open."""

    line_open: bool = False


async def ask(args: argparse.Namespace) -> int:
    """Ask one question and print the answer; returns the exit code.

    Raises:
        UsageError: On a bad flag, prompt, file or provider setting (checked before any call).
        ConfigError: On a bad config file.
    """
    settings, note = _ask_settings(args)
    prompt = _checks.prompt(args.prompt)  # after the flags: '-' may wait on a terminal
    request = _request.request(
        prompt, images=args.image, json_schema=args.json_schema, tools=args.tools
    )
    if note:
        _render.err(f"vex-llm: {note}")
    try:
        llm = build(settings)
    except ConfigError:
        raise
    except ValueError as exc:  # a provider refused a setting (base URL, model, ...)
        where = f"{settings.source}: " if args.config is not None else ""
        raise UsageError(f"{where}{exc}") from None
    terminal = _Terminal()
    with trace():  # the -v lines show times since the start of the call
        try:
            async with llm:
                if args.stream:
                    response = await _stream(llm.stream(request), terminal, echo=not args.json)
                else:
                    response = await llm.complete(request)
        except LlmError as exc:
            if terminal.line_open:
                _render.write("\n")  # the error goes on a line of its own
            _render.err(f"vex-llm: {describe(exc)}")
            return EXIT_FAILED
    _show(response, args, llm.circuits)
    return EXIT_OK


def _show(
    response: LlmResponse, args: argparse.Namespace, circuits: Mapping[str, ResilientProvider]
) -> None:
    """Print the answer (the streamed text is already out), its tool calls and who answered."""
    states = {name: circuit.circuit_state.value for name, circuit in circuits.items()}
    if args.json:
        _render.answer_json(response, states)
        return
    if not args.stream and (response.content or not response.tool_calls):
        _render.out(response.content)
    _render.answer_extras(response)
    listed = ", ".join(f"{name}: {state}" for name, state in states.items())
    _render.out(f"[answered by {response.provider or '?'} · circuits {listed}]")


async def _stream(
    chunks: AsyncIterator[StreamChunk], terminal: _Terminal, *, echo: bool
) -> LlmResponse:
    """Print the text as it arrives (unless ``echo`` is off) and collect the whole answer."""

    async def shown() -> AsyncIterator[StreamChunk]:
        async for chunk in chunks:
            if echo:
                _echo(chunk, terminal)
            yield chunk

    response = await collect(shown())
    if echo and (terminal.line_open or not response.tool_calls):
        _render.write("\n")
    terminal.line_open = False
    return response


def _echo(chunk: StreamChunk, terminal: _Terminal) -> None:
    """Print a chunk's text as it arrives (a reset says the answer starts over)."""
    if isinstance(chunk, StreamReset):
        _render.write("\n[stream restarted on another provider]\n")
        terminal.line_open = False
    elif chunk.delta:
        _render.write(chunk.delta)
        terminal.line_open = not chunk.delta.endswith("\n")
