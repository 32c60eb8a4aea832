"""Anthropic Messages content blocks and turns <-> ``Message``.

An Anthropic user turn may hold tool results and other blocks; it reads as one ``tool``
message per ``tool_result`` block (in order), then one ``user`` message with the other
blocks. Writing does the reverse: consecutive tool messages, and a user message right
after them, become one user turn, as Anthropic requires.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from .._content import ContentPart, DocumentPart, ImagePart, TextPart, ThinkingPart
from .._errors import InvalidRequest
from .._tools import ToolCall
from .._types import Message
from ._anthropic_common import tool_call_from_block, tool_use_block
from ._fields import Fields, b64
from ._shared import with_extra

_SOURCE_KEYS: Final = frozenset({"type", "media_type", "data", "url"})
_TEXT_KEYS: Final = frozenset({"type", "text"})
_IMAGE_KEYS: Final = frozenset({"type", "source"})
_DOCUMENT_KEYS: Final = frozenset({"type", "source", "title"})
_RESULT_KEYS: Final = frozenset({"type", "tool_use_id", "content"})


def _source(block: Fields) -> tuple[str | None, bytes | None, str | None]:
    """(url, data, media type) of an image or document ``source``."""
    source = block.need_obj("source")
    source.reject_unknown(_SOURCE_KEYS)
    kind = source.need_text("type")
    if kind == "url":
        return source.need_text("url"), None, None
    if kind == "base64":
        return None, source.b64("data"), source.need_text("media_type")
    if kind == "text":
        return None, source.need_text("data").encode(), source.text("media_type") or "text/plain"
    source.fail("type", "'base64', 'url' or 'text'")


def thinking_from_block(block: Fields) -> ThinkingPart:
    """A ``thinking`` or ``redacted_thinking`` block."""
    if block.need_text("type") == "redacted_thinking":
        extra = block.extras(frozenset({"type", "data"}), "anthropic")
        return ThinkingPart(redacted=block.need_text("data"), extra=extra)
    extra = block.extras(frozenset({"type", "thinking", "signature"}), "anthropic")
    return ThinkingPart(block.need_text("thinking"), signature=block.text("signature"), extra=extra)


def part_from_wire(block: Fields, *, assistant: bool = False) -> ContentPart:
    """Read a text, image or document block (or a thinking block of an assistant turn)."""
    kind = block.need_text("type")
    if assistant and kind in ("thinking", "redacted_thinking"):
        return thinking_from_block(block)
    if kind == "text":
        return TextPart(block.need_text("text"), extra=block.extras(_TEXT_KEYS, "anthropic"))
    if kind == "image":
        url, data, media_type = _source(block)
        extra = block.extras(_IMAGE_KEYS, "anthropic")
        return ImagePart(url=url, data=data, media_type=media_type, extra=extra)
    if kind == "document":
        url, data, media_type = _source(block)
        title = block.text("title")
        extra = block.extras(_DOCUMENT_KEYS, "anthropic")
        if media_type is None:
            return DocumentPart(url=url, title=title, extra=extra)
        return DocumentPart(url=url, data=data, media_type=media_type, title=title, extra=extra)
    block.fail("type", "'text', 'image' or 'document'")


def _blocks_or_text(turn: Fields) -> str | tuple[ContentPart, ...]:
    value = turn.data.get("content")
    if isinstance(value, str):
        return value
    return tuple(part_from_wire(block) for block in turn.objs("content", required=True))


def _tool_result(block: Fields) -> Message:
    content: str | tuple[ContentPart, ...] = ""
    if block.has("content"):
        content = _blocks_or_text(block)
    tool_use_id = block.need_text("tool_use_id")
    extra = block.extras(_RESULT_KEYS, "anthropic")
    return Message("tool", content, tool_call_id=tool_use_id, extra=extra)


def _user_turn(turn: Fields) -> list[Message]:
    if isinstance(turn.data.get("content"), str):
        return [Message("user", _blocks_or_text(turn))]
    results: list[Message] = []
    parts: list[ContentPart] = []
    blocks = turn.objs("content", required=True)
    for block in blocks:
        if block.data.get("type") == "tool_result":
            results.append(_tool_result(block))
        else:
            parts.append(part_from_wire(block))
    if parts or not results:
        results.append(Message("user", parts))
    return results


def _assistant_turn(turn: Fields) -> Message:
    if isinstance(turn.data.get("content"), str):
        return Message("assistant", _blocks_or_text(turn))
    parts: list[ContentPart] = []
    calls: list[ToolCall] = []
    for block in turn.objs("content", required=True):
        if block.data.get("type") != "tool_use":
            parts.append(part_from_wire(block, assistant=True))
            continue
        block.reject_unknown(frozenset({"type", "id", "name", "input"}))
        calls.append(tool_call_from_block(block))
    return Message("assistant", parts, tool_calls=calls)


def messages_from_wire(body: Fields) -> list[Message]:
    """Read ``system`` and ``messages`` into one conversation (system first)."""
    messages: list[Message] = []
    system = body.data.get("system")
    if isinstance(system, str):
        messages.append(Message("system", system))
    elif system is not None:
        messages.append(Message("system", [part_from_wire(b) for b in body.objs("system")]))
    for turn in body.objs("messages", required=True):
        turn.reject_unknown(frozenset({"role", "content"}))
        role = turn.need_text("role")
        if role == "user":
            messages.extend(_user_turn(turn))
        elif role == "assistant":
            messages.append(_assistant_turn(turn))
        else:
            turn.fail("role", "'user' or 'assistant'")
    return messages


def part_to_wire(part: ContentPart, where: str) -> dict[str, object]:
    """Write a text, image or document block (with the part's Anthropic extras)."""
    return with_extra(_bare_block(part, where), part.extra, "anthropic")


def _bare_block(part: ContentPart, where: str) -> dict[str, object]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ThinkingPart):
        if part.redacted is not None:
            return {"type": "redacted_thinking", "data": part.redacted}
        thinking: dict[str, object] = {"type": "thinking", "thinking": part.text}
        if part.signature is not None:
            thinking["signature"] = part.signature
        return thinking
    if part.data is None:
        source: dict[str, object] = {"type": "url", "url": part.url}
    elif isinstance(part, DocumentPart) and part.media_type == "text/plain":
        try:
            source = {"type": "text", "media_type": "text/plain", "data": part.data.decode()}
        except UnicodeDecodeError as exc:
            msg = f"{where}: a text/plain document must be UTF-8"
            raise InvalidRequest(msg, code="invalid_body") from exc
    else:
        source = {"type": "base64", "media_type": part.media_type, "data": b64(part.data)}
    if isinstance(part, ImagePart):
        return {"type": "image", "source": source}
    block: dict[str, object] = {"type": "document", "source": source}
    if part.title is not None:
        block["title"] = part.title
    return block


def _content_to_wire(message: Message, where: str) -> list[dict[str, object]]:
    if message.parts:
        return [part_to_wire(p, f"{where}.content[{i}]") for i, p in enumerate(message.parts)]
    return [{"type": "text", "text": message.content}] if message.content else []


def system_to_wire(messages: Sequence[Message]) -> str | list[dict[str, object]] | None:
    """The ``system`` field for the conversation's system messages: one text when they
    are all plain text (joined by a blank line), else their blocks."""
    system = [(i, m) for i, m in enumerate(messages) if m.role == "system"]
    if not system:
        return None
    if not any(m.parts for _, m in system):
        return "\n\n".join(m.content for _, m in system)
    blocks = [b for i, m in system for b in _content_to_wire(m, f"messages[{i}]")]
    if any(block["type"] != "text" for block in blocks):
        msg = "system messages: the Anthropic wire takes text only in system"
        raise InvalidRequest(msg, code="invalid_body")
    return blocks


def _assistant_to_wire(message: Message, where: str) -> dict[str, object]:
    if not message.tool_calls and not message.parts:
        return {"role": "assistant", "content": message.content}
    blocks = _content_to_wire(message, where)
    blocks += [
        tool_use_block(c, f"{where}.tool_calls[{j}]", InvalidRequest)
        for j, c in enumerate(message.tool_calls)
    ]
    return {"role": "assistant", "content": blocks}


def messages_to_wire(messages: Sequence[Message]) -> list[dict[str, object]]:
    """The ``messages`` field: every non-system message, tool results merged into user turns."""
    turns: list[dict[str, object]] = []
    open_results: list[dict[str, object]] | None = None  # the blocks of a tool-result turn
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if message.role == "system":
            continue
        if message.role == "tool" and message.tool_call_id is not None:
            block: dict[str, object] = {"type": "tool_result", "tool_use_id": message.tool_call_id}
            if message.parts or message.content:
                block["content"] = (
                    _content_to_wire(message, where) if message.parts else message.content
                )
            with_extra(block, message.extra, "anthropic")
            if open_results is None:
                open_results = []
                turns.append({"role": "user", "content": open_results})
            open_results.append(block)
        elif message.role in ("user", "tool") and open_results is not None:
            open_results.extend(_content_to_wire(message, where))
            open_results = None
        elif message.role == "assistant":
            turns.append(_assistant_to_wire(message, where))
            open_results = None
        else:
            content = _content_to_wire(message, where) if message.parts else message.content
            turns.append({"role": "user", "content": content})
    return turns
