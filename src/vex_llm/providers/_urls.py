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

import httpx2

from .._urls import mask_url, url_problem

SECRET_HEADER_NAMES: Final = frozenset(
    {"api-key", "authorization", "cookie", "proxy-authorization", "x-api-key", "x-goog-api-key"}
)
"""Extra headers whose values are scrubbed from messages like the key."""

_TOKEN: Final = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def validate_base_url(url: str, *, owner: str = "", parameter: str = "base_url") -> httpx2.URL:
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
    problem = url_problem(url, ("http", "https"))
    if problem is not None:
        msg = f"{where} {problem}: {shown}"
        raise ValueError(msg)
    try:
        parsed = httpx2.URL(url)
    except (httpx2.InvalidURL, TypeError, ValueError):
        msg = f"{where} is not a URL: {shown}"
        raise ValueError(msg) from None  # the parser's message may quote the credentials
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
    """Masks credentials in the URLs httpx2 logs (``HTTP Request: POST <url> ...``).

    httpx2 logs each request's full URL at INFO; a provider whose base URL carries a
    credential installs this filter on the ``httpx2`` logger (once per process).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's URL arguments; never drops a record."""
        args = record.args
        if isinstance(args, tuple) and any(isinstance(a, httpx2.URL | str) for a in args):
            record.args = tuple(
                mask_url(str(a)) if isinstance(a, httpx2.URL | str) else a for a in args
            )
        return True


_MASK_URLS: Final = MaskUrls()


def mask_httpx_logs() -> None:
    """Install ``MaskUrls`` on the ``httpx2`` logger (idempotent)."""
    logger = logging.getLogger("httpx2")
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


def base_url_from_env(base_url: str | None, variable: str, default: str) -> tuple[str, str]:
    """The API root to use and where it came from (for error messages).

    Args:
        base_url: The one given (wins when not ``None``).
        variable: The environment variable read otherwise (``OPENAI_BASE_URL``).
        default: The vendor's own root, when neither is set.

    Returns:
        ``(base_url, source)``: ``source`` is ``"base_url"`` or
        ``"base_url (from OPENAI_BASE_URL)"``.
    """
    if base_url is not None:
        return base_url, "base_url"
    from_env = os.environ.get(variable)
    if from_env:
        return from_env, f"base_url (from {variable})"
    return default, "base_url"
