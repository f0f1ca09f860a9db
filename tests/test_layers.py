"""The library's layers import only downward (ARCHITECTURE.md): a network, an explainer or a
metric never trains, loads an experiment's results or draws a figure."""

import ast
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parent.parent / "camwalls_lib"

FORBIDDEN = {
    "data": {"training", "experiments", "book", "cams", "metrics", "networks"},
    "walls": {"training", "experiments", "book"},
    "networks": {"training", "experiments", "book", "metrics"},
    "cams": {"training", "experiments", "book", "networks"},
    "metrics": {"training", "experiments", "book"},
    "training": {"experiments", "book"},
}


def imported_packages(path: Path) -> set[str]:
    """The camwalls_lib sub-packages a module imports (relative or absolute, anywhere in it)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 2 and node.module:              # from ..X import ...
                found.add(node.module.split(".")[0])
            elif node.level == 2:                            # from .. import X, Y
                found |= {a.name for a in node.names}
            elif node.level == 0 and (node.module or "").startswith("camwalls_lib."):
                found.add(node.module.split(".")[1])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_import_only_downward(package):
    bad = {f"{path.name} imports {sorted(imported_packages(path) & FORBIDDEN[package])}"
           for path in (LIB / package).glob("*.py") if imported_packages(path) & FORBIDDEN[package]}
    assert not bad, bad
