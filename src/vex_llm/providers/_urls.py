"""Base URLs and keys as users paste them: validated when a provider is built, never echoed.

A key read from a file keeps its trailing newline; a URL copied from a dashboard carries
``user:KEY@`` or ``?api-key=KEY``. Both reach error messages, reprs, logs and traces unless
they are checked and masked at the door. This module does both, for the providers and
for the config and CLI code that validate settings before any provider exists.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import unquote

import httpx

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

SECRET_HEADER_NAMES: Final = frozenset(
    {"api-key", "authorization", "cookie", "proxy-authorization", "x-api-key", "x-goog-api-key"}
)
"""Extra headers whose values are scrubbed from messages like the key."""

# The authority is everything up to the first / ? or #; its userinfo ends at its last @.
_USERINFO: Final = re.compile(r"^((?:[A-Za-z][A-Za-z0-9+.-]*:)?//)?([^/?#]*)@")
_QUERY_PAIR: Final = re.compile(r"([?&;])([^=&#;]*)=([^&#;]*)")
_TOKEN: Final = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


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


def validate_base_url(url: str, *, owner: str = "", parameter: str = "base_url") -> httpx.URL:
    """Check a provider's base URL: scheme http or https, a host, a port in 1..65535.

    Args:
        url: The URL as given.
        owner: Who asks (``"OpenAIProvider"``), to start the message with.
        parameter: The setting's name (``"base_url"``, ``"OPENAI_BASE_URL"``, a config key).

    Returns:
        The parsed URL.

    Raises:
        ValueError: Naming ``parameter`` and showing the URL with credentials masked.
    """
    where = f"{owner} {parameter}".strip()
    value: object = url  # callers without a type checker pass other things
    if not isinstance(value, str):
        msg = f"{where} must be a string URL, got {type(value).__name__}"
        raise ValueError(msg)
    shown = repr(mask_url(url))
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        msg = f"{where} is not a URL: {shown}"
        raise ValueError(msg) from None  # the parser's message may quote the credentials
    if parsed.scheme not in ("http", "https"):
        msg = f"{where} must be an http:// or https:// URL, got {shown}"
        raise ValueError(msg)
    if not parsed.host:
        msg = f"{where} has no host: {shown}"
        raise ValueError(msg)
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        msg = f"{where} has a port outside 1..65535: {shown}"
        raise ValueError(msg)
    return parsed


def _bad_character(text: str) -> str | None:
    """Why ``text`` cannot be an HTTP header value (``None``: it can)."""
    for index, char in enumerate(text):
        if not char.isascii():
            return f"character {index + 1} of {len(text)} is not ASCII"
        if not char.isprintable():
            return f"character {index + 1} of {len(text)} is a control character"
    return None


def check_key(key: str | None, *, owner: str, source: str) -> str | None:
    """Clean an API key as pasted: strip surrounding whitespace, refuse what cannot be sent.

    Args:
        key: The key as read (``None``: no key).
        owner: Who asks (``"OpenAIProvider"``).
        source: Where the key came from: ``"the OPENAI_API_KEY environment variable"``
            or ``"api_key="``.

    Returns:
        The stripped key, or ``None`` when it is missing or blank.

    Raises:
        ValueError: When the key holds a character an HTTP header cannot carry (non-ASCII,
            a control character). The message names ``source`` and never shows the key.
    """
    if key is None:
        return None
    value: object = key
    if not isinstance(value, str):
        msg = f"{owner} API key from {source} must be a string, got {type(value).__name__}"
        raise TypeError(msg)
    key = key.strip()
    why = _bad_character(key)
    if why is not None:
        msg = (
            f"{owner} API key from {source} cannot be sent in an HTTP header ({why}); "
            "check it for stray quotes, spaces or characters copied from a document"
        )
        raise ValueError(msg)
    return key or None


def check_headers(headers: Mapping[str, str], *, owner: str) -> dict[str, str]:
    """Validate ``extra_headers``: token names, sendable values (stripped, never echoed).

    Raises:
        ValueError: Naming the header whose name or value cannot be sent.
        TypeError: For a value that is not a string.
    """
    out: dict[str, str] = {}
    for name, raw in headers.items():
        given: object = raw  # callers without a type checker pass numbers
        if not _TOKEN.match(name):
            msg = f"{owner} extra_headers has a header name that is not an HTTP token: {name!r}"
            raise ValueError(msg)
        if not isinstance(given, str):
            msg = f"{owner} extra_headers[{name!r}] must be a string"
            raise TypeError(msg)
        value = raw.strip()
        why = _bad_character(value)
        if why is not None:
            msg = f"{owner} extra_headers[{name!r}] cannot be sent in an HTTP header ({why})"
            raise ValueError(msg)
        out[name] = value
    return out


def header_secrets(headers: Mapping[str, str]) -> tuple[str, ...]:
    """The values of credential-bearing headers (``authorization``, ``api-key``, ...)."""
    return tuple(value for name, value in headers.items() if name.lower() in SECRET_HEADER_NAMES)


class MaskUrls(logging.Filter):
    """Masks credentials in the URLs httpx logs (``HTTP Request: POST <url> ...``).

    httpx logs each request's full URL at INFO; a provider whose base URL carries a
    credential installs this filter on the ``httpx`` logger (once per process).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's URL arguments; never drops a record."""
        args = record.args
        if isinstance(args, tuple) and any(isinstance(a, httpx.URL | str) for a in args):
            record.args = tuple(
                mask_url(str(a)) if isinstance(a, httpx.URL | str) else a for a in args
            )
        return True


_MASK_URLS: Final = MaskUrls()


def mask_httpx_logs() -> None:
    """Install ``MaskUrls`` on the ``httpx`` logger (idempotent)."""
    logger = logging.getLogger("httpx")
    if _MASK_URLS not in logger.filters:
        logger.addFilter(_MASK_URLS)


def endpoint(base_url: str, path: str, owner: str, parameter: str = "base_url") -> str:
    """Join an API root and a path, keeping any query (Azure's ``?api-version=``).

    Raises:
        ValueError: When ``base_url`` fails ``validate_base_url`` (credentials masked).
    """
    url = validate_base_url(base_url, owner=owner, parameter=parameter)
    return str(url.copy_with(path=url.path.rstrip("/") + path))


def read_key(api_key: str | None, api_key_env: str | None, owner: str) -> str | None:
    """The key to send: the one given, else the environment's, checked by ``check_key``.

    A blank value (an empty variable, a file holding only a newline) counts as none.

    Raises:
        ValueError: When the key cannot be sent (the message names its source).
    """
    if api_key is not None:
        return check_key(api_key, owner=owner, source="api_key=")
    if not api_key_env:
        return None
    source = f"the {api_key_env} environment variable"
    return check_key(os.environ.get(api_key_env), owner=owner, source=source)
