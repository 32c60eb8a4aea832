"""The cache key of a request: a stable digest of everything that shapes the answer.

Every field of the request takes part -- messages with their parts, tool calls and
extras, model, sampling settings, stop sequences, tools, tool choice, response format,
seed, user, reasoning, extras -- walked generically over the dataclass fields, so a field
added to ``LlmRequest`` later takes part too. The tenant and the cache's namespace are
mixed in, so tenants never share entries. The digest is the same in every process (no
``hash()``, no ids, dict keys sorted, ``marshal`` format 2), so a shared store works
across hosts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import marshal
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Final, cast

from .._types import LlmRequest

VERSION: Final = "vex-cache-1"

_FIELDS: dict[type, Callable[[object], tuple[object, ...]]] = {}
_PLAIN: Final = (str, int, float, bool, type(None))
_SCALARS: Final = frozenset(_PLAIN)


class Unkeyable(TypeError):
    """A request holds a value with no stable form (it is not cached)."""


def request_key(request: LlmRequest, namespace: str, tenant: str | None) -> str:
    """The hex digest that names ``request``'s answer for ``tenant`` in ``namespace``.

    Raises:
        Unkeyable: If an extra or schema holds something other than JSON-like values.
    """
    # marshal format 2 (no back-references, strings written the same whether interned or
    # not) of plain values is the same bytes in every process, and far cheaper than repr.
    plain = (VERSION, namespace, tenant, _plain(request))
    data = marshal.dumps(plain, 2)  # type: ignore[arg-type]  # nested tuples of scalars
    return hashlib.sha256(data).hexdigest()


def _reader(kind: type) -> Callable[[object], tuple[object, ...]]:
    """Reads every field of a dataclass in one C call: the key is on every hit's path."""
    names = [f.name for f in dataclasses.fields(kind)]
    if len(names) == 1:
        return lambda value: (getattr(value, names[0]),)
    return operator.attrgetter(*names)


def _plain(value: object) -> object:
    """``value`` as nested tuples of str, int, float, bool and None.

    Every tuple starts with a tag saying what it was (``"["`` a sequence, ``"{}"`` a
    mapping, a dataclass's name), so two different values never give one form (an empty
    dict and the list ``["{}"]`` would otherwise).
    """
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is tuple or kind is list:
        elements = cast("Sequence[object]", value)
        return ("[", *[v if type(v) in _SCALARS else _plain(v) for v in elements])
    fields = _FIELDS.get(kind)
    if fields is None and dataclasses.is_dataclass(value):
        fields = _FIELDS[kind] = _reader(kind)
    if fields is not None:
        values: tuple[object, ...] = fields(value)
        return (kind.__name__, *[v if type(v) in _SCALARS else _plain(v) for v in values])
    if isinstance(value, _PLAIN):  # subclasses of str, int, ... (an IntEnum, a StrEnum)
        return (kind.__name__, repr(value))
    if isinstance(value, Mapping):
        items = [(str(key), type(key).__name__, _plain(item)) for key, item in value.items()]
        return ("{}", *sorted(items, key=lambda entry: entry[:2]))
    if isinstance(value, bytes):
        return ("bytes", hashlib.sha256(value).hexdigest())
    msg = f"a {kind.__name__} has no stable cache key"
    raise Unkeyable(msg)
