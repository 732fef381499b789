"""The floors of the package: a lower floor never imports a higher one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "hamnets"

#: package -> the hamnets packages it must not import (directly or by a relative import).
FORBIDDEN = {
    "controls": {
        "training",
        "cli",
        "hnn",
        "systems",
        "hdnn",
        "datasets",
        "integrate",
        "analysis",
        "plotting",
        "vision",
        "distributed",
    },
    "integrate": {"training", "cli", "hnn", "systems", "hdnn", "datasets"},
    "systems": {"training", "cli", "hnn", "hdnn", "datasets"},
    "hdnn": {"training", "cli", "hnn", "systems", "integrate"},
    "hnn": {"training", "cli", "systems", "datasets"},
    "analysis": {"training", "cli"},
    "plotting": {"training", "cli"},
    "datasets": {"training", "cli"},
}


def _imported_packages(path: Path) -> set[str]:
    """The first-level hamnets packages that ``path`` imports."""
    rel = path.relative_to(SRC).parts  # e.g. ("systems", "_base.py")
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or "").split(".")
                if parts[0] == "hamnets" and len(parts) > 1:
                    out.add(parts[1])
                continue
            base = list(rel[:-1])[: len(rel) - node.level]  # the package the dots lead to
            parts = base + (node.module.split(".") if node.module else [])
            if parts:
                out.add(parts[0])
            else:  # ``from .. import x``: x are the packages
                out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "hamnets" and len(parts) > 1:
                    out.add(parts[1])
    return out


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_floors_do_not_import_higher_ones(package):
    bad = {
        str(path.relative_to(SRC)): sorted(_imported_packages(path) & FORBIDDEN[package])
        for path in (SRC / package).rglob("*.py")
    }
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, f"{package} imports a higher floor: {bad}"


def test_the_field_contracts_live_in_one_module():
    from hamnets import _field, hnn, systems

    assert hnn.HamiltonianField is _field.HamiltonianField
    assert hnn.SeparableField is _field.SeparableField
    assert issubclass(systems.HamiltonianSystem, _field.SeparableField)
