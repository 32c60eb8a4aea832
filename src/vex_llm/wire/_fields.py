"""Reading JSON bodies field by field, with errors that name the field."""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Mapping, Sequence
from typing import NoReturn, TypeVar

from .._errors import InvalidRequest, InvalidResponse, LlmError

_T = TypeVar("_T")


class Fields:
    """A JSON object being read, with its path in the body for error messages.

    Args:
        data: The object.
        path: Where it sits in the body (``"messages[2]"``; ``""`` for the body itself).
        error: ``InvalidRequest`` for request bodies, ``InvalidResponse`` for answers.
    """

    __slots__ = ("data", "error", "path")

    def __init__(self, data: object, path: str, error: type[LlmError]) -> None:
        if not isinstance(data, Mapping):
            where = path or "the body"
            msg = f"{where} must be a JSON object, got {type(data).__name__}"
            raise error(msg, code="invalid_body")
        self.data: Mapping[str, object] = data
        self.path = path
        self.error = error

    @classmethod
    def request(cls, body: object) -> Fields:
        """A request body (malformed fields raise ``InvalidRequest``)."""
        return cls(body, "", InvalidRequest)

    @classmethod
    def response(cls, body: object) -> Fields:
        """An answer body (malformed fields raise ``InvalidResponse``)."""
        return cls(body, "", InvalidResponse)

    def where(self, key: str | int) -> str:
        """The path of ``key`` inside this object."""
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str | int, expected: str) -> NoReturn:
        """Raise the body's error for ``key``, saying what was expected."""
        msg = f"{self.where(key)}: expected {expected}"
        raise self.error(msg, code="invalid_body")

    def build(self, make: Callable[..., _T], *args: object, **kwargs: object) -> _T:
        """``make(*args, **kwargs)``, its ``ValueError`` (an empty tool-call id, ...) raised
        as the body's error naming this object."""
        try:
            return make(*args, **kwargs)
        except ValueError as exc:
            msg = f"{self.path or 'the body'}: {exc}"
            raise self.error(msg, code="invalid_body") from exc

    def has(self, key: str) -> bool:
        """Whether ``key`` is present and not null."""
        return self.data.get(key) is not None

    def text(self, key: str) -> str | None:
        """An optional string."""
        value = self.data.get(key)
        if value is not None and not isinstance(value, str):
            self.fail(key, "a string")
        return value

    def need_text(self, key: str) -> str:
        """A required string."""
        value = self.text(key)
        if value is None:
            self.fail(key, "a string (required)")
        return value

    def integer(self, key: str) -> int | None:
        """An optional integer (not a bool)."""
        value = self.data.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            self.fail(key, "an integer")
        return value

    def number(self, key: str) -> float | None:
        """An optional finite number."""
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(key, "a number")
        if not math.isfinite(value):
            self.fail(key, "a finite number")
        return value

    def flag(self, key: str) -> bool | None:
        """An optional boolean."""
        value = self.data.get(key)
        if value is not None and not isinstance(value, bool):
            self.fail(key, "true or false")
        return value

    def obj(self, key: str) -> Fields | None:
        """An optional nested object."""
        value = self.data.get(key)
        return None if value is None else Fields(value, self.where(key), self.error)

    def need_obj(self, key: str) -> Fields:
        """A required nested object."""
        found = self.obj(key)
        if found is None:
            self.fail(key, "an object (required)")
        return found

    def array(self, key: str) -> Sequence[object] | None:
        """An optional array."""
        value = self.data.get(key)
        if value is not None and (isinstance(value, str) or not isinstance(value, Sequence)):
            self.fail(key, "an array")
        return value

    def objs(self, key: str, *, required: bool = False) -> list[Fields]:
        """An array of objects (empty when absent and not required)."""
        items = self.array(key)
        if items is None:
            if required:
                self.fail(key, "an array (required)")
            return []
        where = self.where(key)
        return [Fields(item, f"{where}[{i}]", self.error) for i, item in enumerate(items)]

    def texts(self, key: str) -> tuple[str, ...] | None:
        """An optional array of strings."""
        items = self.array(key)
        if items is None:
            return None
        if not all(isinstance(item, str) for item in items):
            self.fail(key, "an array of strings")
        return tuple(str(item) for item in items)

    def schema(self, key: str) -> Mapping[str, object] | None:
        """An optional JSON Schema (any object, kept as the body's own dict)."""
        value = self.data.get(key)
        if value is not None and not isinstance(value, Mapping):
            self.fail(key, "a JSON Schema object")
        return value

    def unknown(self, known: frozenset[str]) -> dict[str, object]:
        """The fields of this object that are not in ``known``, in body order."""
        return {key: value for key, value in self.data.items() if key not in known}

    def extras(self, known: frozenset[str], wire: str) -> dict[str, dict[str, object]] | None:
        """The unknown fields as an ``extra`` for ``wire`` (``None`` when there are none)."""
        unknown = self.unknown(known)
        return {wire: unknown} if unknown else None

    def reject_unknown(self, known: frozenset[str]) -> None:
        """Refuse fields we cannot carry: never drop a nested field silently."""
        for key, value in self.data.items():
            if key not in known and value is not None:
                msg = f"{self.where(key)}: not supported by vex-llm's model of this wire"
                raise self.error(msg, code="unsupported_field")

    def b64(self, key: str) -> bytes:
        """A required base64 string, decoded."""
        text = self.need_text(key)
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            self.fail(key, "base64 data")


def b64(data: bytes) -> str:
    """Encode bytes as base64 text."""
    return base64.b64encode(data).decode("ascii")


def parse_data_url(url: str) -> tuple[str, bytes] | None:
    """Split ``data:<media type>;base64,<data>`` into (media type, bytes); None otherwise."""
    if not url.startswith("data:"):
        return None
    head, sep, payload = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        return None
    try:
        return head[: -len(";base64")], base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None


def data_url(media_type: str, data: bytes) -> str:
    """Build a base64 ``data:`` URL."""
    return f"data:{media_type};base64,{b64(data)}"
