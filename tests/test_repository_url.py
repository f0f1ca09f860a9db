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
