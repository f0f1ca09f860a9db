"""Exercises an instructor can assign, and solutions that run when the book is built.

Fast checks of the sources (no marker). A solution whose answer is code is a *gated*
sphinx-exercise solution (```` ```{solution-start} ```` ... ```` ```{solution-end} ````) holding
code cells: the book build executes them with the chapter, so their output is in the page
when a reader unfolds the solution, and no test has to run the chapters a second time. The
built pages are checked in ``tests/test_book_build.py`` (every solution's cells have their
output there, none errored).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import nbformat
import pytest

from edition import Removal, count_directives, strip_solutions

REPO = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((REPO / "book").glob("[0-9][0-9]_*.ipynb"))
LEVELS = ("Warm-up", "Core", "Challenge")
_EXERCISE = re.compile(r"^(`{3,}|:{3,})\{exercise(?:-start)?\}[^\n]*\n:label: (?P<label>[\w-]+)\n+"
                       r"(?P<body>.*?)^\1\s*$", re.M | re.S)


def _markdown(nb) -> str:
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def _exercises(nb) -> dict[str, str]:
    return {m.group("label"): m.group("body") for m in _EXERCISE.finditer(_markdown(nb))}


def _removed(nb) -> list[Removal]:
    removed: list[Removal] = []
    strip_solutions(nb, removed)
    return removed


def test_the_book_has_chapters():
    assert len(CHAPTERS) >= 12, [p.name for p in CHAPTERS]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_a_warm_up_a_core_and_a_challenge_exercise(chapter):
    nb = nbformat.read(chapter, as_version=4)
    exercises = _exercises(nb)
    assert len(exercises) == count_directives(nb, "exercise") + count_directives(nb, "exercise-start")
    levels = Counter(next((lv for lv in LEVELS if body.lstrip().startswith(f"**{lv}.")), None)
                     for body in exercises.values())
    assert all(levels[lv] >= 1 for lv in LEVELS) and levels[None] == 0, (
        f"{chapter.name}: each exercise starts with **Warm-up.**, **Core.** or **Challenge.**, "
        f"and each level appears: {dict(levels)}")


def test_exercise_labels_are_unique_across_the_book():
    labels = [lab for p in CHAPTERS for lab in _exercises(nbformat.read(p, as_version=4))]
    assert len(labels) == len(set(labels)), [lab for lab, n in Counter(labels).items() if n > 1]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_solution_code_is_in_code_cells_that_the_build_runs(chapter):
    """Python inside a ``{solution}`` directive is shown but never run; it belongs in the code
    cells of a gated solution."""
    nb = nbformat.read(chapter, as_version=4)
    removed = _removed(nb)
    unrun = [r.label for r in removed if r.kind == "solution" and r.code]
    assert not unrun, f"{chapter.name}: solutions with code that the build would not run: {unrun}"
    gated = [r for r in removed if r.kind == "solution-start/end"]
    assert gated, f"{chapter.name}: no solution runs code"
    for r in gated:
        assert r.code, f"{chapter.name}: the gated solution {r.label} holds no code"
    inside = False
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for part in re.split(r"(\{solution-(?:start|end)\})", cell.source):
            if part in ("{solution-start}", "{solution-end}"):
                inside = part == "{solution-start}"
            elif inside:
                assert not re.search(r"^```(?:python|py|ipython3?)\s*$", part, re.M), (
                    f"{chapter.name}: a fenced code block in a gated solution's Markdown cell "
                    f"would not run; make it a code cell:\n{part[:300]}")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_solutions_come_after_the_chapter_code(chapter):
    """A solution runs where it stands; placed after the chapter's own code it cannot change
    what the chapter computes."""
    nb = nbformat.read(chapter, as_version=4)
    inside, seen_solution = False, False
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for directive in re.findall(r"\{(solution-start|solution-end)\}", cell.source):
                inside = directive == "solution-start"
                seen_solution |= inside
        elif cell.cell_type == "code" and seen_solution:
            assert inside, f"{chapter.name}: chapter code after a solution:\n{cell.source[:200]}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_exercises_are_referenced_by_label(chapter):
    """The page numbers exercises "Exercise 6.1"; plain "Exercise 1" in the text is wrong."""
    text = _markdown(nbformat.read(chapter, as_version=4))
    text = re.sub(r"`[^`\n]*`", "", text)
    plain = re.findall(r"\b[Ee]xercises? \d+(?:\.\d+)?\b", text)
    assert not plain, f"{chapter.name}: use {{ref}}`label` instead of {plain}"


# Every method a chapter's prose names is cited from book/references.bib in that chapter.
METHOD_KEYS = {
    r"\bGradCAM\b(?!\+\+)": "selvaraju2017gradcam",
    r"\bGradCAM\+\+": "chattopadhay2018gradcampp",
    r"\bXGradCAM\b": "fu2020xgradcam",
    r"\bHiResCAM\b": "draelos2021hirescam",
    r"\bLayerCAM\b": "jiang2021layercam",
    r"\bScoreCAM\b": "wang2020scorecam",
    r"\bAblationCAM\b": "desai2020ablationcam",
    r"\bEigenCAM\b": "banymuhammad2021eigencam",
    r"\bOpti-CAM\b": "zhang2023opticam",
    r"\bPoly-CAMs?\b": "englebert2022polycam",
    r"\bEfficientNet": "tan2019efficientnet",
}
# chapters 2-5 name GradCAM only as the paper's Definition 1 (cited as the paper)
PAPER_DEFINITIONS = {"02_saliency_to_cam", "04_proposition2", "05_theorem3"}


def test_bibliography_has_every_method_key():
    bib = (REPO / "book" / "references.bib").read_text()
    for key in [*METHOD_KEYS.values(), "simonyan2014saliency", "zhou2016cam"]:
        assert re.search(r"@\w+\{" + key + ",", bib), f"{key} missing from book/references.bib"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_method_named_is_cited_in_the_chapter(chapter):
    text = _markdown(nbformat.read(chapter, as_version=4))
    prose = re.sub(r"`[^`\n]*`", "", text)
    cited = set(re.findall(r"\{cite(?::[tp])?\}`([^`]+)`", text))
    cited = {k.strip() for group in cited for k in group.split(",")}
    missing = []
    for pattern, key in METHOD_KEYS.items():
        if chapter.stem in PAPER_DEFINITIONS and key == "selvaraju2017gradcam":
            continue
        if re.search(pattern, prose) and key not in cited:
            missing.append(key)
    assert not missing, f"{chapter.name}: methods named but not cited: {missing}"
