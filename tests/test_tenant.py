"""vex_llm.tenant: the tenant of the calls inside a block, in a context variable."""

from __future__ import annotations

import asyncio

import pytest

from vex_llm import current_tenant, tenant


def test_no_tenant_by_default() -> None:
    """Outside any block there is no tenant."""
    assert current_tenant() is None


def test_block_sets_and_restores_the_tenant() -> None:
    """A block sets the tenant; nested blocks replace it until they end."""
    with tenant("acme") as name:
        assert name == current_tenant() == "acme"
        with tenant("globex"):
            assert current_tenant() == "globex"
        assert current_tenant() == "acme"
    assert current_tenant() is None


async def test_async_block_and_tasks_inherit_it() -> None:
    """``async with`` works, and tasks started inside see the tenant; others do not."""

    async def seen() -> str | None:
        return current_tenant()

    async with tenant("acme"):
        inside = asyncio.ensure_future(seen())
    outside = asyncio.ensure_future(seen())
    assert (await inside, await outside) == ("acme", None)


@pytest.mark.parametrize("name", ["", 3, None])
def test_bad_names_are_rejected(name: object) -> None:
    """A tenant is a non-empty string."""
    with pytest.raises(ValueError, match="tenant name"):
        tenant(name)  # type: ignore[arg-type]  # the point


def test_a_scope_is_entered_once() -> None:
    """Entering one scope object twice at once is a RuntimeError."""
    scope = tenant("acme")
    with scope, pytest.raises(RuntimeError), scope:
        pass
