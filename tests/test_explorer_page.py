"""Chapter 8 as a reader without a kernel meets it: the live widget is in the notebook but is
never run by the build, so the static page carries no control that does nothing; the page says
in one line that the notebook has the live version, and the static explorer is there instead."""

import re

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from conftest import REPO_ROOT

CHAPTER = REPO_ROOT / "book" / "08_move_the_wall.ipynb"


def _cells(kind: str):
    return [c for c in nbformat.read(CHAPTER, as_version=4).cells if c.cell_type == kind]


def test_live_widget_is_offered_in_the_notebook_but_not_run_for_the_page():
    live = [c for c in _cells("code") if "explorer.widget(" in c.source]
    assert len(live) == 1, "the notebook offers the live widget in one cell"
    tags = live[0].metadata.get("tags", [])
    assert "skip-execution" in tags, "the build must not run it (its output would be dead controls)"
    assert "remove-cell" in tags, "the static page does not show a cell it cannot run"
    static = [c for c in _cells("code") if "explorer_html(" in c.source]
    assert len(static) == 1 and "skip-execution" not in static[0].metadata.get("tags", [])
    figure = static[0].metadata.get("mystnb", {}).get("figure", {})
    assert figure.get("name") and len(figure.get("caption", "")) > 80, (
        "the explorer is the chapter's main figure: a numbered caption that says what it shows")
    prose = " ".join(c.source for c in _cells("markdown"))
    assert re.search(r"notebook of this chapter also has a live version", prose)
    assert not re.search(r"\bupdate:|\bms\b", prose)


def _run(tags: list[str]):
    nb = new_notebook(cells=[new_code_cell("import ipywidgets as w\nw.IntSlider()",
                                           metadata={"tags": tags}),
                             new_code_cell("print('ran')")])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    return nb


def test_a_skipped_widget_cell_leaves_no_widget_for_the_page():
    """The book executes chapters with nbclient (myst-nb's engine): a cell tagged
    skip-execution leaves no output and no widget state, so the page embeds no widget; the
    same cell untagged does (the test can fail)."""
    skipped = _run(["skip-execution", "remove-cell"])
    assert skipped.cells[0].outputs == [] and skipped.cells[1].outputs[0]["text"] == "ran\n"
    state = skipped.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    assert not state.get("state")
    ran = _run([])
    views = [o for o in ran.cells[0].outputs
             if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert views and ran.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
