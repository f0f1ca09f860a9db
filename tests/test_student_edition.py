"""The student edition: every solution removed, every exercise kept, notebooks still valid."""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

EDITION = Path(__file__).resolve().parent.parent / "tools" / "edition.py"

from edition import (
    SOLUTION_TAG,
    count_directives,
    make_student_edition,
    solution_code,
    strip_solutions,
)

BOOK = Path(__file__).resolve().parent.parent / "book"


def _md(src):
    return nbformat.v4.new_markdown_cell(src)


def _code(src, tags=()):
    cell = nbformat.v4.new_code_cell(src)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def _sources(nb):
    return "\n".join(c.source for c in nb.cells)


@pytest.fixture
def small_nb():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _md("# Chapter\n\nSome text with $x^2$."),
        _md("```{exercise}\n:label: ex-one\nCompute $\\mu$.\n```\n\n"
            "````{solution} ex-one\n:class: dropdown\nThe answer is\n```python\nmu = 0\n```\n````\n\n"
            "Text after the solution stays."),
        _md(":::{exercise}\n:label: ex-two\nColon fences too.\n:::\n\n:::{solution} ex-two\nSecret two.\n:::"),
        _md("```{exercise-start}\n:label: ex-three\n```\nGated exercise.\n```{exercise-end}\n```\n\n"
            "```{solution-start} ex-three\n```\nSecret three, first part."),
        _code("secret_three = 3"),
        _md("Secret three, markdown cell inside the gate."),
        _md("Secret three, last part.\n```{solution-end}\n```\nVisible after the gate."),
        _code("secret_four = 4", tags=[SOLUTION_TAG]),
        _md("````markdown\nA literal example, not a solution:\n```{solution} not-real\n```\n````"),
        _md("`````{admonition} Nested\n````{solution} ex-one\nSecret five.\n````\nKept admonition text.\n`````"),
        _code("visible = 1"),
    ]
    nbformat.validate(nb)
    return nb


def test_strip_solutions_removes_every_form_and_keeps_everything_else(small_nb):
    removed = []
    out = strip_solutions(small_nb, removed)
    text = _sources(out)
    for secret in ("The answer is", "mu = 0", "Secret two", "Secret three", "secret_three",
                   "secret_four", "Secret five"):
        assert secret not in text, secret
    for kept in ("# Chapter", "Compute $\\mu$", "Text after the solution stays", "Colon fences too",
                 "Gated exercise", "Visible after the gate", "A literal example", "not-real",
                 "Kept admonition text", "visible = 1"):
        assert kept in text, kept
    assert count_directives(out, "solution") == 0
    assert count_directives(out, "solution-start") == 0
    assert count_directives(out, "solution-end") == 0
    assert count_directives(out, "exercise") == 2
    assert count_directives(out, "exercise-start") == 1
    assert [r.kind for r in removed] == ["solution", "solution", "solution-start/end", "tagged cell",
                                         "solution"]
    assert removed[2].cells == 2          # the code cell and the markdown cell wholly inside the gate
    assert not any(SOLUTION_TAG in c.metadata.get("tags", []) for c in out.cells)
    nbformat.validate(out)


def test_solution_code_collects_the_python_of_every_solution_form(small_nb):
    nb = nbformat.v4.new_notebook()
    nb.cells = [*small_nb.cells,
                _md("```{solution} ex-four\nIndented, as in the chapters:\n\n    a = 1\n"
                    "    b = a + 1\n\nand a shell line that is not Python:\n```text\n"
                    "pip install x\n```\n```")]
    assert solution_code(nb) == ["mu = 0", "secret_three = 3", "secret_four = 4",
                                 "a = 1\nb = a + 1"]


def test_strip_solutions_does_not_modify_its_input(small_nb):
    before = nbformat.writes(small_nb)
    strip_solutions(small_nb)
    assert nbformat.writes(small_nb) == before


def test_a_notebook_without_solutions_is_unchanged():
    nb = nbformat.v4.new_notebook()
    nb.cells = [_md("```{exercise}\n:label: e\nQ\n```"), _code("x = 1")]
    removed = []
    out = strip_solutions(nb, removed)
    assert removed == [] and nbformat.writes(out) == nbformat.writes(nb)


def test_an_unclosed_gated_solution_is_an_error():
    nb = nbformat.v4.new_notebook()
    nb.cells = [_md("```{solution-start} e\n```\nanswer"), _code("x = 1")]
    with pytest.raises(ValueError, match="solution-end"):
        strip_solutions(nb)


def test_cli_writes_stripped_copies_and_reports(tmp_path, small_nb):
    src, out = tmp_path / "src", tmp_path / "student"
    (src / "sub").mkdir(parents=True)
    nbformat.write(small_nb, src / "sub" / "ch.ipynb")
    nbformat.write(nbformat.v4.new_notebook(), src / "empty.ipynb")
    (src / "notes.md").write_text("not a notebook")
    run = subprocess.run([sys.executable, str(EDITION), str(src), str(out)],
                         capture_output=True, text=True, check=True)
    assert "sub/ch.ipynb: removed 5 items" in run.stdout
    assert "ex-two" in run.stdout
    assert "2 notebook(s)" in run.stdout
    student = nbformat.read(out / "sub" / "ch.ipynb", as_version=4)
    nbformat.validate(student)
    assert "Secret" not in _sources(student)
    assert not (out / "notes.md").exists()


def test_cli_refuses_to_overwrite_the_sources(tmp_path, small_nb):
    nbformat.write(small_nb, tmp_path / "ch.ipynb")
    run = subprocess.run([sys.executable, str(EDITION), str(tmp_path), str(tmp_path)],
                         capture_output=True, text=True)
    assert run.returncode != 0 and "OUT_DIR" in run.stderr
    assert "Secret" in _sources(nbformat.read(tmp_path / "ch.ipynb", as_version=4))


BOOK_NOTEBOOKS = sorted(p for p in BOOK.glob("*.ipynb"))


def test_the_book_has_notebooks():
    assert BOOK_NOTEBOOKS, f"no notebooks in {BOOK}"


@pytest.mark.parametrize("path", BOOK_NOTEBOOKS, ids=[p.name for p in BOOK_NOTEBOOKS])
def test_real_chapter_student_edition(path):
    nb = nbformat.read(path, as_version=4)
    removed = []
    out = strip_solutions(nb, removed)
    nbformat.validate(out)
    for name in ("solution", "solution-start", "solution-end"):
        assert count_directives(out, name) == 0, f"{path.name}: a {{{name}}} survived"
    for name in ("exercise", "exercise-start", "exercise-end"):
        assert count_directives(out, name) == count_directives(nb, name), f"{path.name}: {name} lost"
    assert not any(SOLUTION_TAG in c.metadata.get("tags", []) for c in out.cells)
    n_solutions = (count_directives(nb, "solution") + count_directives(nb, "solution-start")
                   + sum(SOLUTION_TAG in c.metadata.get("tags", []) for c in nb.cells))
    assert len(removed) == n_solutions
    # nothing but solutions went: every code cell outside solutions is still there
    gated = sum(r.cells for r in removed)
    assert len(out.cells) >= len(nb.cells) - len(removed) - gated


def test_whole_book_student_edition(tmp_path):
    report = make_student_edition(BOOK, tmp_path / "student", echo=lambda *_: None)
    assert set(report) == {p.relative_to(BOOK).as_posix() for p in BOOK.rglob("*.ipynb")
                           if not {"_build", ".ipynb_checkpoints", "_templates", "_static"}
                           & set(p.relative_to(BOOK).parts)}
    for rel in report:
        nbformat.validate(nbformat.read(tmp_path / "student" / rel, as_version=4))


def test_an_edition_that_fails_half_way_writes_nothing(tmp_path):
    """A notebook that cannot be stripped (an unclosed solution block) stops the edition
    before any notebook is written: no half-written edition."""
    import nbformat as nbf
    src = tmp_path / "src"
    src.mkdir()
    good = nbf.v4.new_notebook(cells=[nbf.v4.new_markdown_cell("# fine")])
    bad = nbf.v4.new_notebook(cells=[nbf.v4.new_markdown_cell(
        "```{solution-start} ex-a\n```"), nbf.v4.new_code_cell("x = 1")])
    nbf.write(good, src / "01_a.ipynb")
    nbf.write(bad, src / "02_b.ipynb")
    with pytest.raises(ValueError, match="never closed"):
        make_student_edition(src, tmp_path / "out", echo=lambda *_: None)
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_an_edition_writes_nothing_outside_its_output(tmp_path):
    import shutil
    src = tmp_path / "src"
    shutil.copytree(BOOK, src, ignore=shutil.ignore_patterns("_build", ".ipynb_checkpoints"))
    before = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
    make_student_edition(src, tmp_path / "out", echo=lambda *_: None)
    assert {p: p.read_bytes() for p in src.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]
    assert not list((tmp_path / "out").rglob("*.tmp"))
