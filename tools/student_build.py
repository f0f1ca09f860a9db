"""The student edition as a built artefact: the book's HTML with every solution taken out,
and downloadable notebooks without solutions (and without outputs).

It is made from a finished build of the book, without executing anything again: the
executed notebooks of that build (``_build/jupyter_execute/book/*.ipynb``) are stripped of
their solutions (:func:`edition.strip_solutions`, ``tools/edition.py``), Sphinx renders them with
execution off and sphinx-exercise's ``hide_solutions`` on (for any solution a Markdown page
might hold), and each page's download button then serves the stripped notebook with its
outputs cleared::

    jupyter-book build .                                  # the book, solutions included
    python tools/student_build.py . _build/student     # HTML in _build/student/_build/html

Command line: ``python tools/student_build.py REPO OUT_DIR [--built BUILD_DIR]``
(``BUILD_DIR`` defaults to ``REPO/_build``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

from edition import strip_solutions

__all__ = ["student_config", "student_sources", "build_student_edition"]

_IGNORE = shutil.ignore_patterns(".git", "_build", ".venv", "venv", "student", "__pycache__",
                                 ".pytest_cache", "*.egg-info", ".ipynb_checkpoints")


def student_config(config: dict) -> dict:
    """The book's ``_config.yml`` (as a dict) for the student edition: nothing executed, the
    title marked, solutions hidden. The input is not modified."""
    cfg = yaml.safe_load(yaml.safe_dump(config))
    cfg["title"] = f"{cfg.get('title', 'Book')} (student edition)"
    cfg.setdefault("execute", {})["execute_notebooks"] = "off"
    cfg.setdefault("sphinx", {}).setdefault("config", {})["hide_solutions"] = True
    return cfg


def _clear_outputs(nb):
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def _restore_glue(nb, glue_file: Path) -> None:
    """Put back the values a chapter glued (myst-nb moves them from the executed notebook to
    ``NAME.glue.json``), so that a build without execution still finds them."""
    if not glue_file.is_file():
        return
    code = [c for c in nb.cells if c.cell_type == "code"]
    if not code:
        raise ValueError(f"{glue_file}: glued values but no code cell to hold them")
    for name, output in json.loads(glue_file.read_text()).items():
        prefix = output["metadata"]["scrapbook"]["mime_prefix"]
        data = {prefix + mime: value for mime, value in output["data"].items()}
        code[0].outputs.append(nbformat.v4.new_output("display_data", data=data,
                                                      metadata=output["metadata"]))


def student_sources(repo: Path, built: Path, out: Path) -> list[Path]:
    """Copy ``repo`` to ``out`` with every chapter replaced by its executed notebook from the
    build ``built`` (``built/jupyter_execute``), stripped of its solutions. Returns the
    chapters written. A chapter missing from the build is an error (build the book first)."""
    repo, built, out = Path(repo), Path(built), Path(out)
    executed = built / "jupyter_execute"
    if not executed.is_dir():
        raise FileNotFoundError(f"{executed} does not exist: build the book first "
                                "(jupyter-book build .), then make the student edition from it")
    r, o = repo.resolve(), out.resolve()
    if (o == r or r in o.parents) and r / "_build" not in (o, *o.parents):
        raise ValueError(f"OUT_DIR {out} must be outside the repository or under its _build/: "
                         "the book's build would otherwise find the copy's pages too")
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(repo, out, ignore=_IGNORE)
    written = []
    for chapter in sorted((out / "book").glob("*.ipynb")):
        source = executed / "book" / chapter.name
        if not source.is_file():
            raise FileNotFoundError(f"{source} is missing: the build in {built} does not hold "
                                    f"{chapter.name}; rebuild the book")
        nb = strip_solutions(nbformat.read(source, as_version=4))
        _restore_glue(nb, source.with_suffix(".glue.json"))
        nbformat.write(nb, chapter)
        written.append(chapter)
    return written


def build_student_edition(repo, out, built=None, echo=print) -> Path:
    """Build the student edition of the book in ``repo`` from its finished build ``built``
    (default ``repo/_build``) into ``out``. Returns the HTML folder; raises
    ``RuntimeError`` with the build's log tail if Sphinx fails."""
    repo, out = Path(repo), Path(out)
    built = Path(built) if built is not None else repo / "_build"
    src = out / "src"
    chapters = student_sources(repo, built, src)
    config = student_config(yaml.safe_load((src / "_config.yml").read_text()))
    (src / "_config_student.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [sys.executable, "-c", "import sys; from jupyter_book.cli.main import main; sys.exit(main())",
           "build", str(src), "--config", str(src / "_config_student.yml"), "--path-output", str(out)]
    run = subprocess.run(cmd, cwd=src, capture_output=True, text=True)
    (out / "build.log").write_text(run.stdout + run.stderr)
    html = out / "_build" / "html"
    if run.returncode != 0 or not (html / "index.html").is_file():
        raise RuntimeError("the student edition did not build:\n" + (run.stdout + run.stderr)[-3000:])
    for chapter in chapters:                # the download button serves these
        download = html / "_sources" / "book" / chapter.name
        if download.parent.is_dir():
            nbformat.write(_clear_outputs(nbformat.read(chapter, as_version=4)), download)
    echo(f"student edition: {len(chapters)} chapters without solutions, HTML in {html}")
    return html


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/student_build.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", type=Path, help="the repository root (holds _config.yml)")
    parser.add_argument("out", type=Path, help="where to build the student edition")
    parser.add_argument("--built", type=Path, default=None,
                        help="the finished build of the book (default: REPO/_build)")
    args = parser.parse_args(argv)
    build_student_edition(args.repo, args.out, args.built)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
