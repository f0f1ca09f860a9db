"""Shared pytest configuration for camwalls.

Markers (select with -m):
  slow  -- tests that train or sweep for a while (minutes); skip with  pytest -m "not slow"
  book  -- tests that build the whole Jupyter Book and inspect it in headless Chromium;
           skip with  pytest -m "not book", run alone with  pytest -m book
  colab -- the Colab simulation: a fresh venv with Colab's preinstalled packages, a chapter's
           first cell installing the library from this repository (also slow)
"""

import sys
from pathlib import Path

import pytest

# the book tools (tools/edition.py, tools/set_repository_url.py) import as top-level modules
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

REPO_ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test (training, sweeps); deselect with -m 'not slow'")
    config.addinivalue_line("markers", "book: builds the Jupyter Book and checks the HTML in headless Chromium; "
                                       "deselect with -m 'not book'")
    config.addinivalue_line("markers", "colab: a fresh venv with only Colab's preinstalled packages "
                                       "runs chapters after their first cell installs the library")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (where _config.yml and _toc.yml live)."""
    return REPO_ROOT
