"""The tenant a call is made for: a context variable, like the deadline.

``with tenant("acme"):`` marks the vex-llm calls inside the block as made for tenant
``acme`` (a gateway sets it from the caller's key). It follows the call into the tasks it
spawns and never leaks into other calls. Rate limiters pick the tenant's tier from it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Final

_TENANT: Final[ContextVar[str | None]] = ContextVar("vex_llm_tenant", default=None)


@contextmanager
def tenant(name: str) -> Iterator[None]:
    """Make the calls inside the block calls for tenant ``name``.

    Use it as ``with tenant("acme"):`` (it works around ``await`` and ``async with``
    alike). Nested blocks name the innermost tenant.

    Args:
        name: The tenant's id (a non-empty string).

    Raises:
        ValueError: On an empty or non-string name.
    """
    value: object = name
    if not isinstance(value, str) or not value:
        msg = f"tenant name must be a non-empty string, got {name!r}"
        raise ValueError(msg)
    token = _TENANT.set(name)
    try:
        yield
    finally:
        _TENANT.reset(token)


def current_tenant() -> str | None:
    """The tenant of the call running in this context (``None`` outside ``tenant()``)."""
    return _TENANT.get()
