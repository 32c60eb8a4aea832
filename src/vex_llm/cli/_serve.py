"""``vex-llm serve``: the OpenAI- and Anthropic-compatible gateway on uvicorn.

Each ``[[provider]]`` of the config is served under its own name, behind its own stack
(its circuit, retries and timeouts; the config's deadline). With no config: a mock model,
plus ``openai`` / ``anthropic`` when ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY`` are set.
Gateway keys come from ``VEX_GATEWAY_KEYS`` (comma-separated).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ..config import ProviderSettings, Settings, build_models, load
from . import _render
from ._checks import CommandFailed, UsageError

if TYPE_CHECKING:
    pass

EXIT_OK: Final = 0
KEYS_ENV: Final = "VEX_GATEWAY_KEYS"
"""The environment variable holding the gateway keys (comma-separated)."""


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``serve`` command."""
    serve = commands.add_parser(
        "serve",
        help="run the OpenAI- and Anthropic-compatible gateway",
        description="Serve POST /v1/chat/completions and POST /v1/messages (plus /v1/models, "
        "/v1/circuits, /healthz, /readyz) over the providers of a config, each under its "
        "own name behind its own resilience stack. Without --config: a mock model, plus "
        "openai and anthropic when OPENAI_API_KEY / ANTHROPIC_API_KEY are set. Clients "
        f"authenticate with a key from {KEYS_ENV} (comma-separated) as 'Authorization: "
        "Bearer KEY' or 'x-api-key: KEY'; without keys only a loopback host is allowed "
        "unless --no-auth is given.",
    )
    serve.add_argument("--config", type=Path, help="the TOML config (default: built in)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on")
    serve.add_argument(
        "--no-auth",
        action="store_true",
        help="serve without gateway keys on a non-loopback address",
    )


def default_settings() -> Settings:
    """The built-in config: ``mock``, and ``openai`` / ``anthropic`` when their keys are set."""
    providers = [ProviderSettings(name="mock", kind="mock")]
    if os.environ.get("OPENAI_API_KEY"):
        providers.append(ProviderSettings(name="openai", kind="openai", model="gpt-4o-mini"))
    if os.environ.get("ANTHROPIC_API_KEY"):
        model = "claude-3-5-haiku-latest"
        providers.append(ProviderSettings(name="anthropic", kind="anthropic", model=model))
    return Settings(providers=tuple(providers), deadline=60.0, source="<built-in>")


def gateway_keys() -> tuple[str, ...]:
    """The gateway keys from ``VEX_GATEWAY_KEYS`` (blank entries dropped)."""
    raw = os.environ.get(KEYS_ENV, "")
    return tuple(key.strip() for key in raw.split(",") if key.strip())


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (``localhost`` counts)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _describe(entry: ProviderSettings) -> str:
    return f"{entry.name} ({entry.kind}{'' if entry.model is None else ' ' + entry.model})"


def _served(settings: Settings) -> list[str]:
    """A line per public model name: what it is served by, in fallback order."""
    if not settings.models:
        return [_describe(entry) for entry in settings.providers]
    by_name = {entry.name: entry for entry in settings.providers}
    return [
        f"{model.name} -> " + ", ".join(_describe(by_name[name]) for name in model.providers)
        for model in settings.models
    ]


async def serve(args: argparse.Namespace) -> int:
    """Run the gateway until interrupted (Ctrl-C or SIGTERM).

    Raises:
        UsageError: A non-loopback host without keys and without ``--no-auth``; a bad port.
        ConfigError: A bad config, or a provider's key not set.
        CommandFailed: The server could not start (port taken).
    """
    import uvicorn

    from ..gateway import create_app

    keys = gateway_keys()
    if not keys and not is_loopback(args.host) and not args.no_auth:
        msg = (
            f"refusing to serve on {args.host} without gateway keys: set {KEYS_ENV}, "
            "listen on 127.0.0.1, or pass --no-auth"
        )
        raise UsageError(msg)
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0-65535, got {args.port}")
    settings = default_settings() if args.config is None else load(args.config)
    # One stack per [[model]] table (each provider under its own name when there is none):
    # the same build_models() a program calls with the same file.
    async with build_models(settings) as models:
        app = create_app(models, keys=keys)
        where = f"http://{args.host}:{args.port}"
        _render.out(f"vex-llm serve: {where} ({settings.source})")
        for line in _served(settings):
            _render.out(f"  model {line}")
        if not keys:
            _render.out(f"  no gateway keys ({KEYS_ENV} unset): anyone who can connect may call")
        config = uvicorn.Config(
            app, host=args.host, port=args.port, lifespan="off", log_level="warning"
        )
        try:
            await uvicorn.Server(config).serve()
        except SystemExit:  # uvicorn exits when it cannot bind
            raise CommandFailed(f"could not listen on {where}") from None
    return EXIT_OK
