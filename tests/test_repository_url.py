"""The repository's URL is written once (``repository.url`` in ``_config.yml``); every copy
that a reader or Colab needs agrees with it, and ``tools/set_repository_url.py`` moves them all."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
import set_repository_url as tool  # noqa: E402


def _first_code_cell(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code")


def test_every_copy_names_the_configured_url():
    url = tool.current_url()
    assert tool.GITHUB.match(url), f"_config.yml repository.url is not a GitHub URL: {url}"
    for path in tool.files_with_copies():
        text = _first_code_cell(path) if path.suffix == ".ipynb" else path.read_text()
        assert url in text, f"{path.relative_to(REPO)} does not name {url} (run tools/set_repository_url.py)"


@pytest.mark.parametrize("argv", [[], ["github.com/a/b"], ["https://gitlab.com/a/b"], ["x", "y"]])
def test_tool_refuses_a_bad_url(argv, capsys):
    assert tool.main(argv) == 2
    assert "usage" in capsys.readouterr().out


def test_tool_moves_every_copy(tmp_path):
    copy = tmp_path / "repo"
    for rel in [*tool.COPIES, "tools/set_repository_url.py"]:
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, copy / rel)
    for nb in (REPO / "book").glob("*.ipynb"):
        shutil.copy(nb, copy / "book" / nb.name)
    new = "https://github.com/someone/walls-book"
    run = subprocess.run([sys.executable, str(copy / "tools/set_repository_url.py"), new],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    old = tool.current_url()
    for rel in [*tool.COPIES, *(f"book/{p.name}" for p in (REPO / "book").glob("*.ipynb"))]:
        text = (copy / rel).read_text()
        assert old not in text and new in text, rel


# ----------------------------------------------------------------------------- all or nothing

def _copy_repo(tmp_path) -> Path:
    copy = tmp_path / "repo"
    for rel in [*tool.COPIES, "tools/set_repository_url.py"]:
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, copy / rel)
    for nb in (REPO / "book").glob("*.ipynb"):
        shutil.copy(nb, copy / "book" / nb.name)
    return copy


def _snapshot(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("url", ["https://github.com/a/b\n", "https://github.com/a/b\"c",
                                 "https://github.com/a/b\n# x", "https://github.com/a/b c",
                                 "https://github.com/a/..", "https://github.com/-a/b",
                                 "https://github.com/a/b/tree/main", "http://github.com/a/b",
                                 "https://github.com/a/b.git"])
def test_a_url_that_is_not_a_repository_changes_nothing(url, tmp_path, capsys):
    copy = _copy_repo(tmp_path)
    before = _snapshot(tmp_path)
    assert tool.main([url], root=copy) == 2
    assert _snapshot(tmp_path) == before
    assert "usage" in capsys.readouterr().out


def test_a_missing_copy_stops_the_tool_before_it_writes(tmp_path, capsys):
    copy = _copy_repo(tmp_path)
    (copy / "CITATION.cff").unlink()
    before = _snapshot(tmp_path)
    assert tool.main(["https://github.com/someone/walls"], root=copy) == 1
    assert _snapshot(tmp_path) == before
    assert "CITATION.cff" in capsys.readouterr().out


def test_copies_that_disagree_with_the_config_are_reported(tmp_path, capsys):
    copy = _copy_repo(tmp_path)
    config = copy / "_config.yml"
    config.write_text(config.read_text().replace(tool.current_url(), "https://github.com/hand/edited"))
    before = _snapshot(tmp_path)
    assert tool.main(["https://github.com/someone/walls"], root=copy) == 1
    out = capsys.readouterr().out
    assert "README.md" in out and "hand/edited" in out
    assert _snapshot(tmp_path) == before


def test_a_rewrite_that_would_not_parse_writes_nothing(tmp_path, capsys, monkeypatch):
    copy = _copy_repo(tmp_path)
    toml = copy / "pyproject.toml"
    toml.write_text(toml.read_text() + "\nbroken = \n")      # the copy is already damaged
    before = _snapshot(tmp_path)
    assert tool.main(["https://github.com/someone/walls"], root=copy) == 1
    assert "pyproject.toml" in capsys.readouterr().out
    assert _snapshot(tmp_path) == before


def test_a_failure_while_replacing_rolls_every_file_back(tmp_path, monkeypatch):
    copy = _copy_repo(tmp_path)
    before = _snapshot(tmp_path)
    real, calls = tool.os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 4:
            raise OSError("disk full")
        return real(src, dst)
    monkeypatch.setattr(tool.os, "replace", replace)
    with pytest.raises(OSError, match="disk full"):
        tool.main(["https://github.com/someone/walls"], root=copy)
    assert _snapshot(tmp_path) == before


def test_the_tool_touches_nothing_outside_the_repository_and_every_file_parses(tmp_path):
    import json
    import tomllib

    import yaml
    copy = _copy_repo(tmp_path)
    (tmp_path / "outside.txt").write_text(tool.current_url())
    assert tool.main(["https://github.com/someone/walls-book/"], root=copy) == 0
    assert (tmp_path / "outside.txt").read_text() == tool.current_url()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside.txt", "repo"]
    tomllib.loads((copy / "pyproject.toml").read_text())
    yaml.safe_load((copy / "CITATION.cff").read_text())
    assert tool.current_url(copy) == "https://github.com/someone/walls-book"
    for nb in (copy / "book").glob("*.ipynb"):
        json.loads(nb.read_text())
    assert not [p for p in copy.rglob("*.tmp")]
