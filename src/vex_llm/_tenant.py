"""The tenant a call is made for: one context variable, like the call's deadline.

The gateway sets it from the caller's key; an application sets it per request with
``with vex_llm.tenant("acme"):``. The rate limiter picks the tenant's budgets by it and the
cache keys its entries by it, so one tenant never sees another's answers. It follows a
call into the tasks it spawns and never leaks into other calls (no global state).
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from types import TracebackType

_TENANT: ContextVar[str | None] = ContextVar("vex_llm_tenant", default=None)


def current_tenant() -> str | None:
    """The tenant of the call running in this context (``None``: none was set)."""
    return _TENANT.get()


class tenant:  # named like a function: used as `with tenant("acme"):`
    """Make the vex-llm calls inside the block calls for ``name``.

    Use it as ``with tenant("acme"):`` or ``async with tenant("acme"):``. Nested blocks
    replace the outer tenant until they end.

    Args:
        name: The tenant's id (a non-empty string).

    Raises:
        ValueError: On an empty or non-string name.
    """

    __slots__ = ("_name", "_token")

    def __init__(self, name: str) -> None:
        value: object = name
        if not isinstance(value, str) or not value:
            msg = f"tenant name must be a non-empty str, got {name!r}"
            raise ValueError(msg)
        self._name = name
        self._token: Token[str | None] | None = None

    @property
    def name(self) -> str:
        """The tenant's id."""
        return self._name

    def __enter__(self) -> str:
        if self._token is not None:
            msg = "a tenant() scope cannot be entered twice at once; make a new one"
            raise RuntimeError(msg)
        self._token = _TENANT.set(self._name)
        return self._name

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _TENANT.reset(self._token)
            self._token = None

    async def __aenter__(self) -> str:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)
