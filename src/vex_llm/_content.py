"""Content parts of a message: text, images and documents.

A message's content is either plain text or a sequence of these parts. They are frozen
and slotted like every value type, so a request can be shared by a retry, a fallback and
a hedge at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

ImageDetail = Literal["auto", "low", "high"]
Extra: TypeAlias = Mapping[str, Mapping[str, object]]
"""Wire-specific fields of an object, per wire: ``{"anthropic": {"cache_control": ...}}``."""

WIRES: frozenset[str] = frozenset({"openai", "anthropic"})


def check_extra(owner: str, extra: object) -> None:
    """An ``extra`` is None or a mapping from wire names to field mappings."""
    if extra is None:
        return
    if not isinstance(extra, Mapping) or not set(extra) <= WIRES:
        msg = f"{owner}.extra must map wire names {sorted(WIRES)} to fields, got {extra!r}"
        raise ValueError(msg)


def _check_source(owner: str, url: str | None, data: bytes | None, media_type: str | None) -> None:
    """Exactly one of ``url`` and ``data``; inline data needs its media type."""
    if (url is None) == (data is None):
        msg = f"{owner} needs exactly one of url= and data="
        raise ValueError(msg)
    raw_url: object = url
    if raw_url is not None and not (isinstance(raw_url, str) and raw_url):
        msg = f"{owner}.url must be a non-empty str"
        raise ValueError(msg)
    raw: object = data
    if raw is not None and not isinstance(raw, bytes):
        msg = f"{owner}.data must be bytes, got {type(raw).__name__}"
        raise TypeError(msg)
    if data is not None and not media_type:
        msg = f"{owner}.media_type is required with data= (e.g. 'image/png')"
        raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class TextPart:
    """A piece of text inside a message.

    Args:
        text: The text.
        extra: Fields of this part for one wire only, written back verbatim on that wire
            (e.g. ``{"anthropic": {"cache_control": {"type": "ephemeral"}}}``; not copied).

    Raises:
        TypeError: If ``text`` is not a str.
    """

    text: str
    extra: Extra | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        text: object = self.text
        if not isinstance(text, str):
            msg = f"TextPart.text must be str, got {type(text).__name__}"
            raise TypeError(msg)
        check_extra("TextPart", self.extra)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImagePart:
    """An image, by URL or as inline bytes.

    Args:
        url: Where the model fetches the image (``https://...``). Exclusive with ``data``.
        data: The image bytes (sent base64-encoded). Exclusive with ``url``.
        media_type: ``"image/png"``, ``"image/jpeg"``, ...; required with ``data``.
        detail: OpenAI's resolution hint (``"auto"``, ``"low"``, ``"high"``); the Anthropic
            wire has no such field and ignores it.
        extra: Fields of this part for one wire only (see ``TextPart``).

    Raises:
        ValueError: Unless exactly one of ``url`` and ``data`` is given, or on ``data``
            without ``media_type``.
    """

    url: str | None = None
    data: bytes | None = None
    media_type: str | None = None
    detail: ImageDetail | None = None
    extra: Extra | None = None

    def __post_init__(self) -> None:
        _check_source("ImagePart", self.url, self.data, self.media_type)
        check_extra("ImagePart", self.extra)
        if self.detail not in (None, "auto", "low", "high"):
            msg = f"ImagePart.detail must be 'auto', 'low' or 'high', got {self.detail!r}"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentPart:
    """A document (a PDF or a text file), by URL or as inline bytes.

    The OpenAI wire takes inline documents only (a ``file`` part); the Anthropic wire
    takes both (a ``document`` block; ``text/plain`` data travels as a text source).

    Args:
        url: Where the model fetches the document. Exclusive with ``data``.
        data: The document bytes. Exclusive with ``url``.
        media_type: ``"application/pdf"`` (the default) or ``"text/plain"``.
        title: A file name or title (OpenAI ``filename``, Anthropic ``title``).
        extra: Fields of this part for one wire only (see ``TextPart``).

    Raises:
        ValueError: Unless exactly one of ``url`` and ``data`` is given.
    """

    url: str | None = None
    data: bytes | None = None
    media_type: str = "application/pdf"
    title: str | None = None
    extra: Extra | None = None

    def __post_init__(self) -> None:
        _check_source("DocumentPart", self.url, self.data, self.media_type)
        check_extra("DocumentPart", self.extra)


@dataclass(frozen=True, slots=True)
class ThinkingPart:
    """The model's own reasoning, as Anthropic returns it (assistant messages only).

    Anthropic requires the thinking blocks of an assistant turn that called tools to be
    sent back with it, unchanged; keep them in the assistant message (see
    ``LlmResponse.to_message``). The OpenAI wire has no field for them and does not send them.

    Args:
        text: The reasoning text (a ``thinking`` block); ``""`` for a redacted block.
        signature: Anthropic's signature of the text, which must travel with it.
        redacted: The opaque data of a ``redacted_thinking`` block, instead of text.
        extra: Fields of this part for one wire only (see ``TextPart``).

    Raises:
        ValueError: On both text and redacted data.
    """

    text: str = ""
    signature: str | None = field(default=None, kw_only=True)
    redacted: str | None = field(default=None, kw_only=True)
    extra: Extra | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if self.redacted is not None and (self.text or self.signature is not None):
            msg = "ThinkingPart takes text (and signature) or redacted data, not both"
            raise ValueError(msg)
        check_extra("ThinkingPart", self.extra)


ContentPart: TypeAlias = TextPart | ImagePart | DocumentPart | ThinkingPart
"""One part of a message's content."""

PART_TYPES: tuple[type, ...] = (TextPart, ImagePart, DocumentPart, ThinkingPart)
