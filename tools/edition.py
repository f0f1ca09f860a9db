"""Student edition: the book's notebooks with every solution taken out, exercises kept.

Three ways of writing a solution in a chapter are recognised (all are sphinx-exercise's,
except the tag):

1. a solution directive in a Markdown cell, with backticks or colons, any fence length::

       ```{solution} ex-label
       :class: dropdown
       The answer...
       ```

2. the gated form, which may span several cells (code cells included)::

       ```{solution-start} ex-label
       ```
       ...markdown and code cells...
       ```{solution-end}
       ```

3. any cell whose metadata tags include ``solution`` (e.g. a worked code answer).

Library use::

    import nbformat
    from edition import solution_code, strip_solutions   # with tools/ on sys.path
    nb = nbformat.read("book/04_proposition2.ipynb", as_version=4)
    student = strip_solutions(nb)
    answers = solution_code(nb)      # the Python inside the solutions, to run after the chapter

Command line (writes one stripped copy of every ``.ipynb`` under SRC_DIR into OUT_DIR and
prints what it removed)::

    python tools/edition.py book student
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from camwalls_lib import validate

__all__ = ["strip_solutions", "solution_code", "strip_notebook_file", "make_student_edition", "Removal",
           "count_directives", "SOLUTION_TAG"]

SOLUTION_TAG = "solution"

# An opening fence: backticks, tildes or colons (MyST colon_fence), then the info string.
_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,}|:{3,})(?P<info>.*)$")
# The directive name at the start of an info string, e.g. "{solution} ex-1" -> "solution".
_DIRECTIVE = re.compile(r"^\s*\{(?P<name>[A-Za-z0-9_.:+-]+)\}(?P<arg>.*)$")

_SKIP_DIRS = {"_build", ".ipynb_checkpoints", "_templates", "_static", ".venv"}


@dataclass
class Removal:
    """One thing taken out of a notebook (used for the printed report)."""

    kind: str            # "solution", "solution-start/end" or "tagged cell"
    cell: int            # index of the (first) cell it was in, in the original notebook
    label: str = ""      # the solution's argument (usually the exercise label), if any
    lines: int = 0       # how many source lines went
    cells: int = 0       # whole cells removed with it (gated form: the cells between start/end)
    code: list[str] = field(default_factory=list)   # the Python it held (see solution_code)
    text: list[str] = field(default_factory=list)   # what it said, as Markdown (code fenced)

    def __str__(self) -> str:
        what = f"{self.kind} {self.label}".strip()
        more = f", {self.cells} more cell{'s' if self.cells != 1 else ''}" if self.cells else ""
        return f"cell {self.cell}: {what} ({self.lines} line{'s' if self.lines != 1 else ''}{more})"


@dataclass
class _Fence:
    char: str
    length: int
    directive: str | None
    arg: str


def _opening(line: str) -> _Fence | None:
    m = _FENCE.match(line)
    if not m:
        return None
    fence, info = m.group("fence"), m.group("info")
    if fence[0] == "`" and "`" in info:     # CommonMark: a backtick fence's info has no backtick
        return None
    d = _DIRECTIVE.match(info)
    return _Fence(fence[0], len(fence), d.group("name") if d else None,
                  d.group("arg").strip() if d else info.strip())


def _closes(line: str, fence: _Fence) -> bool:
    s = line.strip()
    return (len(s) >= fence.length and set(s) == {fence.char})


def _close_index(lines: list[str], start: int, fence: _Fence) -> int:
    """Index of the line closing ``fence`` (opened on line ``start - 1``): the first line made
    only of the fence's character, at least as long, as in CommonMark/MyST. If the cell ends
    first, the fence runs to the end of the cell (MyST does the same)."""
    for i in range(start, len(lines)):
        if _closes(lines[i], fence):
            return i
    return len(lines) - 1


def _fence_body(lines: list[str], start: int, end: int, fence: _Fence) -> list[str]:
    """The lines inside ``fence``, opened on line ``start`` and ending on line ``end`` (its
    closing line, or the cell's last line when it is never closed)."""
    return lines[start + 1:end] if _closes(lines[end], fence) else lines[start + 1:end + 1]


def _is_code_fence(f: _Fence) -> bool:
    """A fence whose content is literal (```python ...), not MyST to look inside."""
    return f.directive is None or f.directive in {"code-cell", "code-block", "code", "sourcecode"}


class _Gate:
    """State of a gated ``{solution-start}`` ... ``{solution-end}`` block, across cells."""

    def __init__(self, record: Removal | None = None):
        self.record = record          # the Removal of the open gate, None when closed

    @property
    def open(self) -> bool:
        return self.record is not None


def _strip_lines(lines: list[str], cell: int, gate: _Gate, removed: list[Removal]) -> list[str]:
    """Kept lines of ``lines``. Fences are matched as MyST does: a fence closes at the first
    line of its character that is at least as long, whatever is inside; the content of a
    directive (exercise, admonition, tab...) is then searched recursively for solutions, the
    content of a code fence is literal."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        f = _opening(lines[i])
        end = _close_index(lines, i + 1, f) if f is not None else i
        if gate.open:                              # inside solution-start ... solution-end
            gate.record.lines += end - i + 1
            if f is not None:                      # fenced code; lines are seen one by one
                gate.record.code += _code_blocks(lines[i:end + 1])
            if f is not None and f.directive == "solution-end":
                gate.record = None
            else:
                gate.record.text += lines[i:end + 1]
            i = end + 1
            continue
        if f is None:
            out.append(lines[i])
        elif f.directive == "solution":
            body = _fence_body(lines, i, end, f)
            removed.append(Removal("solution", cell, f.arg, end - i + 1, code=_code_blocks(body),
                                   text=_without_options(body)))
        elif f.directive == "solution-start":
            gate.record = Removal("solution-start/end", cell, f.arg, end - i + 1)
            removed.append(gate.record)
        elif _is_code_fence(f):
            out.extend(lines[i:end + 1])           # literal content: never look inside
        else:                                      # another directive: keep it, look inside
            out.append(lines[i])
            out.extend(_strip_lines(_fence_body(lines, i, end, f), cell, gate, removed))
            if _closes(lines[end], f):
                out.append(lines[end])
        i = end + 1
    return out


def _without_options(lines: list[str]) -> list[str]:
    """A directive's body without its leading option lines (``:class: dropdown``)."""
    i = 0
    while i < len(lines) and re.match(r"^\s*:[\w-]+:", lines[i]):
        i += 1
    return lines[i:]


def _strip_markdown(src: str, cell: int, gate: _Gate, removed: list[Removal]) -> str:
    """Remove solutions from one Markdown cell (``gate`` carries an open gated block)."""
    lines = src.split("\n")
    out = _strip_lines(lines, cell, gate, removed)
    if out == lines:
        return src
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []) or [])


def strip_solutions(nb, removed: list[Removal] | None = None):
    """Return a copy of notebook ``nb`` without its solutions (the input is not modified).

    Removes ``{solution}`` directives, gated ``{solution-start}`` ... ``{solution-end}``
    blocks (with every cell between them) and cells tagged ``solution``; keeps exercises and
    everything else. Markdown cells left empty are dropped. If ``removed`` is a list, one
    :class:`Removal` per thing taken out is appended to it.
    """
    removed = [] if removed is None else removed
    if not hasattr(nb, "cells"):
        if not (isinstance(nb, dict) and isinstance(nb.get("cells"), list)):
            raise TypeError(f"strip_solutions needs a notebook (nbformat.read(path, as_version=4)), "
                            f"got {type(nb).__name__}" + (" without a 'cells' list"
                                                          if isinstance(nb, dict) else "") + ".")
        nb = nbformat.from_dict(nb)               # a plain JSON dict of a notebook
    nb = copy.deepcopy(nb)
    cells = []
    gate = _Gate()
    for index, cell in enumerate(nb.cells):
        src = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        if SOLUTION_TAG in _tags(cell):
            code = cell.cell_type == "code"
            removed.append(Removal("tagged cell", index, cell.cell_type, len(src.splitlines()),
                                   code=[src] if code else _code_blocks(src.split("\n")),
                                   text=["```python", src, "```"] if code else src.split("\n")))
            continue
        if cell.cell_type == "markdown":
            was_open = gate.open
            new = _strip_markdown(src, index, gate, removed)
            if not new.strip() and (new != src or was_open):
                if was_open:                      # the whole cell was inside the gate
                    gate_record = gate.record or next(r for r in reversed(removed)
                                                      if r.kind == "solution-start/end")
                    gate_record.cells += 1
                continue
            cell.source = new
            cells.append(cell)
        elif gate.open:                           # a code/raw cell inside the gate
            gate.record.lines += len(src.splitlines())
            gate.record.cells += 1
            if cell.cell_type == "code":
                gate.record.code.append(src)
                gate.record.text += ["```python", src, "```"]
        else:
            cells.append(cell)
    if gate.open:
        raise ValueError("a {solution-start} block is never closed by {solution-end} "
                         f"(opened in cell {gate.record.cell})")
    nb.cells = cells
    return nb


_PYTHON_INFO = {"", "python", "python3", "py", "ipython", "ipython3"}


def _code_blocks(lines: list[str]) -> list[str]:
    """The Python in Markdown ``lines``: fenced blocks (```` ```python ````, a bare fence,
    ``{code-cell}``), also inside directives, and indented blocks (4 spaces after a blank
    line)."""
    blocks: list[str] = []
    i = 0
    while i < len(lines):
        f = _opening(lines[i])
        if f is not None:
            end = _close_index(lines, i + 1, f)
            body = _fence_body(lines, i, end, f)
            if f.directive == "code-cell" or (f.directive is None and f.char != ":"
                                               and f.arg.lower() in _PYTHON_INFO):
                blocks.append("\n".join(body))
            elif not _is_code_fence(f):
                blocks += _code_blocks(body)
            i = end + 1
        elif lines[i].startswith("    ") and (i == 0 or not lines[i - 1].strip()):
            j = i
            while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
                j += 1
            blocks.append(textwrap.dedent("\n".join(lines[i:j])))
            i = j
        else:
            i += 1
    return [b.strip("\n") for b in blocks if b.strip()]


def solution_code(nb) -> list[str]:
    """The Python of every solution of ``nb``, in order: fenced or indented blocks inside
    ``{solution}`` directives and tagged Markdown cells, fenced blocks and code cells inside
    a gated block, and code cells tagged ``solution``. Run after the chapter's own cells, each should execute without error (the book's
    tests do exactly that)."""
    removed: list[Removal] = []
    strip_solutions(nb, removed)
    return [block for r in removed for block in r.code]


def _directive_names(lines: list[str]):
    """Names of the directives opened in ``lines``, nested ones included (code skipped)."""
    i = 0
    while i < len(lines):
        f = _opening(lines[i])
        if f is None:
            i += 1
            continue
        end = _close_index(lines, i + 1, f)
        if not _is_code_fence(f):
            yield f.directive
            yield from _directive_names(_fence_body(lines, i, end, f))
        i = end + 1


def count_directives(nb, name: str) -> int:
    """How many ``{name}`` directives the Markdown cells of ``nb`` open (code fences skipped)."""
    return sum(
        1
        for cell in nb.cells if cell.cell_type == "markdown"
        for d in _directive_names((cell.source if isinstance(cell.source, str)
                                   else "".join(cell.source)).split("\n"))
        if d == name)


def strip_notebook_file(src: Path, dst: Path) -> list[Removal]:
    """Write the student copy of notebook ``src`` to ``dst``; return what was removed."""
    student, removed = _student_copy(src)
    _write_notebook(student, dst)
    return removed


def _student_copy(src: Path):
    """``(notebook without solutions, removals)`` of ``src``, validated; nothing written."""
    removed: list[Removal] = []
    student = strip_solutions(nbformat.read(src, as_version=4), removed)
    nbformat.validate(student)
    return student, removed


def _write_notebook(nb, dst: Path) -> None:
    """``nb`` to ``dst`` atomically (a temporary file beside it, then ``os.replace``)."""
    validate.atomic_write(dst, lambda tmp: nbformat.write(nb, tmp))


def make_student_edition(src_dir, out_dir, echo=print) -> dict[str, list[Removal]]:
    """Copy every ``.ipynb`` under ``src_dir`` to ``out_dir`` (same relative paths), solutions
    removed. Returns {relative path: removals}."""
    for name, value in (("SRC_DIR", src_dir), ("OUT_DIR", out_dir)):
        if not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"{name} must be a folder path, got {type(value).__name__}.")
    src_dir, out_dir = Path(src_dir).resolve(), Path(out_dir).resolve()
    if src_dir.is_file():
        raise NotADirectoryError(f"{src_dir} is a file, not a folder: pass the folder that "
                                 "holds the notebooks (e.g. book); strip one notebook with "
                                 "strip_notebook_file(src, dst).")
    if not src_dir.is_dir():
        raise FileNotFoundError(f"no such folder: {src_dir}")
    if out_dir.is_file():
        raise NotADirectoryError(f"OUT_DIR {out_dir} is a file, not a folder: choose a new "
                                 "folder name for the student edition.")
    if out_dir == src_dir:
        raise ValueError("OUT_DIR must differ from SRC_DIR (the originals would be overwritten)")
    report: dict[str, list[Removal]] = {}
    notebooks = sorted(p for p in src_dir.rglob("*.ipynb")
                       if not (set(p.relative_to(src_dir).parts[:-1]) & _SKIP_DIRS)
                       and out_dir not in p.parents)
    students = {path.relative_to(src_dir): _student_copy(path) for path in notebooks}
    for rel, (student, removed) in students.items():    # every notebook stripped, then written
        _write_notebook(student, out_dir / rel)
        report[rel.as_posix()] = removed
        echo(f"{rel.as_posix()}: removed {len(removed)} item{'s' if len(removed) != 1 else ''}")
        for r in removed:
            echo(f"    {r}")
    total = sum(len(v) for v in report.values())
    echo(f"student edition: {len(report)} notebook(s) written to {out_dir}, {total} solution item(s) removed")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python tools/edition.py",
        description="Copy every notebook of SRC_DIR to OUT_DIR with all solutions removed "
                    "({solution} directives, {solution-start}...{solution-end} blocks, cells "
                    "tagged 'solution'); exercises are kept.")
    parser.add_argument("src_dir", metavar="SRC_DIR", help="folder with the book's notebooks, e.g. book")
    parser.add_argument("out_dir", metavar="OUT_DIR", help="where the student notebooks go, e.g. student")
    args = parser.parse_args(argv)
    try:
        make_student_edition(args.src_dir, args.out_dir)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
