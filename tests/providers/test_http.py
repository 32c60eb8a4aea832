"""The HTTP boundary: Retry-After parsing, error bodies, the status table and the SSE decoder."""

from __future__ import annotations

import email.utils

import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vex_llm import (
    AuthenticationFailed,
    ConnectionFailed,
    InvalidRequest,
    InvalidResponse,
    LlmError,
    NotAvailable,
    PoolExhausted,
    RateLimited,
    ServerError,
    StreamInterrupted,
    Timeout,
)
from vex_llm.providers._http import (
    MESSAGE_LIMIT,
    Boundary,
    body_details,
    is_context_length,
    parse_retry_after,
    truncate,
)
from vex_llm.providers._sse import SseDecoder, SseEvent

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "20"}, 20.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": " 3 "}, 3.0),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after-ms": "junk", "retry-after": "9"}, 9.0),
        ({"retry-after": email.utils.formatdate(NOW + 90, usegmt=True)}, 90.0),
        ({"retry-after": email.utils.formatdate(NOW - 90, usegmt=True)}, 0.0),
        ({"retry-after": "-5"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "tomorrow"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    """retry-after-ms wins; Retry-After is seconds or an HTTP date; bad values are dropped."""
    assert parse_retry_after(httpx2.Headers(headers), now=NOW) == expected


def test_truncate_collapses_and_cuts() -> None:
    """Messages lose their line breaks and stop at the limit with an ellipsis."""
    assert truncate("a\n  b\tc") == "a b c"
    cut = truncate("x" * 2000)
    assert len(cut) == MESSAGE_LIMIT
    assert cut.endswith("…")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            b'{"error": {"message": "too long", "type": "invalid_request_error", '
            b'"code": "context_length_exceeded"}}',
            ("context_length_exceeded", "too long"),
        ),
        (
            b'{"error": {"message": "slow down", "type": "requests", "code": null}}',
            ("requests", "slow down"),
        ),
        (
            b'{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}',
            ("overloaded_error", "Overloaded"),
        ),
        (
            b'{"object": "error", "message": "bad", "type": "BadRequestError", "code": 400}',
            ("BadRequestError", "bad"),
        ),
        (b'{"error": "model not found"}', (None, "model not found")),
        (b"<html>502 Bad Gateway</html>", (None, "<html>502 Bad Gateway</html>")),
        (b"[1, 2]", (None, "[1, 2]")),
    ],
)
def test_body_details(body: bytes, expected: tuple[str | None, str]) -> None:
    """Code and message come out of every error-body shape we know, and out of non-JSON."""
    assert body_details(body) == expected


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("context_length_exceeded", "", True),
        (None, "This model's maximum context length is 8192 tokens", True),
        ("invalid_request_error", "prompt is too long: 250000 tokens > 200000 maximum", True),
        ("content_policy_violation", "Your request was rejected", False),
        (None, "temperature must be <= 2", False),
    ],
)
def test_context_length_detection(code: str | None, message: str, expected: bool) -> None:
    """Context-window overflows are told apart from other 400s by code or wording."""
    assert is_context_length(code, message) is expected


BOUNDARY = Boundary("p", secret="sk-secret-123", key_env="P_KEY")


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, InvalidRequest),
        (401, AuthenticationFailed),
        (403, AuthenticationFailed),
        (404, InvalidRequest),
        (408, Timeout),
        (409, InvalidRequest),
        (413, InvalidRequest),
        (422, InvalidRequest),
        (429, RateLimited),
        (500, ServerError),
        (501, ServerError),
        (502, ServerError),
        (503, NotAvailable),
        (504, ServerError),
        (529, NotAvailable),
        (302, InvalidResponse),
    ],
)
def test_status_table(status: int, kind: type[LlmError]) -> None:
    """Each status maps to one class, carrying status, provider, model and request id."""
    headers = httpx2.Headers({"x-request-id": "req_1"})
    error = BOUNDARY.status_error(status, headers, b'{"error": {"message": "m"}}', model="x")
    assert type(error) is kind
    assert (error.status, error.provider, error.model, error.request_id) == (
        status,
        "p",
        "x",
        "req_1",
    )


def test_overloaded_body_is_not_available_whatever_the_status() -> None:
    """An overloaded_error body is NotAvailable even behind a 500."""
    body = b'{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'
    error = BOUNDARY.status_error(500, httpx2.Headers(), body, model="x")
    assert type(error) is NotAvailable


def test_anthropic_request_id_header() -> None:
    """Anthropic's request-id header is kept too."""
    error = BOUNDARY.status_error(500, httpx2.Headers({"request-id": "req_a"}), b"", model="x")
    assert error.request_id == "req_a"


def test_echoed_key_is_masked_and_message_truncated() -> None:
    """A provider message that repeats our key loses it, and long messages are cut."""
    body = (
        b'{"error": {"message": "Incorrect API key provided: sk-secret-123. ' + b"y" * 900 + b'"}}'
    )
    error = BOUNDARY.status_error(401, httpx2.Headers(), body, model="x")
    assert "sk-secret-123" not in str(error)
    assert "***" in str(error)
    assert len(str(error)) < MESSAGE_LIMIT + 200
    assert "P_KEY" in str(error)


@pytest.mark.parametrize(
    ("exc", "kind", "code"),
    [
        (httpx2.ConnectError("refused"), ConnectionFailed, None),
        (httpx2.ReadError("reset"), ConnectionFailed, None),
        (httpx2.RemoteProtocolError("Server disconnected"), ConnectionFailed, None),
        (httpx2.ConnectTimeout("slow"), Timeout, "connect_timeout"),
        (httpx2.ReadTimeout("slow"), Timeout, "read_timeout"),
        (httpx2.WriteTimeout("slow"), Timeout, "write_timeout"),
        (httpx2.PoolTimeout("busy"), PoolExhausted, "pool_timeout"),
        (httpx2.DecodingError("gzip"), InvalidResponse, None),
        (httpx2.UnsupportedProtocol("ftp"), InvalidRequest, None),
    ],
)
def test_transport_errors(exc: httpx2.HTTPError, kind: type[LlmError], code: str | None) -> None:
    """httpx2 exceptions map to the tree; timeouts say which limit with .code."""
    error = BOUNDARY.transport_error(exc, model="x")
    assert type(error) is kind
    assert error.code == code
    assert error.provider == "p"


def test_transport_error_after_start_is_interrupted() -> None:
    """A connection error once a stream started is StreamInterrupted with the partial text."""
    error = BOUNDARY.transport_error(httpx2.ReadError("reset"), model="x", partial="Hel")
    assert isinstance(error, StreamInterrupted)
    assert error.partial == "Hel"


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("overloaded_error", NotAvailable),
        ("rate_limit_error", RateLimited),
        ("api_error", ServerError),
        ("invalid_request_error", InvalidRequest),
        ("authentication_error", AuthenticationFailed),
        ("something_new", ServerError),
    ],
)
def test_event_errors_before_text(code: str, kind: type[LlmError]) -> None:
    """An in-stream error before any text is the class its type names."""
    data = {"type": "error", "error": {"type": code, "message": "m"}}
    error = BOUNDARY.event_error(data, model="x", partial="")
    assert type(error) is kind
    assert error.code == code


# -- SSE -----------------------------------------------------------------------------------


def decode(chunks: list[bytes]) -> list[SseEvent]:
    """Feed chunks in order and collect the events."""
    decoder = SseDecoder()
    events: list[SseEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    return events


def test_sse_basics() -> None:
    """Named and unnamed events, multi-line data, comments, id/retry and unknown fields."""
    body = (
        b": comment\n"
        b"data: one\n\n"
        b"event: custom\ndata: a\ndata: b\nid: 7\nretry: 10\nfoo: bar\n\n"
        b"data:no-space\n\n"
        b"data:  two spaces\n\n"
        b"data\n\n"
        b"event: empty\n\n"
        b"data: unterminated"
    )
    assert decode([body]) == [
        SseEvent("message", "one"),
        SseEvent("custom", "a\nb"),
        SseEvent("message", "no-space"),
        SseEvent("message", " two spaces"),
        SseEvent("message", ""),
    ]


def test_sse_line_endings() -> None:
    """CRLF, CR and LF all end lines, including a CRLF split across two chunks."""
    assert decode([b"data: a\r\n\r\ndata: b\r\rdata: c\n\n"]) == [
        SseEvent("message", "a"),
        SseEvent("message", "b"),
        SseEvent("message", "c"),
    ]
    assert decode([b"data: a\r", b"\n", b"\r", b"\ndata: b\r", b"\r"]) == [
        SseEvent("message", "a"),
        SseEvent("message", "b"),
    ]


def test_sse_utf8_split_across_chunks() -> None:
    """A multi-byte character cut between chunks is put back together."""
    data = "data: héllo €\n\n".encode()
    assert decode([data[i : i + 1] for i in range(len(data))]) == [SseEvent("message", "héllo €")]


_text = st.text(
    alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)),
    max_size=20,
)
_event = st.tuples(
    st.one_of(st.none(), _text.filter(lambda s: s != "" and ":" not in s and s[:1] != " ")),
    st.lists(_text, min_size=1, max_size=3),
    st.one_of(st.none(), _text),
)


@given(
    events=st.lists(_event, max_size=6),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
)
def test_sse_any_chunk_boundaries(
    events: list[tuple[str | None, list[str], str | None]], newline: str, cuts: list[int]
) -> None:
    """However the bytes are split, the decoder yields the same events as in one piece."""
    lines: list[str] = []
    expected: list[SseEvent] = []
    for name, data, comment in events:
        if comment is not None:
            lines.append(":" + comment)
        if name is not None:
            lines.append("event: " + name)
        lines.extend("data: " + part for part in data)
        lines.append("")
        expected.append(SseEvent(name or "message", "\n".join(data)))
    body = "".join(line + newline for line in lines).encode()
    points = sorted({min(cut, len(body)) for cut in cuts})
    chunks = [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]
    assert decode(chunks) == expected
    assert decode([body]) == expected
