"""The exercises as Otter-Grader assignments: made from the book, full marks for the book's own
solutions, zero (with the check's hint) for a wrong answer, no solution in a student's copy.

The default run covers chapter 1 (make, then grade two submissions); ``pytest -m slow`` covers
every chapter.
"""

import csv
import re
import zipfile
from pathlib import Path

import nbformat
import pytest

import assignments
import grade
from camwalls_lib.book import exercises
from edition import count_directives, strip_solutions
from questions import question

BOOK = Path(__file__).resolve().parent.parent / "book"
CHAPTERS = sorted(p.stem for p in BOOK.glob("[0-9][0-9]_*.ipynb"))

# A wrong answer for every autograded question (the expression, or a function's body).
WRONG = {
    "ex-first-wall-1": "(21, 27)",
    "ex-first-wall-2": '{"gradcam"}',
    "ex-cam-1": 'sum(S["M"]) + S["b"]',
    "ex-gradcam-1": 'p[0] * w[0] / (S["h"] * S["w_map"])',
    "ex-prop2-1": 'sum(W1[i, p] * W2[0, i] for i in range(2) for p in range(4)) / (S["h"] * S["w"])',
    "ex-theorem3-1": 'S["tau"]**2 * S["hprime"] * S["wprime"] / (S["h"] * S["w"])',
    "ex-theorem3-2": "1 - 20 / V",
    "ex-07-2": "return cap.dB.mean((2, 3))",
    "ex-10-1": "(154, 223)",
    "ex-14-2": '["hirescam"]',
}


def _answer_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"
            and {"otter_answer_cell", "otter_assign_solution_cell"} & set(c.metadata.get("tags", []))]


def _questions(out: Path, stem: str) -> list[dict]:
    with open(out / "questions.csv") as f:
        return [r for r in csv.DictReader(f) if r["chapter"] == stem]


def _submissions(out: Path, stem: str, folder: Path) -> None:
    """``solutions.ipynb``: the student's copy with the book's solutions in its answer cells;
    ``wrong.ipynb``: the same with a wrong answer for every autograded question."""
    student = nbformat.read(out / stem / "student" / f"{stem}.ipynb", as_version=4)
    solved = nbformat.read(out / stem / "autograder" / f"{stem}.ipynb", as_version=4)
    slots, answers = _answer_cells(student), _answer_cells(solved)
    assert len(slots) == len(answers) >= sum(r["graded"] == "auto" for r in _questions(out, stem))
    blank = [c.source for c in slots]
    for cell, solution in zip(slots, answers):
        cell.source = solution.source
    folder.mkdir(parents=True)
    nbformat.write(student, folder / "solutions.ipynb")
    for cell, src in zip(slots, blank):
        cell.source = src
    for row in _questions(out, stem):
        if row["graded"] == "auto":
            label, name = row["question"].replace("_", "-"), row["answer"]
            cell = next(c for c in slots if f"{name} = ..." in c.source or f"def {name}(" in c.source)
            cell.source = (cell.source.replace(f"{name} = ...", f"{name} = {WRONG[label]}")
                           if f"{name} = ..." in cell.source
                           else cell.source.replace("    ...", f"    {WRONG[label]}"))
    nbformat.write(student, folder / "wrong.ipynb")


def _grades_right_and_wrong(out: Path, stem: str, tmp_path: Path) -> None:
    _submissions(out, stem, tmp_path / "submissions")
    rows = grade.grade_folder(out / stem / "autograder" / "autograder.zip",
                              tmp_path / "submissions", tmp_path / "gradebook.csv", echo=lambda _: None)
    with open(tmp_path / "gradebook.csv") as f:
        assert [dict(r) for r in csv.DictReader(f)] == [{k: str(v) for k, v in r.items()} for r in rows]
    auto = {r["question"]: float(r["points"]) for r in _questions(out, stem) if r["graded"] == "auto"}
    by = {(r["student"], r["question"]): r for r in rows}
    assert {q for s, q in by} == set(auto), "one gradebook row per autograded question"
    for q, most in auto.items():
        right, wrong = by[("solutions", q)], by[("wrong", q)]
        assert (float(right["points"]), float(right["max_points"])) == (most, most), right["feedback"]
        assert float(wrong["points"]) == 0 and float(wrong["max_points"]) == most
        assert "Not yet: " in wrong["feedback"], wrong["feedback"]      # the check's hint


def _no_solution_in_student_copy(out: Path, stem: str) -> None:
    student = nbformat.read(out / stem / "student" / f"{stem}.ipynb", as_version=4)
    text = "\n".join(c.source for c in student.cells)
    for directive in ("solution", "solution-start", "solution-end"):
        assert count_directives(student, directive) == 0
    assert "# HIDDEN" not in nbformat.writes(student) and "hidden_" not in nbformat.writes(student)
    removed = []
    strip_solutions(nbformat.read(BOOK / f"{stem}.ipynb", as_version=4), removed)
    for r in removed:                    # the solution's prose, its answer line
        prose = [line for line in r.text if len(line) > 40 and not line.startswith(("```", " "))]
        for line in prose:
            assert line not in text, f"{stem}: solution text in the student's copy: {line}"
    master = nbformat.read(out / "masters" / f"{stem}.ipynb", as_version=4)
    for cell in master.cells:
        for line in cell.source.split("\n"):
            if line.endswith("# SOLUTION"):
                assert line.split(" = ", 1)[1].removesuffix("# SOLUTION").strip() not in text


@pytest.fixture(scope="module")
def chapter_one(tmp_path_factory):
    out = tmp_path_factory.mktemp("assign") / "out"
    assignments.make_assignments(BOOK, out, ["01"], check=False, echo=lambda _: None)
    return out


def test_chapter_one_full_marks_for_the_book_and_zero_for_wrong_answers(chapter_one, tmp_path):
    _grades_right_and_wrong(chapter_one, "01_first_wall", tmp_path)


def test_chapter_one_student_copy_has_no_solution(chapter_one):
    _no_solution_in_student_copy(chapter_one, "01_first_wall")
    rows = _questions(chapter_one, "01_first_wall")
    assert [(r["question"], r["graded"], r["points"]) for r in rows] == [
        ("ex_first_wall_1", "auto", "1"), ("ex_first_wall_2", "auto", "2"),
        ("ex_first_wall_3", "by hand", "3")]


@pytest.mark.slow
def test_every_chapter_is_an_assignment_graded_right(tmp_path):
    out = tmp_path / "out"
    rows = assignments.make_assignments(BOOK, out, check=False, echo=lambda _: None)
    assert sorted({r["chapter"] for r in rows}) == CHAPTERS
    for stem in CHAPTERS:
        _no_solution_in_student_copy(out, stem)
        if any(r["graded"] == "auto" for r in _questions(out, stem)):
            _grades_right_and_wrong(out, stem, tmp_path / stem)


def test_every_exercise_is_a_question_and_every_autograded_one_has_a_wrong_answer():
    for stem in CHAPTERS:
        book = nbformat.read(BOOK / f"{stem}.ipynb", as_version=4)
        _, qs = assignments.master_notebook(BOOK / f"{stem}.ipynb")
        assert len(qs) == count_directives(book, "exercise"), stem
        for q in qs:
            assert (q.label in WRONG) == q.autograded, q.label
            if q.autograded:
                assert q.tests and not q.tests[0].startswith("# HIDDEN")


# ------------------------------------------------------------------ the question of an exercise

def test_a_literal_answer_becomes_the_students_variable():
    q = question("ex-a", "**Warm-up.** Which rows?", ["m = make()\n_ = check_dead_rows(m, (1, 28, 28), (22, 27))"],
                 "Rows 22..27.")
    assert q.autograded and q.answer == "answer_dead_rows" and q.points == 1
    assert q.solution == "m = make()\nanswer_dead_rows = (22, 27)  # SOLUTION"
    assert len(q.tests) == 1 and "check_dead_rows(answer_dead_rows" not in q.tests[0]
    assert "from camwalls_lib.book.exercises import assert_correct, check_dead_rows" in q.tests[0]
    assert "def test_ex_a(answer_dead_rows, m):" in q.tests[0]     # the check is not the student's


def test_a_defined_answer_is_marked_where_it_is_defined_and_symbolic_ones_get_a_hidden_seed():
    q = question("ex-b", "**Core.** alpha?", ["S = syms()\nalpha = (S['a'] +\n         1)\nexercises.check_prop2_l2(alpha)\nprint(2)"], "")
    assert q.answer == "alpha" and q.points == 2
    assert q.solution.split("\n") == ["S = syms()", "alpha = S['a'] + 1  # SOLUTION",
                                      "# BEGIN SOLUTION NO PROMPT", "print(2)", "# END SOLUTION"]
    assert len(q.tests) == 2 and q.tests[1].startswith("# HIDDEN") and "seed=1" in q.tests[1]
    f = question("ex-c", "**Challenge.** A rule.",
                 ["def rule(cap):\n    a = cap.dB  # local\n    return a\n\n_ = check_zero_leak_rule(rule, m, x, z)"], "")
    assert f.answer == "rule" and f.solution.split("\n") == [
        "def rule(cap):", "    # BEGIN SOLUTION", "    a = cap.dB  # local", "    return a", "    # END SOLUTION"]


def test_an_exercise_without_a_check_is_graded_by_hand_with_the_solution_as_rubric():
    q = question("ex-d", "**Challenge.** Why?", ["print(1)"], "Because.")
    assert not q.autograded and q.points == 3
    kinds = [(c.cell_type, c.source.split("\n")[0]) for c in q.cells()]
    assert ("markdown", "Because.") in kinds and kinds[0] == ("raw", "# BEGIN QUESTION")
    assert ("code", "# BEGIN SOLUTION") in kinds             # room to compute, the book's code hidden
    assert "manual: true" in q.cells()[0].source


# ------------------------------------------------------------------ bad inputs

def test_assert_correct_returns_the_praise_and_raises_the_hint(capsys):
    assert exercises.assert_correct(exercises.check_uniform_mu, (54 / 224) ** 0.5).startswith("Correct: ")
    with pytest.raises(AssertionError, match="Not yet: mu is a ratio"):
        exercises.assert_correct(exercises.check_uniform_mu, 0.25)
    assert capsys.readouterr().out == ""
    with pytest.raises(TypeError, match="needs an exercise check"):
        exercises.assert_correct("check_uniform_mu", 0.25)


def test_a_symbolic_check_at_another_seed_still_tells_right_from_wrong():
    V = exercises.theorem3_symbols()["V"]
    assert exercises.check_cantelli(V / (V + 20), seed=1)
    assert not exercises.check_cantelli(V / (V + 21), seed=1)


def test_assignments_cli_refuses_bad_input(tmp_path, capsys):
    assert assignments.main([str(BOOK / "01_first_wall.ipynb"), str(tmp_path / "o")]) == 2
    assert "folder of the chapters" in capsys.readouterr().err
    assert assignments.main([str(BOOK), str(tmp_path / "o"), "--chapters", "99"]) == 2
    assert "no chapter 99" in capsys.readouterr().err
    (tmp_path / "exists").mkdir()
    assert assignments.main([str(BOOK), str(tmp_path / "exists")]) == 2
    assert "exists" in capsys.readouterr().err
    assert assignments.main([str(BOOK), str(tmp_path / "no" / "such" / "o")]) == 2
    assert "no/such that should hold OUT does not exist: create it first" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() and list(tmp_path.iterdir()) == [tmp_path / "exists"]


def test_master_notebook_refuses_exercises_it_cannot_match(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("```{exercise}\nNo label.\n```")])
    nbformat.write(nb, tmp_path / "01_x.ipynb")
    with pytest.raises(ValueError, match=":label:"):
        assignments.master_notebook(tmp_path / "01_x.ipynb")
    nb.cells[0].source = "```{exercise}\n:label: ex-x\nNo solution.\n```"
    nbformat.write(nb, tmp_path / "01_x.ipynb")
    with pytest.raises(ValueError, match="ex-x has no solution"):
        assignments.master_notebook(tmp_path / "01_x.ipynb")


def _autograder_zip(path, tests=("tests/q1.py",), config="{}", run=True):
    with zipfile.ZipFile(path, "w") as z:
        if config is not None:
            z.writestr("otter_config.json", config)
        if run:
            z.writestr("run_autograder", "#!/bin/bash\n")
        for name in tests:
            z.writestr(name, "OK_FORMAT = True\ntest = {'name': 'q1', 'points': 1, 'suites': []}\n")
    return path


@pytest.mark.parametrize("make, says", [
    (lambda p: _autograder_zip(p, tests=()), "holds no tests"),
    (lambda p: _autograder_zip(p, config=None), "not an Otter autograder"),
    (lambda p: _autograder_zip(p, run=False), "not an Otter autograder"),
    (lambda p: _autograder_zip(p, config="[1, 2]"), "not an Otter autograder"),
    (lambda p: _autograder_zip(p, config="{oops"), "cannot be read"),
])
def test_an_autograder_without_tests_or_not_otters_is_refused_before_grading(
        make, says, tmp_path, capsys, monkeypatch):
    """Nothing runs and an existing gradebook keeps its grades."""
    monkeypatch.setattr(grade, "grade_submission", lambda *a: pytest.fail("graded"))
    make(tmp_path / "ag.zip")
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "a.ipynb").write_text("{}")
    (tmp_path / "gb.csv").write_text("student,points\nalice,10\n")
    assert grade.main([str(tmp_path / "ag.zip"), str(tmp_path / "subs"), str(tmp_path / "gb.csv")]) == 2
    assert says in capsys.readouterr().err
    assert (tmp_path / "gb.csv").read_text() == "student,points\nalice,10\n"


def test_a_grading_where_no_notebook_ran_keeps_the_existing_gradebook(tmp_path, capsys,
                                                                       monkeypatch):
    failed = [{"student": "a", "question": "(notebook failed)", "points": 0, "max_points": "",
               "feedback": "boom"}]
    monkeypatch.setattr(grade, "grade_submission", lambda *a: failed)
    _autograder_zip(tmp_path / "ag.zip")
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "a.ipynb").write_text("{}")
    (tmp_path / "gb.csv").write_text("student,points\nalice,10\n")
    assert grade.main([str(tmp_path / "ag.zip"), str(tmp_path / "subs"), str(tmp_path / "gb.csv")]) == 2
    assert "keeps its earlier grades" in capsys.readouterr().err
    assert (tmp_path / "gb.csv").read_text() == "student,points\nalice,10\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ag.zip", "gb.csv", "subs"]
    graded = [{"student": "a", "question": "q1", "points": 1, "max_points": 1, "feedback": ""}]
    monkeypatch.setattr(grade, "grade_submission", lambda *a: graded)
    assert grade.main([str(tmp_path / "ag.zip"), str(tmp_path / "subs"), str(tmp_path / "gb.csv")]) == 0
    assert (tmp_path / "gb.csv").read_text().splitlines()[1] == "a,q1,1,1,"


def test_grade_cli_refuses_bad_input(tmp_path, capsys):
    (tmp_path / "not.zip").write_text("x")
    (tmp_path / "subs").mkdir()
    assert grade.main([str(tmp_path / "not.zip"), str(tmp_path / "subs"), str(tmp_path / "g.csv")]) == 2
    assert "not a zip file" in capsys.readouterr().err
    _autograder_zip(tmp_path / "a.zip")
    assert grade.main([str(tmp_path / "a.zip"), str(tmp_path / "none"), str(tmp_path / "g.csv")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert grade.main([str(tmp_path / "a.zip"), str(tmp_path / "subs"), str(tmp_path / "g.txt")]) == 2
    assert "must end in .csv" in capsys.readouterr().err
    assert grade.main([str(tmp_path / "a.zip"), str(tmp_path / "subs"), str(tmp_path / "g.csv")]) == 2
    assert "no .ipynb or .zip" in capsys.readouterr().err
    (tmp_path / "subs" / "ann.ipynb").write_text("{}")
    (tmp_path / "subs" / "ann.zip").write_text("")
    assert grade.main([str(tmp_path / "a.zip"), str(tmp_path / "subs"), str(tmp_path / "g.csv")]) == 2
    assert "two submissions for ann" in capsys.readouterr().err
    assert not (tmp_path / "g.csv").exists()


def test_the_instructors_table_counts_what_the_tool_builds():
    """The page's table of autograded / by-hand questions per chapter is what
    tools/assignments.py makes of the chapters today (it drifts when an exercise changes)."""
    text = (BOOK / "instructors.md").read_text()
    rows = {int(m[0]): (int(m[1]), int(m[2]))
            for m in re.findall(r"^\| (\d+) \| (\d+) \| (\d+) \|", text, flags=re.M)}
    built = {}
    for nb in sorted(BOOK.glob("[01][0-9]_*.ipynb")):
        _, qs = assignments.master_notebook(nb)
        built[int(nb.name[:2])] = (sum(q.autograded for q in qs), sum(not q.autograded for q in qs))
    assert rows == built
    total = sum(a for a, _ in built.values())
    assert f"In all, {total} of the {sum(a + b for a, b in built.values())} exercises" in text
