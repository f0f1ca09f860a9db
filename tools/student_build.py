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

The tool deletes only what it made: every folder it writes into holds its manifest
(:data:`MARKER`, the list of every file and folder the tool wrote there), and a rerun deletes
exactly the entries of that list, nothing else. A file the tool did not write (a user's notes
in ``OUT/``) is kept; one inside the tool's own outputs (``OUT/src``, ``OUT/_build``), where the
next build would overwrite or mix with it, stops the tool before anything is deleted, naming
it. An output folder that holds files without a manifest, that holds the repository or the
build it reads, or that lies inside the repository (except under its ``_build/``) or inside
the build's executed notebooks is refused before anything is written.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml

from camwalls_lib import validate
from camwalls_lib.errors import UnsafePath
from edition import strip_solutions

__all__ = ["MARKER", "student_config", "student_sources", "build_student_edition", "main"]

MARKER = ".camwalls-student-edition"
"""The manifest this tool writes in every folder it creates: JSON, ``{"tool": ..., "files":
[...], "dirs": [...]}`` (paths relative to that folder). Only the paths it lists are ever
deleted."""
_OUTPUTS = ("src", "_build", "build.log")       # what build_student_edition writes in OUT

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
    executed = check_places(repo, built, out)
    chapters = {}
    for chapter in sorted((repo / "book").glob("*.ipynb")):     # everything read first
        source = executed / "book" / chapter.name
        if not source.is_file():
            raise FileNotFoundError(f"{source} is missing: the build in {built} does not hold "
                                    f"{chapter.name}; rebuild the book")
        nb = strip_solutions(nbformat.read(source, as_version=4))
        _restore_glue(nb, source.with_suffix(".glue.json"))
        chapters[chapter.name] = nb
    _claim(out, outputs=None)
    try:
        shutil.copytree(repo, out, ignore=_IGNORE, dirs_exist_ok=True)
        written = []
        for name, nb in chapters.items():
            nbformat.write(nb, out / "book" / name)
            written.append(out / "book" / name)
    finally:
        _record(out, outputs=None)              # even a failed run lists what it wrote
    return written


def check_places(repo: Path, built: Path, out: Path) -> Path:
    """Refuse (``UnsafePath``, a ``ValueError``) an ``out`` that overlaps what the tool reads:
    one that is or holds the repository or the build, one inside the repository other than
    under its ``_build/``, one inside the build's executed notebooks; and an ``out`` that is a
    file or a folder holding files this tool did not make. Returns the executed notebooks'
    folder ``built/jupyter_execute``."""
    if not (repo / "_config.yml").is_file():
        raise FileNotFoundError(f"REPO {repo} holds no _config.yml: pass the book's repository "
                                "root")
    executed = built / "jupyter_execute"
    if not executed.is_dir():
        raise FileNotFoundError(f"{executed} does not exist: build the book first "
                                "(jupyter-book build .), then make the student edition from it")
    r, b, e, o = repo.resolve(), built.resolve(), executed.resolve(), out.resolve()
    for what, p in (("the repository", r), ("the build it reads", b)):
        if o == p or o in p.parents:
            raise UnsafePath(f"OUT_DIR {out} holds {what} ({p}): the tool would overwrite it. "
                             "Choose an output folder outside both, e.g. REPO/_build/student.")
    if e == o or e in o.parents:
        raise UnsafePath(f"OUT_DIR {out} lies inside the build's executed notebooks ({e}), "
                         "which it reads: choose e.g. REPO/_build/student.")
    if r in o.parents and r / "_build" not in o.parents:
        raise UnsafePath(f"OUT_DIR {out} must be outside the repository or under its _build/: "
                         "the book's build would otherwise find the copy's pages too")
    if o.exists() and not o.is_dir():
        raise UnsafePath(f"OUT_DIR {out} is a file, not a folder: choose a new folder name.")
    _check_ours(out)
    return executed


def _check_ours(out: Path) -> None:
    """``out`` is missing, empty, or a folder this tool made (it holds :data:`MARKER`)."""
    if out.is_dir() and not (out / MARKER).is_file() and any(out.iterdir()):
        raise UnsafePath(f"OUT_DIR {out} already holds files not made by this tool (no "
                         f"{MARKER} in it): nothing was deleted. Choose a new or empty folder, "
                         "or remove it yourself.")


def _manifest(out: Path) -> tuple[set, set]:
    """``(files, dirs)`` this tool wrote in ``out`` by its manifest (empty if it has none; an
    unreadable manifest -- an older tool's marker, an edit -- lists nothing, so nothing there
    is deleted)."""
    try:
        data = json.loads((out / MARKER).read_text())
        return set(data["files"]), set(data["dirs"])
    except (OSError, ValueError, KeyError, TypeError):
        return set(), set()


def _entries(out: Path, outputs) -> tuple[set, set]:
    """``(files, dirs)`` now under ``out``'s ``outputs`` (names in ``out``; None: all of it),
    relative to ``out``, the manifest itself left out. Symbolic links count as files (never
    followed)."""
    roots = [out / name for name in outputs] if outputs is not None else \
        [p for p in out.iterdir()] if out.is_dir() else []
    files, dirs = set(), set()
    for root in roots:
        if root.is_dir() and not root.is_symlink():
            dirs.add(root.relative_to(out).as_posix())
            for p in root.rglob("*"):
                rel = p.relative_to(out).as_posix()
                (dirs if p.is_dir() and not p.is_symlink() else files).add(rel)
        elif root.exists() or root.is_symlink():
            files.add(root.relative_to(out).as_posix())
    files.discard(MARKER)
    return files, dirs


def _claim(out: Path, outputs) -> None:
    """Make ``out`` this tool's folder: check it (:func:`_check_ours`), refuse
    (:class:`UnsafePath`, nothing deleted) if its ``outputs`` (names in ``out``; None: the whole
    folder) hold a file its manifest does not list, then delete exactly the files and (now
    empty) folders the manifest lists, create ``out`` and write its manifest."""
    _check_ours(out)
    mine, my_dirs = _manifest(out)
    files, dirs = _entries(out, outputs)
    foreign = sorted(files - mine) + sorted(d for d in dirs - my_dirs
                                            if not any((out / d).iterdir()))
    if foreign:
        raise UnsafePath(f"OUT_DIR {out} holds {len(foreign)} file(s) this tool did not write "
                         f"where it writes its outputs: {', '.join(foreign[:5])}"
                         f"{' ...' if len(foreign) > 5 else ''}. Nothing was deleted: move "
                         "them elsewhere (or choose a new output folder) and run it again.")
    for rel in sorted(mine & files):
        (out / rel).unlink()
    for rel in sorted(my_dirs & dirs, key=lambda d: d.count("/"), reverse=True):
        with contextlib.suppress(OSError):      # not empty: it holds something kept
            (out / rel).rmdir()
    out.mkdir(parents=True, exist_ok=True)
    _record(out, outputs)


def _record(out: Path, outputs) -> None:
    """Write ``out``'s manifest: every file and folder now under its ``outputs`` (the tool
    checked, before writing, that none of them was someone else's)."""
    files, dirs = _entries(out, outputs)
    validate.atomic_write_text(out / MARKER, json.dumps(
        {"tool": "tools/student_build.py; a rerun deletes exactly the paths listed here",
         "files": sorted(files), "dirs": sorted(dirs)}, indent=0) + "\n")


def build_student_edition(repo, out, built=None, echo=print) -> Path:
    """Build the student edition of the book in ``repo`` from its finished build ``built``
    (default ``repo/_build``) into ``out``. Returns the HTML folder; raises
    ``RuntimeError`` with the build's log tail if Sphinx fails."""
    repo, out = Path(repo), Path(out)
    built = Path(built) if built is not None else repo / "_build"
    check_places(repo, built, out)
    _claim(out, outputs=_OUTPUTS)
    try:
        html = _build(repo, built, out)
    finally:
        _record(out, outputs=_OUTPUTS)          # even a failed build lists what it wrote
    echo(f"student edition: {len(list((out / 'src' / 'book').glob('*.ipynb')))} chapters "
         f"without solutions, HTML in {html}")
    return html


def _build(repo: Path, built: Path, out: Path) -> Path:
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
    return html


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/student_build.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", type=Path, help="the repository root (holds _config.yml)")
    parser.add_argument("out", type=Path, help="where to build the student edition")
    parser.add_argument("--built", type=Path, default=None,
                        help="the finished build of the book (default: REPO/_build)")
    args = parser.parse_args(argv)
    try:
        build_student_edition(args.repo, args.out, args.built)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
