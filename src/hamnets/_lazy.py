"""Lazy re-exports (PEP 562), so that ``hamnets --help`` starts without importing torch."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` that import ``name`` from the module
    ``exports[name]`` (relative to ``package``; ``""`` names a subpackage ``.name``) on first
    use."""

    def __getattr__(name: str) -> Any:
        where = exports.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if where == "":
            return import_module(f".{name}", package)
        return getattr(import_module(where, package), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
