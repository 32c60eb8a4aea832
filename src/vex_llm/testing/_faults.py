"""Faults the fake server injects (pure data, no I/O); ``_rules`` says when."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Final, Literal, Self, get_args

from ._checks import (
    check_choice,
    check_count,
    check_header_value,
    check_seconds,
    check_status,
    check_text,
)

FaultKind = Literal[
    "status",
    "latency",
    "slow_first_token",
    "stall",
    "cut",
    "reset",
    "stream_reset",
    "hang",
    "malformed",
    "garbage_sse",
    "noisy_sse",
    "stream_error",
]

_KINDS: Final = frozenset(get_args(FaultKind))


# The fields each kind acts on; any other field must keep its default, or the fault would
# promise something the server never does (``{"kind": "cut", "seconds": 2}``).
_USES: Final[dict[str, frozenset[str]]] = {
    "status": frozenset({"status", "code", "message", "retry_after", "retry_after_ms"}),
    "stream_error": frozenset(
        {"status", "code", "message", "retry_after", "retry_after_ms", "after_chunks"}
    ),
    "latency": frozenset({"seconds", "jitter"}),
    "slow_first_token": frozenset({"seconds"}),
    "stall": frozenset({"seconds", "after_chunks"}),
    "cut": frozenset({"after_chunks"}),
    "reset": frozenset(),
    "stream_reset": frozenset({"after_chunks"}),
    "hang": frozenset(),
    "malformed": frozenset({"after_chunks"}),
    "garbage_sse": frozenset(),
    "noisy_sse": frozenset(),
}
# Error answers carry a body, so 1xx, 204 and 304 are out; 2xx and 3xx are not errors.
_ERROR_STATUSES: Final = (400, 599)


@dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    """One way the fake server misbehaves. Build them with the classmethods.

    Args:
        kind: What happens (see the classmethods).
        status: HTTP status of an error answer (``None``: the wire's usual one for ``code``).
        code: The provider error code or type in the body (``context_length_exceeded``,
            ``overloaded_error``, ...); ``None`` uses the API's own for the status.
        message: The error message in the body (``None``: the API's usual text).
        retry_after: ``Retry-After`` header: seconds, or a raw value such as an HTTP date.
        retry_after_ms: ``retry-after-ms`` header, in milliseconds.
        seconds: How long latency, a slow first token, a stall or a hang lasts
            (``None``: until the client leaves or the server stops).
        jitter: Extra random seconds, uniform in ``[0, jitter]`` (seeded).
        after_chunks: Stream pieces sent before a stream fault strikes: one per word of
            text, and for a scripted tool call one for its opening and one per arguments
            piece (``Answer.inside_arguments()`` gives the count that lands inside them).

    Raises:
        ValueError: On a value the server could not act on, naming the field: a status
            outside 400-599, a ``retry_after`` string that is not a safe header value
            (printable ASCII, no CR/LF, at most 256 characters), a non-integer or negative
            ``after_chunks``, a negative or non-finite duration, a wrong type, or a field
            the kind does not use (``{"kind": "cut", "seconds": 2}``).
    """

    kind: FaultKind
    status: int | None = None
    code: str | None = None
    message: str | None = None
    retry_after: float | str | None = None
    retry_after_ms: float | None = None
    seconds: float | None = 0.0
    jitter: float = 0.0
    after_chunks: int = 0

    def __post_init__(self) -> None:
        check_choice("Fault", "kind", self.kind, sorted(_KINDS))
        uses = _USES[self.kind]
        for name, default in _DEFAULTS.items():
            value = getattr(self, name)
            unset = value is None if default is None else value == default or value is None
            if name not in uses and not unset:
                msg = (
                    f"Fault {name} does not apply to kind {self.kind!r} "
                    f"(it takes {', '.join(sorted(uses)) or 'no options'}), got {value!r}"
                )
                raise ValueError(msg)
        if self.status is not None:
            low, high = _ERROR_STATUSES
            check_status("Fault", self.status, low=low, high=high, kind=self.kind)
        check_text("Fault", "code", self.code)
        check_text("Fault", "message", self.message)
        if isinstance(self.retry_after, str):
            check_header_value("Fault", "retry_after", self.retry_after)
        else:
            check_seconds("Fault", "retry_after", self.retry_after, optional=True)
        check_seconds("Fault", "retry_after_ms", self.retry_after_ms, optional=True)
        check_seconds("Fault", "seconds", self.seconds, optional=True)
        check_seconds("Fault", "jitter", self.jitter)
        check_count("Fault", "after_chunks", self.after_chunks)

    @classmethod
    def error(
        cls,
        status: int | None = None,
        *,
        code: str | None = None,
        message: str | None = None,
        retry_after: float | str | None = None,
        retry_after_ms: float | None = None,
    ) -> Self:
        """Answer with an error status and a provider-style error body.

        ``Fault.error(503)``, ``Fault.error(429, retry_after=2)``,
        ``Fault.error(code="context_length_exceeded")`` (status from the code).
        """
        return cls(
            kind="status",
            status=status,
            code=code,
            message=message,
            retry_after=retry_after,
            retry_after_ms=retry_after_ms,
        )

    @classmethod
    def rate_limited(
        cls, *, retry_after: float | str | None = None, retry_after_ms: float | None = None
    ) -> Self:
        """429 with the API's rate-limit body and optional wait headers."""
        return cls.error(429, retry_after=retry_after, retry_after_ms=retry_after_ms)

    @classmethod
    def context_length(cls) -> Self:
        """400 saying the prompt does not fit (OpenAI's ``context_length_exceeded`` code;
        Anthropic's ``invalid_request_error`` with "prompt is too long")."""
        return cls(kind="status", status=400, code="context_length_exceeded")

    @classmethod
    def overloaded(cls) -> Self:
        """The provider is over capacity: Anthropic 529 ``overloaded_error``, OpenAI 503."""
        return cls(kind="status", code="overloaded_error")

    @classmethod
    def latency(cls, seconds: float, *, jitter: float = 0.0) -> Self:
        """Wait before answering (adds to other faults; several latencies add up)."""
        return cls(kind="latency", seconds=seconds, jitter=jitter)

    @classmethod
    def slow_first_token(cls, seconds: float) -> Self:
        """Send the headers at once, then wait before the first text."""
        return cls(kind="slow_first_token", seconds=seconds)

    @classmethod
    def stall(cls, *, after_chunks: int = 1, seconds: float | None = None) -> Self:
        """Stop sending mid-stream (``seconds=None``: until the client leaves)."""
        return cls(kind="stall", after_chunks=after_chunks, seconds=seconds)

    @classmethod
    def cut(cls, *, after_chunks: int = 1) -> Self:
        """End the body cleanly after some pieces (text, or inside a tool call's arguments:
        ``after_chunks=answer.inside_arguments()``), without a finish reason or terminator.

        A non-streamed answer is cut mid-body instead (the connection closes early).
        """
        return cls(kind="cut", after_chunks=after_chunks)

    @classmethod
    def reset(cls, *, after_chunks: int | None = None) -> Self:
        """Drop the connection with a TCP reset: before any answer, or after some text."""
        if after_chunks is None:
            return cls(kind="reset")
        return cls(kind="stream_reset", after_chunks=after_chunks)

    @classmethod
    def hang(cls) -> Self:
        """Never answer: the request waits until the client gives up or the server stops."""
        return cls(kind="hang", seconds=None)

    @classmethod
    def malformed(cls) -> Self:
        """200 with a body (or a stream event) that is not valid JSON."""
        return cls(kind="malformed")

    @classmethod
    def garbage_sse(cls) -> Self:
        """200 ``text/event-stream`` whose body holds no events at all, then ends."""
        return cls(kind="garbage_sse")

    @classmethod
    def noisy_sse(cls) -> Self:
        """A correct stream with comments, unknown events and CRLF lines mixed in and
        sent in odd byte splits: a client must still read the whole answer."""
        return cls(kind="noisy_sse")

    @classmethod
    def stream_error(cls, code: str = "overloaded_error", *, after_chunks: int = 0) -> Self:
        """An error event inside a 200 stream (a non-streamed call gets the error status)."""
        return cls(kind="stream_error", code=code, after_chunks=after_chunks)

    def to_dict(self) -> dict[str, object]:
        """This fault as JSON-ready data (the admin endpoint's format)."""
        return {k: v for k, v in asdict(self).items() if v != _DEFAULTS.get(k, object())}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Self:
        """Build a fault from ``to_dict()`` data.

        Raises:
            ValueError: On unknown keys or bad values.
        """
        unknown = set(data) - _FIELDS
        if unknown:
            msg = f"unknown Fault fields {sorted(unknown)}; known: {sorted(_FIELDS)}"
            raise ValueError(msg)
        if "kind" not in data:
            msg = f"a Fault needs a 'kind', one of {sorted(_KINDS)}"
            raise ValueError(msg)
        return cls(**data)  # type: ignore[arg-type]  # values are checked in __post_init__


_FIELDS: Final = frozenset(f.name for f in fields(Fault))
_DEFAULTS: Final[dict[str, object]] = {
    "status": None,
    "code": None,
    "message": None,
    "retry_after": None,
    "retry_after_ms": None,
    "seconds": 0.0,
    "jitter": 0.0,
    "after_chunks": 0,
}
