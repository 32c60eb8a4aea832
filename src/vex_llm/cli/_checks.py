"""Checks of command-line values: every bad value becomes one line that names the flag.

The library's own checks raise ``ValueError`` from deep inside a constructor (or, for a
URL, from the HTTP client on the first call, as an exception group). The command line
checks what it was given first, so the user reads which flag is wrong and why.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from typing import BinaryIO, Final
from urllib.parse import urlsplit

from .._limits import MAX_SECONDS, check_count, check_seconds, show
from .._urls import mask_url, url_problem


class UsageError(Exception):
    """A command line that cannot run (exit 2); the message is the one line shown."""


class CommandFailed(Exception):
    """The command ran but could not do its job (exit 1); the message is the line shown."""


HTTP_SCHEMES: Final = ("http", "https")
REDIS_SCHEMES: Final = ("redis", "rediss", "unix")


def seconds(flag: str, value: float, *, zero: bool = False, maximum: float = MAX_SECONDS) -> float:
    """A duration flag: the library's one duration check (``check_seconds``), said as a flag.

    Args:
        flag: The flag, as the message starts (``"--deadline"``).
        value: What argparse parsed.
        zero: Whether 0 is allowed (a delay may be 0; a deadline may not).
        maximum: The largest value allowed (default ``MAX_SECONDS``, 1e7).

    Raises:
        UsageError: On a value out of range, ``nan`` or ``inf``.
    """
    try:
        return check_seconds(value, zero=zero, maximum=maximum)
    except ValueError:
        low = ">= 0" if zero else "> 0"
        bound = f"{low} and <= {maximum:.0f}"
        msg = f"{flag} must be a finite number of seconds {bound}, got {show(value)}"
        raise UsageError(msg) from None


def count(flag: str, value: int, *, minimum: int, maximum: int) -> int:
    """A count flag (a port, a concurrency): the library's one count check, said as a flag.

    Raises:
        UsageError: On a value outside ``[minimum, maximum]``.
    """
    try:
        return check_count(value, minimum=minimum, maximum=maximum)
    except ValueError:
        msg = f"{flag} must be in {minimum}-{maximum}, got {show(value)}"
        raise UsageError(msg) from None


def text(what: str, value: str) -> str:
    """Text that is not empty and is valid UTF-8.

    Python decodes the command line with ``surrogateescape``: bytes that are not UTF-8
    arrive as lone surrogates, which no provider (nor JSON) can carry.

    Raises:
        UsageError: On an empty (or blank) value or one that is not valid UTF-8.
    """
    if not value.strip():
        msg = f"{what} is empty"
        raise UsageError(msg)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        msg = f"{what} is not valid UTF-8 (a byte that is not text at position {exc.start})"
        raise UsageError(msg) from None
    return value


def prompt(value: str, stdin: BinaryIO | None = None) -> str:
    """The prompt: the argument itself, or standard input when it is ``-``.

    Args:
        value: The ``prompt`` argument.
        stdin: Where ``-`` reads from (default: this process's standard input).

    Raises:
        UsageError: On an empty prompt or one that is not valid UTF-8.
    """
    if value != "-":
        return text("the prompt", value)
    raw = (stdin or sys.stdin.buffer).read()
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"the prompt on standard input is not valid UTF-8 (byte {exc.start})"
        raise UsageError(msg) from None
    return text("the prompt on standard input", decoded.rstrip("\r\n"))


def url(flag: str, value: str, *, schemes: Sequence[str]) -> str:
    """A URL with one of ``schemes``, a host and a port in range (``unix``: a path).

    Raises:
        UsageError: On anything else, naming the flag and what is wrong.
    """
    expected = " or ".join(f"{scheme}://" for scheme in schemes)
    if not value:
        msg = f"{flag} is empty; give a URL starting with {expected}"
        raise UsageError(msg)
    local_socket = value.startswith("unix:")
    problem = url_problem(value, schemes, host=not local_socket)
    if problem is None and local_socket and not urlsplit(value).path:
        problem = "needs a socket path, e.g. unix:///run/redis.sock"
    if problem is not None:
        msg = f"{flag} {problem}, got {shown(value)}"
        raise UsageError(msg)
    return value


def shown(value: str) -> str:
    """A URL as it may be printed: credentials masked, quoted."""
    return repr(mask_url(value))


def require(command: str, modules: Sequence[str], extra: str) -> None:
    """Check that the optional packages a command needs are installed.

    Raises:
        UsageError: Naming the missing packages and the extra that installs them.
    """
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        msg = (
            f"{command} needs {', '.join(missing)}, which are not installed: "
            f"pip install 'vex-llm[{extra}]'"
        )
        raise UsageError(msg)
