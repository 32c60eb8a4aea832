"""Guarded: what ``@breaker`` turns a function into."""

from __future__ import annotations

import functools
import types


class Guarded(functools.partial):  # type: ignore[type-arg]  # bound per use
    """A function guarded by a breaker: ``call`` with the breaker and the function bound.

    A partial, so a guarded call costs no Python frame beyond ``call`` itself; unlike a
    plain partial it binds like a function, so decorated methods get their ``self``.
    """

    def __get__(self, instance: object, owner: type | None = None) -> object:
        return self if instance is None else types.MethodType(self, instance)
