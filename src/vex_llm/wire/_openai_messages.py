"""OpenAI Chat Completions messages and content parts <-> ``Message``."""

from __future__ import annotations

from typing import Final

from .._capabilities import UNSUPPORTED_DOCUMENTS
from .._content import ContentPart, DocumentPart, Extra, ImagePart, TextPart, ThinkingPart
from .._errors import InvalidRequest
from .._tools import ToolCall
from .._types import Message, Role
from ._fields import Fields, data_url, parse_data_url
from ._shared import with_extra

_ROLES: Final[dict[str, Role]] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
}
_MESSAGE_KEYS: Final = frozenset({"role", "content", "name", "tool_calls", "tool_call_id"})
_DETAILS: Final = frozenset({"auto", "low", "high"})
_TEXT_KEYS: Final = frozenset({"type", "text"})


def _image(part: Fields, extra: Extra | None) -> ImagePart:
    image = part.need_obj("image_url")
    image.reject_unknown(frozenset({"url", "detail"}))
    url = image.need_text("url")
    detail = image.text("detail")
    if detail is not None and detail not in _DETAILS:
        image.fail("detail", "'auto', 'low' or 'high'")
    inline = parse_data_url(url)
    if inline is not None:
        return ImagePart(data=inline[1], media_type=inline[0], detail=detail, extra=extra)  # type: ignore[arg-type]  # checked against _DETAILS
    return ImagePart(url=url, detail=detail, extra=extra)  # type: ignore[arg-type]  # checked against _DETAILS


def _document(part: Fields, extra: Extra | None) -> DocumentPart:
    file = part.need_obj("file")
    file.reject_unknown(frozenset({"file_data", "filename"}))
    inline = parse_data_url(file.need_text("file_data"))
    if inline is None:
        file.fail("file_data", "a base64 data: URL")
    title = file.text("filename")
    return DocumentPart(data=inline[1], media_type=inline[0], title=title, extra=extra)


def _part(part: Fields) -> ContentPart:
    kind = part.need_text("type")
    if kind == "text":
        return TextPart(part.need_text("text"), extra=part.extras(_TEXT_KEYS, "openai"))
    if kind == "image_url":
        return _image(part, part.extras(frozenset({"type", "image_url"}), "openai"))
    if kind == "file":
        return _document(part, part.extras(frozenset({"type", "file"}), "openai"))
    part.fail("type", "'text', 'image_url' or 'file'")


def _content(message: Fields) -> str | tuple[ContentPart, ...]:
    value = message.data.get("content")
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return tuple(_part(part) for part in message.objs("content"))


def _tool_call(call: Fields) -> ToolCall:
    call.reject_unknown(frozenset({"id", "type", "function", "index"}))
    if call.text("type") not in (None, "function"):
        call.fail("type", "'function'")
    function = call.need_obj("function")
    function.reject_unknown(frozenset({"name", "arguments"}))
    return call.build(
        ToolCall, call.need_text("id"), function.need_text("name"), function.need_text("arguments")
    )


def message_from_wire(message: Fields) -> Message:
    """Read one message of ``messages``."""
    role = _ROLES.get(message.need_text("role"))
    if role is None:
        message.fail("role", f"one of {sorted(_ROLES)}")
    calls = tuple(_tool_call(call) for call in message.objs("tool_calls"))
    if calls and role != "assistant":
        message.fail("tool_calls", "no tool calls outside an assistant message")
    tool_call_id = message.text("tool_call_id")
    if tool_call_id is not None and role != "tool":
        message.fail("tool_call_id", "no tool_call_id outside a tool message")
    return Message(
        role,
        _content(message),
        tool_calls=calls,
        tool_call_id=tool_call_id,
        name=message.text("name"),
        extra=message.extras(_MESSAGE_KEYS, "openai"),
    )


def _part_to_wire(part: ContentPart, where: str) -> dict[str, object]:
    return with_extra(_bare_part(part, where), part.extra, "openai")


def _bare_part(part: ContentPart, where: str) -> dict[str, object]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ImagePart):
        url = part.url if part.data is None else data_url(part.media_type or "", part.data)
        image: dict[str, object] = {"url": url}
        if part.detail is not None:
            image["detail"] = part.detail
        return {"type": "image_url", "image_url": image}
    if isinstance(part, ThinkingPart):  # message_to_wire leaves them out
        msg = f"{where}: the OpenAI wire has no field for thinking"
        raise InvalidRequest(msg, code="invalid_body")
    if part.data is None:
        msg = f"{where}: the OpenAI wire takes documents as inline data only, not by URL"
        raise InvalidRequest(msg, code=UNSUPPORTED_DOCUMENTS)
    file: dict[str, object] = {"file_data": data_url(part.media_type, part.data)}
    if part.title is not None:
        file["filename"] = part.title
    return {"type": "file", "file": file}


def message_to_wire(message: Message, index: int) -> dict[str, object]:
    """Write one message of ``messages`` (thinking parts are not sent: no field for them)."""
    out: dict[str, object] = {"role": message.role}
    where = f"messages[{index}]"
    parts = [(i, p) for i, p in enumerate(message.parts) if not isinstance(p, ThinkingPart)]
    if parts:
        out["content"] = [_part_to_wire(part, f"{where}.content[{i}]") for i, part in parts]
    elif message.tool_calls and not message.content:
        out["content"] = None
    else:
        out["content"] = message.content
    if message.name is not None:
        out["name"] = message.name
    if message.tool_calls:
        out["tool_calls"] = [tool_call_to_wire(call) for call in message.tool_calls]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    return with_extra(out, message.extra, "openai")


def tool_call_to_wire(call: ToolCall) -> dict[str, object]:
    """One entry of an assistant message's ``tool_calls``."""
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


def tool_calls_from_wire(message: Fields) -> tuple[ToolCall, ...]:
    """The ``tool_calls`` of an answer's message."""
    return tuple(_tool_call(call) for call in message.objs("tool_calls"))
