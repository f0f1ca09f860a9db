"""Declared = imported: what the library and the chapters import is exactly what a user's
install brings.

A user gets the library's ``dependencies`` (``pip install camwalls``) and, for the book, the
extras that ``requirements.txt`` installs (``-e .[book]``). Every third-party module imported
by ``camwalls_lib`` or by a chapter's code cells must come from one of them -- never only from
``requirements-test.txt`` -- and every package declared there must be imported by something.
On Colab a chapter's first cell installs only the extra of its group of chapters
(``[tool.camwalls.chapter-extras]``): each group must cover what its chapters import, directly
or through the library modules they import. The test-only requirements are held to the same
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


# ----------------------------------------------------------------------------- per chapter
# Colab's first cell installs only the extra of the chapter's group (book/_templates/
# first_cell.py): every third-party module the chapter imports, directly or through the
# library modules it imports, must come from the core dependencies or that extra.

LIB = REPO / "camwalls_lib"


def _module_file(name: str) -> Path | None:
    """The file of library module ``name`` (``camwalls_lib.x.y``), or None."""
    parts = name.split(".")[1:]
    base = LIB.joinpath(*parts)
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _library_modules_named(source: str, package: str | None = None) -> dict[str, bool]:
    """``{module: imported as a module object}`` for the ``camwalls_lib`` modules that
    ``source`` imports: ``import P`` and ``from Q import P`` (P a module) give ``P: True``;
    ``from P import name`` (name not a module) runs P's ``__init__`` only, ``P: False``.
    ``package`` resolves relative imports."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    found: dict[str, bool] = {}
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.Import):
            found |= {a.name: True for a in node.names if a.name.split(".")[0] == "camwalls_lib"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if package is None:
                    continue
                parts = package.split(".")
                module = ".".join(parts[:len(parts) - node.level + 1] + [node.module or ""]).rstrip(".")
            else:
                module = node.module
            if module.split(".")[0] != "camwalls_lib":
                continue
            found.setdefault(module, False)
            found |= {f"{module}.{a.name}": True for a in node.names
                      if _module_file(f"{module}.{a.name}")}
    return found


def _package_of(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1])


@functools.cache
def _third_party_reached(module: str, named: bool = True) -> frozenset[str]:
    """Third-party top-level modules that importing library ``module`` can bring in: its own
    imports (lazy ones inside functions included: a chapter may call them), its parent
    packages' and, recursively, those of every library module they import. A package that
    imports its submodules by a computed name (``import_module(f"{__name__}...")``, as
    :mod:`camwalls_lib.peers` does) reaches all of them when it is imported as a module
    (``named``), not when only a name is taken from it."""
    seen, todo, found = set(), [(module, named)], set()
    while todo:
        name, named = todo.pop()
        path = _module_file(name)
        if (name, named) in seen or path is None:
            continue
        seen.add((name, named))
        source = path.read_text()
        found |= _third_party(imported_modules(source))
        todo += list(_library_modules_named(source, _package_of(path)).items())
        parts = name.split(".")
        todo += [(".".join(parts[:i]), False) for i in range(1, len(parts))]
        if named and path.name == "__init__.py" and 'import_module(f"{__name__}.' in source:
            todo += [(f"{name}.{p.stem}", True) for p in path.parent.glob("*.py")
                     if p.stem != "__init__"]
    return frozenset(found)


def chapter_needs(path: Path) -> set[str]:
    """Every third-party top-level module a chapter's code cells reach."""
    nb = nbformat.read(path, as_version=4)
    needs = set()
    for cell in nb.cells[1:]:            # the first cell is the install itself
        if cell.cell_type == "code":
            needs |= _third_party(imported_modules(cell.source))
            for module, named in _library_modules_named(cell.source).items():
                needs |= _third_party_reached(module, named)
    return needs


def chapter_groups() -> dict[str, str]:
    """``{chapter stem: extra}`` from ``[tool.camwalls.chapter-extras]`` of pyproject.toml."""
    groups = PYPROJECT["tool"]["camwalls"]["chapter-extras"]
    by_number = {number: extra for extra, numbers in groups.items() for number in numbers}
    return {p.stem: by_number.get(p.stem.split("_")[0]) for p in sorted((REPO / "book").glob("*.ipynb"))}


def _declared(extra: str | None) -> set[str]:
    names = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    if extra is not None:
        names |= {_name(r) for r in PYPROJECT["project"]["optional-dependencies"][extra]}
    return names


def test_library_modules_and_their_third_party_imports_are_followed():
    src = "from camwalls_lib.data import photos\nimport camwalls_lib.cams\n%pip install x\n"
    assert _library_modules_named(src) == {"camwalls_lib.data": False,
                                           "camwalls_lib.data.photos": True,
                                           "camwalls_lib.cams": True}
    assert "skimage" in _third_party_reached("camwalls_lib.data.photos")     # a lazy import
    assert "captum" in _third_party_reached("camwalls_lib.peers")            # by computed name
    assert "captum" not in _third_party_reached("camwalls_lib.peers.grad_cam")
    assert "pytorch_grad_cam" in _third_party_reached("camwalls_lib.peers.grad_cam")


@pytest.mark.parametrize("chapter", sorted(chapter_groups()))
def test_each_chapter_group_installs_what_the_chapter_imports(chapter):
    extra = chapter_groups()[chapter]
    assert extra is not None, (f"{chapter} belongs to no group: add its number to one list of "
                               "[tool.camwalls.chapter-extras] in pyproject.toml")
    assert extra in PYPROJECT["project"]["optional-dependencies"], f"no extra named {extra}"
    declared = _declared(extra)
    missing = sorted(m for m in chapter_needs(REPO / "book" / f"{chapter}.ipynb")
                     if not _distributions(m) & declared)
    assert not missing, (f"{chapter} imports {missing} (directly or through camwalls_lib), which "
                         f"neither the dependencies nor the extra [{extra}] install: add them to "
                         f"[{extra}] in pyproject.toml")


def test_book_extra_is_every_group_and_the_tools():
    extras = PYPROJECT["project"]["optional-dependencies"]
    groups = set(PYPROJECT["tool"]["camwalls"]["chapter-extras"])
    union = {_name(r) for g in groups for r in extras[g]}
    tools = {_name(r) for r in extras["book"]} - union
    assert union <= {_name(r) for r in extras["book"]}, "[book] must hold every chapter group"
    assert tools == {"nbformat", "pyyaml"}, f"[book] adds {sorted(tools)} beyond the groups and the tools"
