"""Colab's path, simulated: a fresh environment with only what Colab preinstalls, a chapter's
first cell installing the library from this very repository, then chapters 1 and 7 run top to
bottom.

Colab preinstalls torch, torchvision, numpy, matplotlib, sympy, ipywidgets and tqdm (and runs
notebooks in a Jupyter kernel), but not camwalls. The first cell of every chapter installs
``camwalls[book] @ git+<repository>``; here the URL points at this repository's HEAD
(``git+file://localhost/...@<commit>``: what is committed is what Colab would get), so the test proves
that the install brings everything the chapters import. The notebooks run in an empty folder
outside the repository with a fresh model cache, as on Colab; only the data come from
``CAMWALLS_DATA`` (Colab downloads them).

Marked ``slow`` and ``colab`` (minutes: a virtual environment with torch, one install, two
chapters); select it with ``pytest -m colab``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COLAB_PREINSTALLED = ["torch", "torchvision", "numpy", "matplotlib", "sympy", "ipywidgets", "tqdm",
                      "ipykernel", "nbclient", "nbformat"]   # the last three: Colab's Jupyter runtime
CHAPTERS = ["01_first_wall", "07_stacked_digits"]

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


@pytest.mark.slow
@pytest.mark.colab
def test_first_cell_installs_what_chapters_1_and_7_need():
    # its own folder, not pytest's tmp_path: another pytest run on the machine prunes old
    # tmp_path folders, which would delete this venv under the running chapters
    with tempfile.TemporaryDirectory(prefix="camwalls-colab-") as tmp:
        _simulate_colab(Path(tmp))


def _simulate_colab(tmp_path: Path):
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
    for chapter in CHAPTERS:
        shutil.copy(REPO / "book" / f"{chapter}.ipynb", content)
        out = _run([str(python), "driver.py", current_url(), source, f"{chapter}.ipynb"],
                   cwd=content, env=env, timeout=2400)
        print(out.strip().splitlines()[-1])
    installed = _run([str(python), "-c", "import camwalls_lib, sys; print(camwalls_lib.__file__)"],
                     cwd=content, env=env)
    assert str(venv) in installed, f"camwalls_lib came from {installed}, not from the install"
