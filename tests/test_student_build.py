"""tools/student_build.py: the student edition made from a finished build (fast checks;
the real build is checked by the book tests in tests/test_book_build.py)."""

import json

import nbformat
import pytest

from edition import count_directives
from student_build import student_config, student_sources


def test_student_config_hides_solutions_and_executes_nothing():
    config = {"title": "Walls", "execute": {"execute_notebooks": "force"},
              "sphinx": {"config": {"numfig": True}}}
    student = student_config(config)
    assert student["execute"]["execute_notebooks"] == "off"
    assert student["sphinx"]["config"] == {"numfig": True, "hide_solutions": True}
    assert "student" in student["title"]
    assert config["execute"]["execute_notebooks"] == "force"          # input untouched


def _chapter():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Ch\n\n```{exercise}\n:label: ex-a\nQ\n```\n\n"
                                              "```{solution-start} ex-a\n:class: dropdown\n```"),
                nbformat.v4.new_code_cell("answer = 42"),
                nbformat.v4.new_markdown_cell("```{solution-end}\n```"),
                nbformat.v4.new_code_cell("kept = 1")]
    nb.cells[3].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    return nb


@pytest.fixture
def repo_and_build(tmp_path):
    repo, built = tmp_path / "repo", tmp_path / "repo" / "_build"
    (repo / "book").mkdir(parents=True)
    (repo / "_config.yml").write_text("title: t\n")
    nbformat.write(_chapter(), repo / "book" / "01_ch.ipynb")
    (built / "jupyter_execute" / "book").mkdir(parents=True)
    nbformat.write(_chapter(), built / "jupyter_execute" / "book" / "01_ch.ipynb")
    glued = {"x": {"output_type": "display_data", "data": {"text/plain": "3.5"},
                   "metadata": {"scrapbook": {"name": "x", "mime_prefix": "application/papermill.record/"}}}}
    (built / "jupyter_execute" / "book" / "01_ch.glue.json").write_text(json.dumps(glued))
    return repo, built


def test_student_sources_strip_solutions_keep_outputs_and_glue(repo_and_build, tmp_path):
    repo, built = repo_and_build
    written = student_sources(repo, built, tmp_path / "out")
    assert [p.name for p in written] == ["01_ch.ipynb"]
    nb = nbformat.read(written[0], as_version=4)
    assert count_directives(nb, "solution-start") == 0 and count_directives(nb, "exercise") == 1
    assert "answer = 42" not in "".join(c.source for c in nb.cells)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert any(o.get("text") == "1\n" for o in outputs)
    assert any("application/papermill.record/text/plain" in o.get("data", {}) for o in outputs)
    assert (tmp_path / "out" / "_config.yml").is_file()


def test_student_sources_need_a_build(repo_and_build, tmp_path):
    repo, _ = repo_and_build
    with pytest.raises(FileNotFoundError, match="build the book first"):
        student_sources(repo, tmp_path / "nowhere", tmp_path / "out")


def test_student_sources_refuse_to_write_into_the_repository(repo_and_build):
    repo, built = repo_and_build
    with pytest.raises(ValueError, match="outside the repository"):
        student_sources(repo, built, repo / "student")
    student_sources(repo, built, built / "student")                  # under _build/ is fine
