"""The book's exercises as autograded assignments (Otter-Grader), one per chapter.

For each chapter, the student edition's cells (solutions removed by ``tools/edition.py``) with
each exercise turned into an Otter question (``tools/questions.py``: autograded when its
solution calls one of the library's checks, graded by hand otherwise), written as an Otter
master notebook; then ``otter assign`` makes the student's copy and the autograder::

    python tools/assignments.py book assignments                  # every chapter
    python tools/assignments.py book assignments --chapters 01 05  # some chapters

OUT (new, written all at once) then holds, for chapter ``NN_name``:

- ``NN_name/student/NN_name.ipynb``: the notebook to hand out (no solution; ``grader.check``
  cells give the public tests' feedback while working);
- ``NN_name/autograder/autograder.zip``: what ``tools/grade.py`` grades with, and
  ``NN_name/autograder/NN_name.ipynb``: the notebook with every solution, the rubric of the
  questions graded by hand;
- ``masters/NN_name.ipynb``: the Otter master notebook, and ``questions.csv``: every question
  with its points and how it is graded.

``otter assign`` runs the solutions through the autograder and stops on anything short of full
marks (``--no-check`` skips this, which takes as long as running the chapters).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
import otter.assign
from otter.run import capture_run_output

from edition import _close_index, _fence_body, _opening, _without_options, strip_solutions
from questions import Question, question

__all__ = ["master_notebook", "make_assignments", "main"]


def _exercise_label(body: list[str]) -> str:
    for line in body:
        if line.strip().startswith(":label:"):
            return line.split(":label:", 1)[1].strip()
    raise ValueError("an {exercise} without a :label: cannot be matched with its solution: "
                     "add ':label: ex-...' to it in the chapter.")


def _split_exercises(source: str):
    """Yield ("text", markdown) and ("exercise", (label, prompt)) pieces of a Markdown cell."""
    lines, text, i = source.split("\n"), [], 0
    while i < len(lines):
        f = _opening(lines[i])
        if f is None:
            text.append(lines[i])
            i += 1
            continue
        end = _close_index(lines, i + 1, f)
        if f.directive == "exercise":
            if "".join(text).strip():
                yield "text", "\n".join(text).strip("\n")
            text = []
            body = _fence_body(lines, i, end, f)
            yield "exercise", (_exercise_label(body), "\n".join(_without_options(body)).strip())
        else:
            text += lines[i:end + 1]
        i = end + 1
    if "".join(text).strip():
        yield "text", "\n".join(text).strip("\n")


def _config(name: str) -> str:
    return "\n".join(["# ASSIGNMENT CONFIG", f"name: {name}", "export_cell: false",
                      "check_all_cell: true", "tests:", "  files: false", "  ok_format: false",
                      "generate:", "  show_stdout: true"])


def master_notebook(chapter) -> tuple[nbformat.NotebookNode, list[Question]]:
    """The Otter master notebook of ``chapter`` (a path to a book notebook) and its questions."""
    path = Path(chapter)
    book = nbformat.read(path, as_version=4)
    removed = []
    student = strip_solutions(book, removed)
    solutions = {r.label: r for r in removed if r.label}
    cells = [nbformat.v4.new_raw_cell(_config(path.stem))]
    questions = []
    for cell in student.cells:
        if cell.cell_type != "markdown":
            cells.append(cell)
            continue
        for kind, piece in _split_exercises(cell.source):
            if kind == "text":
                cells.append(nbformat.v4.new_markdown_cell(piece))
                continue
            label, prompt = piece
            if label not in solutions:
                raise ValueError(f"{path.name}: exercise {label} has no solution; write one "
                                 "(the rubric of its question) before making assignments.")
            r = solutions[label]
            q = question(label, prompt, r.code, "\n".join(r.text).strip())
            questions.append(q)
            cells += q.cells()
    if not questions:
        raise ValueError(f"{path.name} has no exercise: nothing to assign.")
    master = nbformat.v4.new_notebook(cells=cells, metadata=book.metadata)
    nbformat.validate(master)
    return master, questions


def _chapters(book: Path, wanted: list[str] | None) -> list[Path]:
    if not book.is_dir():
        raise NotADirectoryError(f"BOOK must be the folder of the chapters (e.g. book), got {book}")
    found = sorted(p for p in book.glob("[0-9][0-9]_*.ipynb"))
    if not wanted:
        return found
    chosen = [p for p in found if any(p.stem == w or p.stem.startswith(f"{w}_") for w in wanted)]
    missing = [w for w in wanted if not any(p.stem == w or p.stem.startswith(f"{w}_")
                                            for p in chosen)]
    if missing:
        raise ValueError(f"no chapter {', '.join(missing)} in {book}; chapters are "
                         + ", ".join(p.stem.split('_')[0] for p in found))
    return chosen


def _assign(master: Path, result: Path, check: bool, echo) -> None:
    """``otter assign`` (quietly unless it fails); the autograder zip as ``autograder.zip``."""
    with capture_run_output() as log:
        try:
            otter.assign.main(str(master), str(result), no_pdfs=True, no_run_tests=not check)
        except Exception as e:
            raise RuntimeError(f"otter assign failed on {master.name}: {e}\n{log.getvalue()}") from e
    zips = list((result / "autograder").glob("*-autograder_*.zip"))
    if len(zips) != 1:
        raise RuntimeError(f"otter assign left {len(zips)} autograder zips in {result}")
    zips[0].rename(result / "autograder" / "autograder.zip")
    echo(f"{master.stem}: student/{master.name}, autograder/autograder.zip"
         + (" (solutions get full marks)" if check else ""))


def make_assignments(book, out, chapters: list[str] | None = None, check: bool = True,
                     echo=print) -> list[dict]:
    """Write the assignments of ``chapters`` (numbers or names; all by default) of the book in
    folder ``book`` to the new folder ``out``; return the rows of ``questions.csv``."""
    book, out = Path(book).resolve(), Path(out).resolve()
    if out.exists():
        raise FileExistsError(f"OUT {out} exists: choose a new folder (the tool does not "
                              "overwrite one).")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"The folder {out.parent} that should hold OUT does not exist: "
                                "create it first, or choose an OUT inside an existing folder.")
    paths = _chapters(book, chapters)
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        (tmp / "masters").mkdir()
        for path in paths:
            master, qs = master_notebook(path)
            master_path = tmp / "masters" / path.name
            nbformat.write(master, master_path)
            _assign(master_path, tmp / path.stem, check, echo)
            rows += [{"chapter": path.stem, "question": q.name, "level": q.level,
                      "points": q.points, "graded": "auto" if q.autograded else "by hand",
                      "answer": q.answer or ""} for q in qs]
        with open(tmp / "questions.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    auto = sum(r["graded"] == "auto" for r in rows)
    echo(f"{len(paths)} assignment(s) in {out}: {len(rows)} questions, {auto} autograded, "
         f"{len(rows) - auto} graded by hand")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python tools/assignments.py",
        description="Make an Otter-Grader assignment of each chapter's exercises: the student's "
                    "notebook and the autograder (grade with tools/grade.py).")
    parser.add_argument("book", metavar="BOOK", help="folder of the chapters, e.g. book")
    parser.add_argument("out", metavar="OUT", help="new folder for the assignments")
    parser.add_argument("--chapters", nargs="+", metavar="NN",
                        help="chapter numbers or names (default: every chapter)")
    parser.add_argument("--no-check", action="store_true",
                        help="do not run the solutions through the autograder")
    args = parser.parse_args(argv)
    try:
        make_assignments(args.book, args.out, args.chapters, check=not args.no_check)
    except (ValueError, OSError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
