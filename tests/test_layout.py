"""The package layout: no module imports another package's underscore module."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import vex_llm

SRC = Path(vex_llm.__file__).parent

# Imports that still reach into another package's private module, as (importer, imported).
# The list only shrinks: fix one, delete its line (a listed import that is gone fails the
# test, so the list cannot go stale). Empty: no such import is left.
KNOWN: frozenset[tuple[str, str]] = frozenset()


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_of(path: Path) -> str:
    """The package a module belongs to (a package's ``__init__`` belongs to itself)."""
    return ".".join(path.relative_to(SRC.parent).parent.parts)


def _is_module(name: str) -> bool:
    relative = Path(*name.split("."))
    return (SRC.parent / relative).with_suffix(".py").exists() or (
        SRC.parent / relative / "__init__.py"
    ).exists()


def _imported(path: Path) -> Iterator[str]:
    """Every module a file imports, absolute, including names imported from a package
    that are modules themselves (``from . import _render``)."""
    package = _package_of(path).split(".")
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            origin = ".".join([*base, *(node.module or "").split(".")]).strip(".")
            yield origin
            for alias in node.names:
                if _is_module(f"{origin}.{alias.name}"):
                    yield f"{origin}.{alias.name}"


def _private_owner(module: str) -> str | None:
    """The package whose private module ``module`` is (``None``: a public module)."""
    parts = module.split(".")
    for index, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:index])
    return None


def _allowed(package: str, target: str) -> bool:
    """Whether a module of ``package`` may import ``target``."""
    owner = _private_owner(target)
    if not target.startswith("vex_llm") or owner is None:
        return True
    # The core's private modules (vex_llm._types, _errors, _clock, ...) are shared by every
    # layer; a package's own private modules are its own business.
    return owner == "vex_llm" or package == owner or package.startswith(f"{owner}.")


def _violations() -> set[tuple[str, str]]:
    return {
        (_module_name(path), target)
        for path in sorted(SRC.rglob("*.py"))
        for target in _imported(path)
        if not _allowed(_package_of(path), target)
    }


def test_no_module_imports_another_packages_private_module() -> None:
    """Packages meet through public names only (the known exceptions are listed above)."""
    assert _violations() - KNOWN == set()


def test_every_listed_exception_still_exists() -> None:
    """A fixed exception leaves the list, so the list only shrinks."""
    assert _violations() >= KNOWN


@pytest.mark.parametrize(
    ("package", "target", "allowed"),
    [
        ("vex_llm.cli", "vex_llm.testing._chaos_run", False),
        ("vex_llm.config", "vex_llm.providers._kinds", False),
        ("vex_llm.config", "vex_llm.providers", True),
        ("vex_llm.config", "vex_llm.config._load", True),
        ("vex_llm.policies", "vex_llm._types", True),
        ("vex_llm", "vex_llm._errors", True),
        ("vex_llm.cli", "httpx2._client", True),
    ],
)
def test_the_rule(package: str, target: str, allowed: bool) -> None:
    """Another package's private module is refused; core, own and public modules are not."""
    assert _allowed(package, target) is allowed


def test_relative_imports_resolve_to_modules() -> None:
    """``from . import _render`` and ``from ..lab import X`` are seen as the modules they are."""
    imported = set(_imported(SRC / "cli" / "_chaos.py"))
    assert {"vex_llm.cli._render", "vex_llm.cli._checks", "vex_llm.lab"} <= imported
