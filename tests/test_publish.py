"""Publishing a copy for a class: the Pages workflow and the check it runs first.

``.github/workflows/deploy-book.yml`` builds the book with Jupyter Book and deploys it with
GitHub's Pages actions, after ``tools/check_publish.py`` has refused any checkout whose
repository URL is not the repository the workflow runs in. The script is tested as the
workflow runs it: a subprocess, on a copy of the repository's URL-carrying files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / ".github" / "workflows" / "deploy-book.yml"
sys.path.insert(0, str(REPO / "tools"))
import set_repository_url as url_tool  # noqa: E402


def _steps():
    flow = yaml.safe_load(WORKFLOW.read_text())
    (job,) = flow["jobs"].values()
    return flow, job, job["steps"]


def test_workflow_builds_the_book_and_deploys_it_to_pages():
    flow, job, steps = _steps()
    triggers = flow.get("on", flow.get(True))          # YAML 1.1 reads a bare `on` as True
    assert "push" in triggers and "workflow_dispatch" in triggers
    assert flow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    assert job["environment"]["name"] == "github-pages"
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    runs = [s.get("run", "") for s in steps]
    assert uses[0] == "actions/checkout"
    assert "actions/upload-pages-artifact" in uses and uses[-1] == "actions/deploy-pages"
    upload = steps[uses.index("actions/upload-pages-artifact")]
    assert upload["with"]["path"] == "_build/html"
    order = {what: next(i for i, r in enumerate(runs) if what in r)
             for what in ("tools/check_publish.py", "pip install -r requirements.txt",
                          "jupyter-book build .")}
    assert order["tools/check_publish.py"] < order["pip install -r requirements.txt"] \
        < order["jupyter-book build ."] < uses.index("actions/upload-pages-artifact"), (
        "check first, then install, build, upload, deploy")


@pytest.fixture
def copy(tmp_path):
    """The files that carry the repository's URL, the two tools, in a fresh folder."""
    root = tmp_path / "repo"
    for rel in [*url_tool.COPIES, "tools/set_repository_url.py", "tools/check_publish.py"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, root / rel)
    for nb in (REPO / "book").glob("*.ipynb"):
        shutil.copy(nb, root / "book" / nb.name)
    return root


def _check(root: Path, repository: str | None, *args: str):
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_REPOSITORY"}
    if repository is not None:
        env["GITHUB_REPOSITORY"] = repository
    return subprocess.run([sys.executable, str(root / "tools" / "check_publish.py"), *args],
                          capture_output=True, text=True, env=env, timeout=60)


def _owner_repo() -> str:
    return url_tool.current_url().removeprefix("https://github.com/")


def test_check_passes_where_the_url_is_the_repository(copy):
    run = _check(copy, _owner_repo())
    assert run.returncode == 0, run.stdout + run.stderr
    assert "publishing" in run.stdout
    assert _check(copy, _owner_repo().upper()).returncode == 0      # GitHub ignores case


def test_check_refuses_a_fork_that_kept_the_original_url(copy):
    run = _check(copy, "a-teacher/walls-for-my-class")
    assert run.returncode == 1
    assert "refusing to publish" in run.stdout
    assert "python tools/set_repository_url.py https://github.com/a-teacher/walls-for-my-class" in run.stdout


def test_check_passes_after_the_fork_sets_its_url(copy):
    new = "https://github.com/a-teacher/walls-for-my-class"
    moved = subprocess.run([sys.executable, str(copy / "tools/set_repository_url.py"), new],
                           capture_output=True, text=True)
    assert moved.returncode == 0, moved.stderr
    assert _check(copy, "a-teacher/walls-for-my-class").returncode == 0


def test_check_refuses_a_copy_that_still_names_another_url(copy):
    nb = copy / "book" / "01_first_wall.ipynb"
    nb.write_text(nb.read_text().replace(url_tool.current_url(), "https://github.com/elsewhere/x"))
    run = _check(copy, _owner_repo())
    assert run.returncode == 1
    assert "book/01_first_wall.ipynb" in run.stdout and "set_repository_url.py" in run.stdout


@pytest.mark.parametrize("repository, args", [(None, []), ("not-a-repository", []),
                                              (None, ["--repository", "a/b/c"])])
def test_check_needs_owner_slash_repo(copy, repository, args):
    run = _check(copy, repository, *args)
    assert run.returncode == 2
    assert "OWNER/REPO" in run.stdout
