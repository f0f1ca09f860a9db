"""Declared = imported: what the library and the chapters import is exactly what a user's
install brings.

A user gets the library's ``dependencies`` (``pip install camwalls``) and, for the book, the
extras that ``requirements.txt`` installs (``-e .[book]``; Colab's first cell installs the same
extras). Every third-party module imported by ``camwalls_lib`` or by a chapter's code cells
must come from one of them -- never only from ``requirements-test.txt`` -- and every package
declared there must be imported by something. The test-only requirements are held to the same
rule against ``tests/``.
"""

from __future__ import annotations

import ast
import functools
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# Tools that requirements.txt installs for building the book; nothing imports them.
BUILD_TOOLS = {"jupyter-book", "sphinx-exercise", "ipykernel"}
# Test tools that pytest loads as a runner or plugin rather than by an import.
TEST_RUNNERS = {"pytest"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _name(requirement: str) -> str:
    return _canonical(re.split(r"[\s\[<>=!~;@]", requirement.strip(), maxsplit=1)[0])


# Calls that import the module named by their first argument: importlib's, and the lazy
# import of the optional peer libraries (camwalls_lib.peers.require).
DYNAMIC_IMPORTS = {"import_module", "require"}


def imported_modules(source: str) -> set[str]:
    """Top-level names of every absolute import in ``source``, including ``import_module("m")``
    and ``require("m", ...)`` with a literal name (IPython magics ignored)."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    found = set()
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.add(node.module.split(".")[0])
        elif (isinstance(node, ast.Call) and node.args
              and getattr(node.func, "id", getattr(node.func, "attr", None)) in DYNAMIC_IMPORTS
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and not node.args[0].value.startswith(".")):
            found.add(node.args[0].value.split(".")[0])
    return found


TOOLS = {p.stem for p in (REPO / "tools").glob("*.py")}    # tools/ scripts import each other
# The instructors' tools (assignments from the exercises, grading): they may import the
# `instructors` extra too, which neither a reader's install nor the library needs.
INSTRUCTOR_TOOLS = {"assignments", "questions", "grade"}


def _third_party(modules: set[str]) -> set[str]:
    return {m for m in modules
            if m not in sys.stdlib_module_names and m != "camwalls_lib" and m not in TOOLS}


def library_imports(instructors: bool = False) -> dict[str, str]:
    """{module: first file importing it} over ``camwalls_lib/`` and ``tools/``; over the
    instructors' tools alone with ``instructors=True``."""
    found = {}
    tools = [p for p in (REPO / "tools").glob("*.py") if (p.stem in INSTRUCTOR_TOOLS) == instructors]
    for path in sorted([*([] if instructors else (REPO / "camwalls_lib").rglob("*.py")), *tools]):
        for m in _third_party(imported_modules(path.read_text())):
            found.setdefault(m, str(path.relative_to(REPO)))
    return found


def chapter_imports() -> dict[str, str]:
    """{module: first chapter importing it} over the code cells of ``book/*.ipynb``."""
    found = {}
    for path in sorted((REPO / "book").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                for m in _third_party(imported_modules(cell.source)):
                    found.setdefault(m, str(path.relative_to(REPO)))
    return found


def test_imports_are_read_from_code_not_magics():
    src = ('%pip install -q "x"\nimport numpy as np\nfrom torch.nn import functional\nfrom . import a\n'
           'lib = require("captum.attr", "captum")\nimportlib.import_module(f"{__name__}.x")\n')
    assert imported_modules(src) == {"numpy", "torch", "captum"}


def requirements_txt_extras() -> set[str]:
    """The extras that ``requirements.txt`` installs with the library (``-e .[book]``)."""
    text = (REPO / "requirements.txt").read_text()
    match = re.search(r"^-e \.\[([\w,\s-]+)\]", text, re.M)
    assert match, "requirements.txt must install the library with its extras: -e .[book]"
    return {e.strip() for e in match.group(1).split(",")}


def declared_for_users() -> set[str]:
    """Distributions the README's build command installs, as canonical names."""
    names = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    for extra in requirements_txt_extras():
        names |= {_name(r) for r in PYPROJECT["project"]["optional-dependencies"][extra]}
    return names


def _requirement_lines(path: Path) -> set[str]:
    return {_name(line) for line in path.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith(("#", "-"))}


@functools.cache
def _module_to_distributions() -> dict[str, list[str]]:
    return packages_distributions()          # scans every installed distribution: once


def _distributions(module: str) -> set[str]:
    dists = _module_to_distributions().get(module)
    if not dists:
        pytest.fail(f"'{module}' is imported but no installed distribution provides it: "
                    "declare it in pyproject.toml and reinstall (pip install -r requirements.txt)")
    return {_canonical(d) for d in dists}


def test_instructor_tools_exist():
    assert INSTRUCTOR_TOOLS <= TOOLS, f"no tools/{sorted(INSTRUCTOR_TOOLS - TOOLS)}.py"


@pytest.mark.parametrize("where", ["library", "chapters", "instructors"])
def test_every_import_is_declared_for_users(where):
    imports = {"library": library_imports, "chapters": chapter_imports,
               "instructors": lambda: library_imports(instructors=True)}[where]()
    declared = declared_for_users()
    if where == "instructors":
        declared |= {_name(r) for r in PYPROJECT["project"]["optional-dependencies"]["instructors"]}
    missing = {m: f for m, f in imports.items() if not _distributions(m) & declared}
    assert not missing, (
        "imported but not installed by `pip install -r requirements.txt` (add the distribution "
        "to pyproject.toml's dependencies, or to the [book] extra if only the chapters need it): "
        + ", ".join(f"{m} ({f})" for m, f in sorted(missing.items())))


def test_every_declared_package_is_imported():
    used = set()
    for m in {**library_imports(), **library_imports(instructors=True), **chapter_imports()}:
        used |= _distributions(m)
    declared = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    for extra in PYPROJECT["project"].get("optional-dependencies", {}).values():
        declared |= {_name(r) for r in extra}
    unused = declared - used
    assert not unused, f"declared in pyproject.toml but imported by nothing: {sorted(unused)}"


def test_requirements_txt_adds_only_build_tools():
    extra = _requirement_lines(REPO / "requirements.txt") - BUILD_TOOLS
    assert not extra, (f"requirements.txt lists {sorted(extra)} beyond the library and the build "
                       "tools: declare them in pyproject.toml so that Colab's install gets them too")


def test_test_requirements_are_used_by_the_tests():
    used = set()
    for path in (REPO / "tests").glob("*.py"):
        for m in imported_modules(path.read_text()) - sys.stdlib_module_names:
            if _module_to_distributions().get(m):
                used |= _distributions(m)
    listed = _requirement_lines(REPO / "requirements-test.txt") - TEST_RUNNERS
    unused = listed - used
    assert not unused, f"requirements-test.txt lists packages no test imports: {sorted(unused)}"
    duplicated = listed & declared_for_users()
    assert not duplicated, (f"requirements-test.txt repeats what requirements.txt installs: "
                            f"{sorted(duplicated)}")
