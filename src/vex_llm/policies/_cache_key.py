"""The cache key of a request: a stable digest of everything that shapes the answer.

Every field of the request takes part -- messages with their parts, tool calls and
extras, model, sampling settings, stop sequences, tools, tool choice, response format,
seed, user, reasoning, extras -- walked generically over the dataclass fields, so a field
added to ``LlmRequest`` later takes part too. The tenant and the cache's namespace are
mixed in, so tenants never share entries. The digest is the same in every process
(no ``hash()``, no ids, dict keys sorted), so a shared store works across hosts.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from typing import Final

from .._types import LlmRequest

VERSION: Final = "vex-cache-1"

_FIELDS: dict[type, tuple[str, ...]] = {}
_PLAIN: Final = (str, int, float, bool, type(None))


class Unkeyable(TypeError):
    """A request holds a value with no stable form (it is not cached)."""


def request_key(request: LlmRequest, namespace: str, tenant: str | None) -> str:
    """The hex digest that names ``request``'s answer for ``tenant`` in ``namespace``.

    Raises:
        Unkeyable: If an extra or schema holds something other than JSON-like values.
    """
    text = repr((VERSION, namespace, tenant, _plain(request)))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _plain(value: object) -> object:
    """``value`` as nested tuples of str, int, float, bool and None, whose ``repr`` is
    the same in every process."""
    if isinstance(value, _PLAIN):
        return value
    kind = type(value)
    if kind is tuple or kind is list:
        return tuple(_plain(item) for item in value)  # type: ignore[attr-defined]  # a tuple or list
    names = _FIELDS.get(kind)
    if names is None and dataclasses.is_dataclass(value):
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        return (kind.__name__, *(_plain(getattr(value, name)) for name in names))
    if isinstance(value, Mapping):
        items = [(str(key), type(key).__name__, _plain(item)) for key, item in value.items()]
        return ("{}", *sorted(items, key=lambda entry: entry[:2]))
    if isinstance(value, bytes):
        return ("bytes", hashlib.sha256(value).hexdigest())
    msg = f"a {kind.__name__} has no stable cache key"
    raise Unkeyable(msg)
