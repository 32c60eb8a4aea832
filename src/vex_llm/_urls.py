"""URLs as users paste them: credentials masked before any URL is shown, and one check of
scheme, host and port for every URL a setting takes (providers, config files, the CLI).

A URL copied from a dashboard carries ``user:KEY@`` or ``?api-key=KEY``; it reaches error
messages, reprs, logs and traces unless it is masked at the door.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final
from urllib.parse import unquote, urlsplit

MASK: Final = "***"
"""What a credential is replaced with."""

SECRET_QUERY_NAMES: Final = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "auth",
        "auth_token",
        "authorization",
        "client_secret",
        "code",
        "key",
        "password",
        "secret",
        "sig",
        "signature",
        "token",
        "x_api_key",
    }
)
"""Query parameters whose values are masked (compared lower-cased, ``-`` read as ``_``)."""

# The authority is everything up to the first / ? or #; its userinfo ends at its last @.
_USERINFO: Final = re.compile(r"^((?:[A-Za-z][A-Za-z0-9+.-]*:)?//)?([^/?#]*)@")
_QUERY_PAIR: Final = re.compile(r"([?&;])([^=&#;]*)=([^&#;]*)")


def _is_secret_name(name: str) -> bool:
    return unquote(name).strip().lower().replace("-", "_") in SECRET_QUERY_NAMES


def mask_url(url: str) -> str:
    """The URL with its credentials replaced by ``***``, safe to print or log.

    Masks the userinfo (``http://user:KEY@host`` -> ``http://***:***@host``; a lone user
    name is masked too, as it is often the key) and the values of query parameters named
    in ``SECRET_QUERY_NAMES`` (``?api-key=KEY`` -> ``?api-key=***``). Works on strings
    that are not valid URLs, so a bad-URL error can show what was given.

    Args:
        url: Any string.

    Returns:
        The masked string (unchanged when it holds no credentials).
    """

    def userinfo(match: re.Match[str]) -> str:
        masked = f"{MASK}:{MASK}" if ":" in match[2] else MASK
        return f"{match[1] or ''}{masked}@"

    def pair(match: re.Match[str]) -> str:
        if not _is_secret_name(match[2]):
            return match[0]
        return f"{match[1]}{match[2]}={MASK}"

    return _QUERY_PAIR.sub(pair, _USERINFO.sub(userinfo, url, count=1))


def url_secrets(url: str) -> tuple[str, ...]:
    """The credentials inside ``url`` (raw and percent-decoded), to scrub from messages.

    Args:
        url: The URL as given.

    Returns:
        The password (or the lone user name) and secret query values; empty when none.
    """
    found: list[str] = []
    match = _USERINFO.match(url)
    if match:
        user, colon, password = match[2].partition(":")
        found.append(password if colon else user)
    found += [value for _, name, value in _QUERY_PAIR.findall(url) if _is_secret_name(name)]
    out = {text for value in found for text in (value, unquote(value)) if text}
    return tuple(sorted(out, key=len, reverse=True))


def url_problem(url: str, schemes: Sequence[str], *, host: bool = True) -> str | None:
    """What is wrong with ``url`` as a setting, or ``None`` when nothing is.

    A URL must parse, hold no white space or control characters, have one of ``schemes``,
    a host (unless ``host=False``: a ``unix://`` socket path has none) and, when it names
    a port, one in 1..65535.

    Args:
        url: The URL as given.
        schemes: The schemes accepted, e.g. ``("http", "https")``.
        host: Whether a host is required.

    Returns:
        A short phrase for the caller's message (``"has no host"``), or ``None``.
    """
    if not url.isprintable() or any(c.isspace() for c in url):
        return "is not a URL (it holds white space or control characters)"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "is not a URL"
    try:
        port = parts.port  # raises on a port that is not a number in 0..65535
    except ValueError:
        return "has a port outside 1..65535"
    if parts.scheme not in schemes:
        wanted = " or ".join(f"{scheme}://" for scheme in schemes)
        found = f"has scheme {parts.scheme!r}" if parts.scheme else "has no scheme"
        return f"{found} (give a URL starting with {wanted})"
    if host and not parts.hostname:
        return "has no host"
    if port == 0:
        return "has a port outside 1..65535"
    return None
