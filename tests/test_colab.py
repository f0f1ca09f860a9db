"""Colab's path, simulated: a fresh environment with only what Colab preinstalls, a chapter's
first cell installing the library with its group's extra from this very repository, then the
chapter runs top to bottom.

Colab preinstalls torch, torchvision, numpy, matplotlib, sympy, ipywidgets and tqdm (and runs
notebooks in a Jupyter kernel), but not camwalls. The first cell of every chapter installs
``camwalls[<its group>] @ git+<repository>`` (groups: ``[tool.camwalls.chapter-extras]`` in
pyproject.toml); here the URL points at this repository's HEAD
(``git+file://localhost/...@<commit>``: what is committed is what Colab would get). Each group
gets a fresh environment and runs one of its chapters, so the test proves that a group's
extra alone brings everything that chapter imports. The notebooks run in an empty folder
outside the repository with a fresh model cache, as on Colab; only the data come from
``CAMWALLS_DATA`` (Colab downloads them).

The simulation is marked ``slow`` and ``colab`` (many minutes: a virtual environment with
torch per group, one install each, one chapter each); select it with ``pytest -m colab``.
The first cell's failure message is checked quickly, without a new environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COLAB_PREINSTALLED = ["torch", "torchvision", "numpy", "matplotlib", "sympy", "ipywidgets", "tqdm",
                      "ipykernel", "nbclient", "nbformat"]   # the last three: Colab's Jupyter runtime
# One chapter per group of [tool.camwalls.chapter-extras]: the cheapest that imports what
# the group adds.
CHAPTERS = {"ch-theory": "01_first_wall", "ch-mnist": "07_stacked_digits",
            "ch-vgg": "10_masked_vgg", "ch-imagenet": "12_imagenet",
            "ch-peers": "13_wall_test"}

DRIVER = textwrap.dedent('''
    import sys, time
    import nbformat
    from nbclient import NotebookClient
    url, source, chapter = sys.argv[1:4]
    nb = nbformat.read(chapter, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert "git+" + url in first.source, "the first cell does not install from " + url
    first.source = first.source.replace("git+" + url, source)
    start = time.monotonic()
    NotebookClient(nb, timeout=1200, kernel_name="python3").execute()
    print(f"{chapter}: ran in {time.monotonic() - start:.0f} s")
''')


def _run(cmd, **kw):
    run = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert run.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{(run.stdout + run.stderr)[-4000:]}"
    return run.stdout


def test_every_group_is_simulated():
    groups = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["camwalls"]["chapter-extras"]
    assert set(CHAPTERS) == set(groups), "simulate one chapter of every group"
    for extra, chapter in CHAPTERS.items():
        assert chapter.split("_")[0] in groups[extra], f"{chapter} is not in {extra}"


def test_a_failed_install_names_what_pip_could_not_install(tmp_path):
    """The first cell, with camwalls_lib not importable and a repository that does not exist:
    its error names the package and quotes pip's own error, not a guess about the network."""
    template = (REPO / "book" / "_templates" / "first_cell.py").read_text()
    missing = f"file://localhost{tmp_path}/no-such-repository"
    sys.path.insert(0, str(REPO / "tools"))
    from set_repository_url import current_url
    cell = template.replace("ch-GROUP", "ch-theory").replace(current_url(), missing)
    hide = ("import importlib.util as u\n_find = u.find_spec\n"
            "u.find_spec = lambda name, *a: None if name == 'camwalls_lib' else _find(name, *a)\n")
    run = subprocess.run([sys.executable, "-c", hide + cell], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert run.returncode != 0
    message = run.stderr[run.stderr.rindex("ImportError"):]
    assert f"pip could not install camwalls[ch-theory] @ git+{missing}" in message
    assert "ERROR" in message or "fatal" in message, message      # pip's own words
    assert "network" not in message


@pytest.mark.slow
@pytest.mark.colab
@pytest.mark.parametrize("extra", sorted(CHAPTERS))
def test_first_cell_installs_what_the_group_needs(extra):
    # its own folder, not pytest's tmp_path: another pytest run on the machine prunes old
    # tmp_path folders, which would delete this venv under the running chapters
    with tempfile.TemporaryDirectory(prefix="camwalls-colab-") as tmp:
        _simulate_colab(Path(tmp), CHAPTERS[extra])


def _simulate_colab(tmp_path: Path, chapter: str):
    sys.path.insert(0, str(REPO / "tools"))
    from set_repository_url import current_url

    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.fail("the Colab simulation installs from this repository's git HEAD: run it in a "
                    "git clone with git installed")
    head = _run(["git", "-C", str(REPO), "rev-parse", "HEAD"]).strip()
    venv = tmp_path / "colab"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "-q", *COLAB_PREINSTALLED], timeout=1800)

    content = tmp_path / "content"                   # Colab's working folder: no repository
    content.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "MPLBACKEND", "VIRTUAL_ENV", "CAMWALLS_CACHE")}
    probe = subprocess.run([str(python), "-c", "import camwalls_lib"], cwd=content, env=env,
                           capture_output=True)
    assert probe.returncode != 0, "camwalls_lib importable before the first cell ran"
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["CAMWALLS_CACHE"] = str(tmp_path / "cache")  # nothing trained before
    shared_data = REPO.parent / "shared" / "data"
    if shared_data.is_dir():
        env.setdefault("CAMWALLS_DATA", str(shared_data))
    (content / "driver.py").write_text(DRIVER)
    source = f"git+file://localhost{REPO}@{head}"   # PEP 508 wants a host in a git+ URL
    shutil.copy(REPO / "book" / f"{chapter}.ipynb", content)
    out = _run([str(python), "driver.py", current_url(), source, f"{chapter}.ipynb"],
               cwd=content, env=env, timeout=2400)
    print(out.strip().splitlines()[-1])
    installed = _run([str(python), "-c", "import camwalls_lib, sys; print(camwalls_lib.__file__)"],
                     cwd=content, env=env)
    assert str(venv) in installed, f"camwalls_lib came from {installed}, not from the install"
