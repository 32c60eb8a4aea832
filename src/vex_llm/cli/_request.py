"""What ``vex-llm ask`` sends: the prompt, with ``--image``, ``--json-schema`` and ``--tools``.

Every file is read and checked before any provider is called; a file that cannot be used
is one ``UsageError`` line naming the flag, the file and what is wrong.
"""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from .. import ImagePart, LlmRequest, Message, ResponseFormat, TextPart, Tool
from .._limits import quote
from . import _checks
from ._checks import UsageError

MAX_JSON_BYTES: Final = 4 * 1024 * 1024
"""The largest ``--json-schema`` or ``--tools`` file read (4 MiB): no schema is that big."""

MAX_IMAGE_BYTES: Final = 20 * 1024 * 1024
"""The largest ``--image`` file read (20 MiB, OpenAI's limit per image)."""

_SIGNATURES: Final = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
"""Magic bytes of the image types both wires take (WebP is checked apart: RIFF....WEBP)."""

_SCHEMA_NAME: Final = re.compile(r"[^A-Za-z0-9_-]+")
_WRAPPER_KEYS: Final = frozenset({"name", "schema", "strict", "description"})
_TOOL_KEYS: Final = frozenset({"name", "description", "parameters", "input_schema", "strict"})


def request(
    prompt: str,
    *,
    images: Sequence[str] = (),
    json_schema: Path | None = None,
    tools: Path | None = None,
) -> LlmRequest:
    """The request of one ``ask``.

    Args:
        prompt: The user's prompt.
        images: ``--image`` values: local files or http(s) URLs, sent after the prompt.
        json_schema: The ``--json-schema`` file.
        tools: The ``--tools`` file.

    Returns:
        The request.

    Raises:
        UsageError: On a file or URL that cannot be used.
    """
    parts = [image(value) for value in images]
    message = Message("user", [TextPart(prompt), *parts]) if parts else Message("user", prompt)
    return LlmRequest(
        [message],
        tools=load_tools(tools) if tools is not None else (),
        response_format=load_schema(json_schema) if json_schema is not None else None,
    )


def image(value: str) -> ImagePart:
    """One ``--image``: an http(s) URL the model fetches, or a local file sent inline.

    Raises:
        UsageError: On a missing or unreadable file, one that is not an image, or a bad URL.
    """
    if value.lower().startswith(("http://", "https://")):
        return ImagePart(url=_checks.url("--image", value, schemes=_checks.HTTP_SCHEMES))
    if "://" in value:
        msg = f"--image takes a file or an http(s) URL, got {_checks.shown(value)}"
        raise UsageError(msg)
    path = Path(value)
    data = _read("--image", path, MAX_IMAGE_BYTES)
    media_type = _media_type(path, data)
    if media_type is None:
        msg = f"--image {_shown(path)} is not a PNG, JPEG, GIF or WebP image"
        raise UsageError(msg)
    return ImagePart(data=data, media_type=media_type)


def _media_type(path: Path, data: bytes) -> str | None:
    """The image type from the bytes, else from the file name; ``None``: not an image."""
    for signature, media_type in _SIGNATURES:
        if data.startswith(signature):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed if guessed is not None and guessed.startswith("image/") else None


def load_schema(path: Path) -> ResponseFormat:
    """``--json-schema``: a JSON Schema file, as a strict JSON Schema response format.

    The schema's name (which OpenAI requires: letters, digits, ``_`` and ``-``, at most 64)
    is the file's name without its extension, other characters replaced by ``_``. A file
    holding OpenAI's ``{"name": ..., "schema": {...}, "strict": ...}`` wrapper gives its
    inner schema and its name (the answer is strict either way).

    Raises:
        UsageError: On a file that cannot be read, is not JSON, or is not a JSON object.
    """
    schema = _read_json("--json-schema", path)
    stem = path.stem
    if isinstance(schema, dict) and _is_wrapped(schema):
        # OpenAI's own wrapper, as its docs show it: the schema is inside, named.
        name, schema = schema.get("name"), schema["schema"]
        stem = name if isinstance(name, str) and name else stem
    if not isinstance(schema, dict):
        msg = f"--json-schema {_shown(path)} must hold a JSON Schema object, got {_kind(schema)}"
        raise UsageError(msg)
    name = _SCHEMA_NAME.sub("_", stem).strip("_")[:64] or "schema"
    return ResponseFormat.json_schema(name, schema, strict=True)


def _is_wrapped(value: dict[str, object]) -> bool:
    """Whether a schema file holds OpenAI's ``{"name", "schema", "strict"}`` wrapper.

    No JSON Schema keyword is called ``schema`` (``$schema`` is), so a ``schema`` object
    beside only the wrapper's own fields is the wrapper.
    """
    return isinstance(value.get("schema"), dict) and set(value) <= _WRAPPER_KEYS


def load_tools(path: Path) -> tuple[Tool, ...]:
    """``--tools``: a JSON list of tools (or an object with a ``tools`` list).

    Each tool is OpenAI's ``{"type": "function", "function": {"name", "description",
    "parameters", "strict"}}`` or the plain ``{"name", "description", "parameters"}``
    (Anthropic's ``input_schema`` is taken for ``parameters`` too).

    Raises:
        UsageError: Naming the file and the first entry or field that is wrong.
    """
    data = _read_json("--tools", path)
    if isinstance(data, dict) and "tools" in data:
        data = data["tools"]
    if not isinstance(data, list) or not data:
        what = "an empty list" if data == [] else _kind(data)
        msg = f"--tools {_shown(path)} must hold a list of tools, got {what}"
        raise UsageError(msg)
    try:
        tools = [_tool(entry, f"tools[{index}]") for index, entry in enumerate(data)]
    except _BadTool as exc:
        msg = f"--tools {_shown(path)}: {exc}"
        raise UsageError(msg) from None
    names = [tool.name for tool in tools]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        msg = f"--tools {_shown(path)} names a tool twice: {', '.join(map(quote, repeated))}"
        raise UsageError(msg)
    return tuple(tools)


class _BadTool(Exception):
    """An entry of a tools file that cannot be a tool; the message says where and why."""


def _tool(entry: object, where: str) -> Tool:
    """One entry of a tools file, in either form."""
    fields, where = _definition(entry, where)
    name, description = fields.get("name"), fields.get("description")
    if not isinstance(name, str) or not name.strip():
        raise _BadTool(f"{where}.name must be a non-empty string")
    if description is not None and not isinstance(description, str):
        raise _BadTool(f"{where}.description must be a string, got {_kind(description)}")
    if "parameters" in fields and "input_schema" in fields:
        raise _BadTool(f"{where} has both parameters and input_schema; keep one")
    field = "input_schema" if "input_schema" in fields else "parameters"
    parameters = fields.get(field)
    if parameters is not None and not isinstance(parameters, dict):
        raise _BadTool(f"{where}.{field} must be a JSON Schema object, got {_kind(parameters)}")
    strict = fields.get("strict")
    if strict is not None and not isinstance(strict, bool):
        raise _BadTool(f"{where}.strict must be true or false, got {_kind(strict)}")
    return Tool(name=name, description=description, parameters=parameters, strict=strict)


def _definition(entry: object, where: str) -> tuple[dict[str, object], str]:
    """The tool's own fields (inside OpenAI's ``function`` wrapper, if any), and where."""
    if not isinstance(entry, dict):
        raise _BadTool(f"{where} must be a tool object, got {_kind(entry)}")
    if "type" in entry or "function" in entry:
        if entry.get("type") != "function" or set(entry) != {"type", "function"}:
            raise _BadTool(f'{where} must be {{"type": "function", "function": {{...}}}}')
        where, entry = f"{where}.function", entry["function"]
        if not isinstance(entry, dict):
            raise _BadTool(f"{where} must be an object, got {_kind(entry)}")
    unknown = sorted(set(entry) - _TOOL_KEYS)
    if unknown:
        known = ", ".join(sorted(_TOOL_KEYS))
        raise _BadTool(f"{where} has unknown field {quote(unknown[0])} (a tool has {known})")
    return entry, where


def _read(flag: str, path: Path, limit: int) -> bytes:
    """A file's bytes, at most ``limit`` of them."""
    try:
        with path.open("rb") as file:
            data = file.read(limit + 1)
    except FileNotFoundError:
        msg = f"{flag} {_shown(path)}: no such file"
        raise UsageError(msg) from None
    except OSError as exc:
        msg = f"{flag} {_shown(path)}: cannot read it ({exc.strerror or type(exc).__name__})"
        raise UsageError(msg) from None
    if len(data) > limit:
        msg = f"{flag} {_shown(path)} is larger than {limit // (1024 * 1024)} MiB"
        raise UsageError(msg)
    if not data:
        msg = f"{flag} {_shown(path)} is empty"
        raise UsageError(msg)
    return data


def _read_json(flag: str, path: Path) -> object:
    """A JSON file's value."""
    raw = _read(flag, path, MAX_JSON_BYTES)
    try:
        return json.loads(raw.decode("utf-8-sig"))  # a BOM from a Windows editor is fine
    except UnicodeDecodeError as exc:
        msg = f"{flag} {_shown(path)} is not UTF-8 text (byte {exc.start})"
        raise UsageError(msg) from None
    except json.JSONDecodeError as exc:
        at = f"line {exc.lineno}, column {exc.colno}"
        msg = f"{flag} {_shown(path)} is not valid JSON: {exc.msg} ({at})"
        raise UsageError(msg) from None
    except RecursionError:
        msg = f"{flag} {_shown(path)} is nested too deeply"
        raise UsageError(msg) from None


def _kind(value: object) -> str:
    """What a JSON value is, for a message."""
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "a number"


def _shown(path: Path) -> str:
    """A path as one quoted line (a file name may hold anything)."""
    return quote(str(path))
