"""The SSE decoder's limits: line and event sizes, strict UTF-8, whatever the chunking."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vex_llm.providers._body import WireViolation
from vex_llm.providers._sse import SseDecoder, SseEvent


def split(body: bytes, cuts: list[int]) -> list[bytes]:
    """``body`` cut at the given offsets."""
    points = sorted({min(cut, len(body)) for cut in cuts})
    return [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]


def feed_all(decoder: SseDecoder, chunks: list[bytes]) -> list[SseEvent]:
    """Feed every chunk and collect the events."""
    return [event for chunk in chunks for event in decoder.feed(chunk)]


@given(cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=10))
def test_line_at_the_limit_passes_and_one_byte_more_fails(cuts: list[int]) -> None:
    """A line of exactly max_line bytes is fine; one more byte fails, however it is cut."""
    ok = b"data: " + b"x" * 94 + b"\n\n"  # the line is 100 bytes
    assert feed_all(SseDecoder(max_line=100), split(ok, cuts)) == [SseEvent("message", "x" * 94)]
    too_long = b"data: " + b"x" * 95 + b"\n\n"
    with pytest.raises(WireViolation, match="max_sse_line_bytes"):
        feed_all(SseDecoder(max_line=100), split(too_long, cuts))


def test_unterminated_line_fails_before_it_ends() -> None:
    """A line that never ends fails as soon as its pieces pass the limit."""
    decoder = SseDecoder(max_line=1000)
    decoder.feed(b"data: " + b"x" * 900)
    with pytest.raises(WireViolation):
        decoder.feed(b"x" * 200)


def test_event_size_counts_every_data_line() -> None:
    """The data lines of one event add up against max_event; a blank line resets the count."""
    decoder = SseDecoder(max_line=100, max_event=50)
    assert decoder.feed(b"data: " + b"a" * 20 + b"\ndata: " + b"b" * 20 + b"\n\n")
    assert decoder.feed(b"data: " + b"c" * 40 + b"\n\n")
    with pytest.raises(WireViolation, match="max_sse_event_bytes"):
        decoder.feed(b"data: " + b"d" * 30 + b"\ndata: " + b"e" * 30 + b"\n")


def test_event_size_is_counted_in_utf8_bytes() -> None:
    """Non-ASCII data counts its encoded bytes, not its characters."""
    decoder = SseDecoder(max_event=30)
    with pytest.raises(WireViolation):
        decoder.feed(("data: " + "€" * 12 + "\n").encode())  # 12 characters, 36 bytes


@given(
    cuts=st.lists(st.integers(min_value=0, max_value=80), max_size=8),
    bad=st.sampled_from([b"\xff", b"\xc3(", b"\xed\xa0\x80", b"\xf0\x9f\x98"]),
)
def test_invalid_utf8_fails_however_it_is_cut(cuts: list[int], bad: bytes) -> None:
    """Invalid UTF-8 in a line is a WireViolation for every chunking, never U+FFFD."""
    body = b"data: ok\n\ndata: x" + bad + b"y\n\n"
    with pytest.raises(WireViolation, match="UTF-8"):
        feed_all(SseDecoder(), split(body, cuts))
