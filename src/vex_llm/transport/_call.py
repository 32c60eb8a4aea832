"""What the transport knows about one LLM request: its wire, model, body, and where it may go.

``Upstream`` is a same-wire alternative to the request's own URL. ``LlmCall`` is one request
that the transport recognised as an LLM call; it builds the request for each upstream,
rewriting only the URL, the auth header and the ``model`` field, and keeps what the
attempts found out (how many were sent, who answered last, the upstream's own error answers).
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Final, Literal

import httpx2

from ..providers import validate_base_url

Wire = Literal["openai", "anthropic"]

# Path endings of the calls the transport applies its policies to, and the wire each speaks.
# An OpenAI-style base URL ends in /v1 (the SDK's base_url); Anthropic's SDK puts /v1 in the
# path, so its base URL is the host alone.
_ENDPOINTS: Final[tuple[tuple[str, Wire], ...]] = (
    ("/chat/completions", "openai"),
    ("/v1/messages", "anthropic"),
    ("/responses", "openai"),
    ("/completions", "openai"),
    ("/embeddings", "openai"),
)

# Headers that belong to one connection or one body; httpx2 sets them again for the copy.
_DROPPED: Final = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_KEY_HEADERS: Final = ("authorization", "x-api-key", "api-key")


@dataclass(frozen=True, slots=True)
class Upstream:
    """Another server of the same wire that a call may go to when its own URL fails.

    Args:
        base_url: The URL you would give the same SDK as ``base_url``
            (``https://api.openai.com/v1``, ``https://api.anthropic.com``).
        api_key: The key for this upstream (default ``None``: the request's own key). It
            replaces the request's ``Authorization`` / ``x-api-key`` / ``api-key`` value;
            never shown in ``repr()`` or errors.
        model: The model to ask this upstream for (default ``None``: the request's own).

    Raises:
        ValueError: On a base URL that is not http(s) (credentials in it are masked).
    """

    base_url: str
    api_key: str | None = field(default=None, kw_only=True, repr=False)
    model: str | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        validate_base_url(self.base_url, owner="Upstream")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))


@dataclass(slots=True)
class LlmCall:
    """One LLM request going through the transport.

    Args:
        request: The request as the SDK built it.
        body: Its body.
        data: The body's JSON object.
        wire: The wire it speaks.
        base_url: The request's URL without the endpoint path (and without its query).
        endpoint: The endpoint path (``/chat/completions``).
    """

    request: httpx2.Request
    body: bytes
    data: dict[str, object]
    wire: Wire
    base_url: str
    endpoint: str
    attempts: int = 0
    upstream: str = ""
    answers: dict[int, tuple[httpx2.Response, bytes]] = field(default_factory=dict)
    """The upstream's own error answers (status, headers, raw body), by ``id`` of the
    error raised for them, so the one that decided the call is passed on as it came."""
    kept: dict[str, httpx2.Response] = field(default_factory=dict)

    @property
    def model(self) -> str:
        """The model the request asks for (``""`` when it names none)."""
        model = self.data.get("model")
        return model if isinstance(model, str) else ""

    @property
    def streamed(self) -> bool:
        """Whether the request asks for a stream."""
        return self.data.get("stream") is True

    def secret(self) -> str | None:
        """The request's own key (to keep it out of error messages)."""
        for name in _KEY_HEADERS:
            value = self.request.headers.get(name)
            if value:
                return value.removeprefix("Bearer ").strip() or None
        return None

    def request_for(self, upstream: Upstream | None) -> httpx2.Request:
        """The request to send to ``upstream`` (``None``: the request's own URL).

        Only the URL, the key header and the body's ``model`` change; every other header,
        the query and the extensions (the SDK's timeouts) stay as the SDK set them.
        """
        original = self.request
        if upstream is None:
            # The request as the SDK built it: its body was read into memory, so it can be
            # sent again for each retry.
            return original
        headers = [(k, v) for k, v in original.headers.multi_items() if k.lower() not in _DROPPED]
        url = httpx2.URL(upstream.base_url + self.endpoint, params=original.url.params)
        body = self.body
        if upstream.model is not None and upstream.model != self.model:
            body = json.dumps(self.data | {"model": upstream.model}).encode()
        if upstream.api_key is not None:
            headers = self._with_key(headers, upstream.api_key)
        return httpx2.Request(
            original.method, url, headers=headers, content=body, extensions=original.extensions
        )

    def _with_key(self, headers: list[tuple[str, str]], key: str) -> list[tuple[str, str]]:
        names = {k.lower() for k, _ in headers}
        present = [name for name in _KEY_HEADERS if name in names]
        if not present:
            present = ["x-api-key" if self.wire == "anthropic" else "authorization"]
        kept = [(k, v) for k, v in headers if k.lower() not in present]
        for name in present:
            kept.append((name, f"Bearer {key}" if name == "authorization" else key))
        return kept


def endpoint_of(request: httpx2.Request) -> tuple[str, Wire] | None:
    """The LLM endpoint ``request`` goes to and its wire, or ``None`` for anything else."""
    if request.method != "POST":
        return None
    path = request.url.path
    return next(((e, w) for e, w in _ENDPOINTS if path.endswith(e)), None)


def parse_call(request: httpx2.Request, body: bytes, found: tuple[str, Wire]) -> LlmCall | None:
    """The LLM call ``request`` makes to the endpoint ``endpoint_of`` found, or ``None``
    when its body is not a JSON object: it then passes through untouched."""
    endpoint, wire = found
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    url = request.url
    base = f"{url.scheme}://{url.netloc.decode('ascii')}{url.path[: -len(endpoint)]}"
    return LlmCall(request, body, data, wire, base, endpoint)


CURRENT: ContextVar[LlmCall] = ContextVar("vex_llm_transport_call")
"""The call the transport is running: the upstream providers below the policies read it
(the policies pass an ``LlmRequest`` down; the HTTP request travels beside it)."""
