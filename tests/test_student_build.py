"""tools/student_build.py: the student edition made from a finished build (fast checks;
the real build is checked by the book tests in tests/test_book_build.py)."""

import json
from pathlib import Path

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


# ----------------------------------------------------------------------------- never destroys data

def _snapshot(root):
    """Every file under ``root`` with its bytes (folders as None)."""
    return {p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


def _fake_sphinx(monkeypatch):
    """Stand in for the jupyter-book run: write an index.html where Sphinx would."""
    import subprocess
    import student_build

    def run(cmd, cwd=None, **_):
        html = Path(cmd[cmd.index("--path-output") + 1]) / "_build" / "html"
        html.mkdir(parents=True, exist_ok=True)
        (html / "index.html").write_text("<html></html>")
        return subprocess.CompletedProcess(cmd, 0, "built", "")
    monkeypatch.setattr(student_build.subprocess, "run", run)


def test_a_repository_inside_the_output_folder_is_refused_and_kept(tmp_path):
    from student_build import build_student_edition
    out = tmp_path / "out"
    repo = out / "src" / "work" / "repo"                      # the repository lives in OUT/src/...
    (repo / "book").mkdir(parents=True)
    (repo / "_config.yml").write_text("title: t\n")
    nbformat.write(_chapter(), repo / "book" / "01_ch.ipynb")
    (repo / "_build" / "jupyter_execute" / "book").mkdir(parents=True)
    nbformat.write(_chapter(), repo / "_build" / "jupyter_execute" / "book" / "01_ch.ipynb")
    before = _snapshot(tmp_path)
    with pytest.raises(ValueError, match="holds the repository"):
        build_student_edition(repo, out, echo=lambda *_: None)
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("where", ["repo", "execute", "repo_parent"])
def test_an_output_folder_overlapping_what_it_reads_is_refused(repo_and_build, where):
    from student_build import build_student_edition
    repo, built = repo_and_build
    out = {"repo": repo, "execute": built / "jupyter_execute" / "student",
           "repo_parent": repo.parent}[where]
    before = _snapshot(repo.parent)
    with pytest.raises(ValueError, match="OUT"):
        build_student_edition(repo, out, built, echo=lambda *_: None)
    assert _snapshot(repo.parent) == before


def test_a_user_folder_at_the_output_is_never_deleted(repo_and_build, tmp_path):
    from student_build import build_student_edition
    repo, built = repo_and_build
    (tmp_path / "out" / "src").mkdir(parents=True)
    (tmp_path / "out" / "src" / "thesis.tex").write_text("years of work")
    with pytest.raises(ValueError, match="not made by this tool"):
        build_student_edition(repo, tmp_path / "out", built, echo=lambda *_: None)
    assert (tmp_path / "out" / "src" / "thesis.tex").read_text() == "years of work"
    with pytest.raises(ValueError, match="not made by this tool"):
        student_sources(repo, built, tmp_path / "out" / "src")
    assert (tmp_path / "out" / "src" / "thesis.tex").read_text() == "years of work"


def test_the_tool_touches_nothing_outside_its_output_and_reruns_over_its_own(
        repo_and_build, tmp_path, monkeypatch):
    from student_build import build_student_edition
    _fake_sphinx(monkeypatch)
    repo, built = repo_and_build
    out = tmp_path / "elsewhere" / "student"
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "notes.txt").write_text("mine")
    before = _snapshot(repo)
    html = build_student_edition(repo, out, built, echo=lambda *_: None)
    assert (html / "index.html").is_file()
    (out / "mine.txt").write_text("a file the user put there")
    build_student_edition(repo, out, built, echo=lambda *_: None)   # a rerun replaces its own
    assert _snapshot(repo) == before
    assert (tmp_path / "elsewhere" / "notes.txt").read_text() == "mine"
    assert (out / "mine.txt").read_text() == "a file the user put there"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "repo"]


def test_bad_arguments_are_refused_before_any_work(tmp_path):
    from student_build import main
    with pytest.raises(SystemExit):
        main([])
    assert main([str(tmp_path / "no-repo"), str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()
    (tmp_path / "file").write_text("x")
    assert main([str(tmp_path), str(tmp_path / "file")]) == 2
    assert (tmp_path / "file").read_text() == "x"


def test_student_sources_rerun_deletes_only_what_they_wrote(repo_and_build, tmp_path):
    repo, built = repo_and_build
    nbformat.write(_chapter(), repo / "book" / "02_gone.ipynb")
    nbformat.write(_chapter(), built / "jupyter_execute" / "book" / "02_gone.ipynb")
    student_sources(repo, built, tmp_path / "out")
    assert (tmp_path / "out" / "book" / "02_gone.ipynb").is_file()
    (repo / "book" / "02_gone.ipynb").unlink()                  # the chapter leaves the book
    written = student_sources(repo, built, tmp_path / "out")
    assert [p.name for p in written] == ["01_ch.ipynb"]
    assert not (tmp_path / "out" / "book" / "02_gone.ipynb").exists()   # its own stale copy


def test_student_sources_never_delete_a_file_they_did_not_write(repo_and_build, tmp_path):
    repo, built = repo_and_build
    student_sources(repo, built, tmp_path / "out")
    (tmp_path / "out" / "book" / "my_notes.txt").write_text("mine")
    before = _snapshot(tmp_path / "out")
    with pytest.raises(ValueError, match="did not write.*my_notes.txt.*Nothing was deleted"):
        student_sources(repo, built, tmp_path / "out")
    assert _snapshot(tmp_path / "out") == before


@pytest.mark.parametrize("where", ["_build/my_notes.txt", "_build/html/my_notes.txt",
                                   "src/my_notes.txt", "_build/empty_folder/"])
def test_a_user_file_inside_the_outputs_after_a_run_is_never_deleted(
        repo_and_build, tmp_path, monkeypatch, where):
    """A first run marks OUT as the tool's; a file the user puts inside its outputs afterwards
    (OUT/_build, OUT/src) stops the rerun before anything is deleted, naming the file."""
    from student_build import build_student_edition
    _fake_sphinx(monkeypatch)
    repo, built = repo_and_build
    out = tmp_path / "student"
    build_student_edition(repo, out, built, echo=lambda *_: None)
    mine = out / where
    if where.endswith("/"):
        mine.mkdir()
    else:
        mine.write_text("mine")
    before = _snapshot(out)
    with pytest.raises(ValueError, match="did not write.*Nothing was deleted"):
        build_student_edition(repo, out, built, echo=lambda *_: None)
    assert _snapshot(out) == before
    from student_build import main
    assert main([str(repo), str(out), "--built", str(built)]) == 2
    assert _snapshot(out) == before


def test_a_rerun_replaces_its_own_outputs_and_keeps_the_users_beside_them(
        repo_and_build, tmp_path, monkeypatch):
    from student_build import MARKER, build_student_edition
    _fake_sphinx(monkeypatch)
    repo, built = repo_and_build
    out = tmp_path / "student"
    build_student_edition(repo, out, built, echo=lambda *_: None)
    manifest = json.loads((out / MARKER).read_text())
    assert "_build/html/index.html" in manifest["files"] and "src/book/01_ch.ipynb" in manifest["files"]
    (out / "_build" / "html" / "index.html").write_text("stale")      # its own file, changed
    (out / "notes.txt").write_text("mine")                           # beside its outputs
    build_student_edition(repo, out, built, echo=lambda *_: None)
    assert (out / "_build" / "html" / "index.html").read_text() == "<html></html>"
    assert (out / "notes.txt").read_text() == "mine"
