"""Every solution's code runs: each chapter is executed with the Python of its solutions
appended (``solution_code`` of tools/edition.py), as a student who unfolds a solution and
pastes it under the chapter would.

Marked ``slow`` and ``solutions`` (each chapter runs once more, about as long as the book
build; caches written by the book build make the MNIST chapters faster). Run them alone with
``pytest -m solutions``; skip them with ``pytest -m "not solutions"``.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from edition import solution_code

REPO = Path(__file__).resolve().parent.parent
CHAPTERS = sorted(p for p in (REPO / "book").glob("[0-9]*.ipynb")
                  if solution_code(nbformat.read(p, as_version=4)))


def test_most_chapters_have_runnable_solutions():
    assert len(CHAPTERS) >= 10, [p.name for p in CHAPTERS]


@pytest.mark.slow
@pytest.mark.solutions
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_solution_code_runs_after_the_chapter(chapter, monkeypatch):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    shared_data = REPO.parent / "shared" / "data"
    if shared_data.is_dir() and "CAMWALLS_DATA" not in os.environ:
        monkeypatch.setenv("CAMWALLS_DATA", str(shared_data))
    monkeypatch.delenv("MPLBACKEND", raising=False)
    nb = nbformat.read(chapter, as_version=4)
    answers = solution_code(nb)
    nb.cells += [nbformat.v4.new_code_cell(f"# solution {i + 1} of {len(answers)}\n{code}")
                 for i, code in enumerate(answers)]
    client = NotebookClient(nb, timeout=1200, kernel_name="python3",
                            resources={"metadata": {"path": str(chapter.parent)}})
    try:
        client.execute()
    except CellExecutionError as e:
        pytest.fail(f"{chapter.name}: a solution (or the chapter before it) raised:\n{e}"[-4000:])
