"""Grade a folder of submitted notebooks offline, without Docker, into one gradebook CSV.

Each submission (``STUDENT.ipynb``, or ``STUDENT.zip`` as Otter's export makes it) is run by
Otter-Grader's ``otter run`` with the assignment's ``autograder.zip`` (from
``tools/assignments.py``), in this Python environment, one after the other::

    python tools/grade.py assignments/01_first_wall/autograder/autograder.zip submissions/ gradebook.csv

The gradebook has one row per student and autograded question: ``student, question, points,
max_points, feedback`` (the failed tests' messages; empty for full marks). A notebook that
cannot run gets a row ``(notebook failed)`` with the error. Questions graded by hand are not in
it (``questions.csv`` of the assignments lists them).

A submission runs its code on this machine with your permissions: grade only notebooks you
would run yourself, or use Otter's container grading (``otter grade``, Docker) instead.

Nothing is lost on a bad run: an autograder zip that is damaged, is not Otter's, or holds no
tests (a chapter graded by hand) is refused before any notebook runs; and the gradebook is
written at once (a temporary file, then ``os.replace``) only when at least one submission was
graded -- a run in which none could be leaves an existing gradebook as it was.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import zipfile
from pathlib import Path

import otter.run
from otter.run import capture_run_output

from camwalls_lib import validate

__all__ = ["grade_submission", "grade_folder", "check_autograder", "main", "FIELDS"]

FIELDS = ["student", "question", "points", "max_points", "feedback"]


def _failures(test_file) -> str:
    """The messages of the failed tests of one question (public and hidden), one per line."""
    return "\n".join(r.message.strip() for r in test_file.test_case_results
                     if not r.passed and r.message)


def grade_submission(autograder, submission) -> list[dict]:
    """Rows of the gradebook for one submitted notebook (student = the file's stem)."""
    student = Path(submission).stem
    with capture_run_output() as log:
        try:
            results = otter.run.main(str(submission), autograder=str(autograder),
                                     output_dir=None, no_logo=True)
        except Exception as e:          # noqa: BLE001 -- a broken notebook is a row, not a crash
            results, error = None, f"{type(e).__name__}: {e}"
    if results is None or results.catastrophic_error:
        error = error if results is None else str(results.catastrophic_error)
        return [{"student": student, "question": "(notebook failed)", "points": 0,
                 "max_points": "", "feedback": (error + "\n" + log.getvalue()[-2000:]).strip()}]
    return [{"student": student, "question": name, "points": round(tf.score, 3),
             "max_points": tf.possible, "feedback": _failures(tf)}
            for name, tf in sorted(results.results.items())]


def _submissions(folder: Path) -> list[Path]:
    found = sorted(p for p in folder.iterdir() if p.suffix in {".ipynb", ".zip"})
    if not found:
        raise FileNotFoundError(f"no .ipynb or .zip submission in {folder}")
    stems = [p.stem for p in found]
    twice = sorted({s for s in stems if stems.count(s) > 1})
    if twice:
        raise ValueError(f"two submissions for {', '.join(twice)} (.ipynb and .zip): keep one.")
    return found


def check_autograder(autograder) -> list[str]:
    """The test files of an Otter autograder zip (``tests/*.py``), after checking it is one:
    a sound zip (every member's CRC) holding Otter's ``otter_config.json`` (a JSON object) and
    ``run_autograder``, and at least one test. ``ValueError`` naming the file otherwise."""
    autograder = Path(autograder)
    where = ("pass the autograder.zip that tools/assignments.py wrote "
             "(OUT/NN_name/autograder/autograder.zip)")
    if not zipfile.is_zipfile(autograder):
        raise ValueError(f"AUTOGRADER {autograder} is not a zip file: {where}.")
    try:
        with zipfile.ZipFile(autograder) as z:
            damaged = z.testzip()
            names = z.namelist()
            config = json.loads(z.read("otter_config.json")) if "otter_config.json" in names \
                else None
    except (zipfile.BadZipFile, OSError, ValueError, KeyError) as e:
        raise ValueError(f"AUTOGRADER {autograder} cannot be read ({type(e).__name__}: "
                         f"{e}): {where}.") from e
    if damaged:
        raise ValueError(f"AUTOGRADER {autograder} is damaged ({damaged} fails its CRC): {where}.")
    if not isinstance(config, dict) or "run_autograder" not in names:
        raise ValueError(f"AUTOGRADER {autograder} is not an Otter autograder (no "
                         f"otter_config.json and run_autograder in it): {where}.")
    tests = sorted(n for n in names if n.startswith("tests/") and n.endswith(".py"))
    if not tests:
        raise ValueError(f"AUTOGRADER {autograder} holds no tests, so every submission would "
                         "score 0 / 0: this assignment's questions are graded by hand (see "
                         "questions.csv of the assignments); nothing was graded or written.")
    return tests


def grade_folder(autograder, submissions, gradebook, echo=print) -> list[dict]:
    """Grade every submission of folder ``submissions``; write ``gradebook`` (CSV) at once.

    Everything is checked before any notebook runs (:func:`check_autograder`, the folder, the
    gradebook's name and folder); the gradebook is written atomically and only if at least one
    submission was graded, so a failed run leaves an existing gradebook untouched."""
    autograder, submissions, gradebook = Path(autograder), Path(submissions), Path(gradebook)
    check_autograder(autograder)
    if not submissions.is_dir():
        raise NotADirectoryError(f"SUBMISSIONS {submissions} is not a folder of notebooks.")
    if gradebook.suffix != ".csv":
        raise ValueError(f"GRADEBOOK {gradebook} must end in .csv")
    validate.output_file(gradebook, "GRADEBOOK")
    rows = []
    for path in _submissions(submissions):
        mine = grade_submission(autograder, path)
        rows += mine
        got = sum(float(r["points"]) for r in mine)
        most = sum(float(r["max_points"] or 0) for r in mine)
        echo(f"{path.stem}: {got:g} / {most:g}")
    if not any(r["question"] != "(notebook failed)" for r in rows):
        raise RuntimeError(f"no submission could be graded (every notebook failed: see the "
                           f"messages above); the gradebook {gradebook} was not written"
                           + (" and keeps its earlier grades" if gradebook.exists() else "")
                           + ".")
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    validate.atomic_write_text(gradebook, text.getvalue())
    echo(f"gradebook: {gradebook} ({len({r['student'] for r in rows})} students)")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python tools/grade.py",
        description="Grade every notebook of SUBMISSIONS with Otter's autograder zip, offline "
                    "and without Docker, into one CSV (student, question, points, max_points, "
                    "feedback). Submissions run their code on this machine.")
    parser.add_argument("autograder", metavar="AUTOGRADER_ZIP")
    parser.add_argument("submissions", metavar="SUBMISSIONS_DIR")
    parser.add_argument("gradebook", metavar="GRADEBOOK_CSV")
    args = parser.parse_args(argv)
    try:
        grade_folder(args.autograder, args.submissions, args.gradebook)
    except (ValueError, OSError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
