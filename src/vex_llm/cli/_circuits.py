"""``vex-llm circuits``: the circuit breakers of a config, their state and manual control."""

from __future__ import annotations

import argparse
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ..config import ConfigError, build, load
from . import _checks, _render
from ._checks import CommandFailed, UsageError

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from .. import ResilienceStack

EXIT_OK: Final = 0

Row = tuple[str, str, int, int, int, int, str]
"""A circuit's table row: name, state, requests, failures, opens, rejected, next probe."""

_REDIS_TIMEOUT: Final = 2.0
"""Seconds a Redis operation of ``circuits`` may take: a person waits, not a request."""


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``circuits`` command."""
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


async def _redis_client(url: str, flag: str) -> Redis:
    """A client of a Redis that answered a ping, so no change is reported that was not made.

    Raises:
        UsageError: On a URL that is not a Redis URL, or without the redis package.
        CommandFailed: If Redis does not answer.
    """
    _checks.url(flag, url, schemes=_checks.REDIS_SCHEMES)
    _checks.require("circuits --redis", ("redis",), "redis")
    import redis.asyncio as redis_asyncio
    from redis.exceptions import RedisError

    try:
        client = redis_asyncio.Redis.from_url(
            url, socket_timeout=_REDIS_TIMEOUT, socket_connect_timeout=_REDIS_TIMEOUT
        )
    except ValueError as exc:
        msg = f"{flag} is not a usable Redis URL: {exc}"
        raise UsageError(msg) from None
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        msg = f"cannot reach Redis at {_checks.shown(url)} ({exc}); nothing was shown or changed"
        raise CommandFailed(msg) from None
    return client


async def circuits(args: argparse.Namespace) -> int:
    from ..stores import RedisStore

    settings = load(args.config)
    redis_url = args.redis or settings.redis
    flag = "--redis" if args.redis else f"{settings.source}: redis"
    target = args.reset or args.open
    async with AsyncExitStack() as resources:
        store = None
        if redis_url is not None:
            client = await _redis_client(redis_url, flag)
            resources.push_async_callback(client.aclose)
            store = RedisStore.from_client(client, timeout=_REDIS_TIMEOUT)
            resources.push_async_callback(store.aclose)
        try:
            llm = build(settings, store=store, require_keys=False)  # no provider is called
        except ConfigError:
            raise
        except ValueError as exc:  # a provider refused a setting (base URL, model, ...)
            raise UsageError(f"{settings.source}: {exc}") from None
        resources.push_async_callback(llm.aclose)
        if target is not None:
            if target not in llm.circuits:
                msg = f"no circuit named {target!r}; the config has {', '.join(llm.circuits)}"
                raise UsageError(msg)
            await llm.circuits[target].breaker.apply("reset" if args.reset else "isolate")
        rows = await _rows(llm)
        if store is not None and store.errors:
            # Redis failed after the ping (gone, or refusing scripts): the breakers fell back
            # to local state, so what they report is not the shared circuit.
            unsure = f" whether {target!r} changed for every process is unknown;" if target else ""
            msg = (
                f"Redis at {_checks.shown(redis_url or '')} failed during the command (it "
                f"stopped answering, or refused vex-llm's Lua scripts):{unsure} run it again "
                "once Redis answers and allows scripts"
            )
            raise CommandFailed(msg)
    _show(rows, redis_url, target, reset=bool(args.reset))
    return EXIT_OK


async def _rows(llm: ResilienceStack) -> list[Row]:
    """One table row per circuit: name, state, counts and when the next probe may pass."""
    rows: list[Row] = []
    for name, circuit in llm.circuits.items():
        stats = await circuit.breaker.fetch_stats()
        rows.append(
            (
                name,
                # The state names of the vex_llm_circuit_state gauge.
                "forced_open (held open)" if stats.isolated else stats.state.value,
                stats.total_requests,
                stats.total_failures,
                stats.circuit_opens,
                stats.rejected,
                "-" if stats.retry_after is None else f"{stats.retry_after:.1f}s",
            )
        )
    return rows


def _show(rows: list[Row], redis_url: str | None, target: str | None, *, reset: bool) -> None:
    """Print the table, and say how far a change reached."""
    if redis_url is None:
        _render.circuits_table(rows, title="circuits of this process only (no Redis)")
        if target is not None:
            done = "reset" if reset else "held open"
            _render.err(
                f"vex-llm: {target!r} was {done} in this process's memory only, which ends "
                "now: no other process sees the change. Give --redis URL (or redis in the "
                "config) to change the circuit every process shares."
            )
    else:
        where = _checks.shown(redis_url)
        _render.circuits_table(rows, title=f"circuits shared through Redis at {where}")
