"""Point the book at its published repository: the one edit to make when it moves.

    python tools/set_repository_url.py https://github.com/OWNER/REPO

The repository's URL is written once, as ``repository.url`` in ``_config.yml`` (the launch
buttons read it there). A notebook opened on Colab cannot read that file, so the first cell
of every chapter, the template of that cell, the README, ``pyproject.toml`` and
``CITATION.cff`` carry a copy of it; this script replaces the current URL by the new one in
all of them, and ``tests/test_repository_url.py`` fails when any copy disagrees.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPIES = ["_config.yml", "README.md", "pyproject.toml", "CITATION.cff",
          "book/_templates/first_cell.py"]
GITHUB = re.compile(r"^https://github\.com/[\w.-]+/[\w.-]+$")


def current_url() -> str:
    """``repository.url`` of ``_config.yml``, without a trailing slash."""
    match = re.search(r"^repository:\s*\n(?:\s+.*\n)*?\s+url:\s*(\S+)",
                      (ROOT / "_config.yml").read_text(), re.M)
    if match is None:
        raise SystemExit("_config.yml has no repository.url: add one under `repository:`.")
    return match.group(1).rstrip("/")


def files_with_copies() -> list[Path]:
    """Every file that must carry the repository's URL."""
    return [ROOT / f for f in COPIES] + sorted((ROOT / "book").glob("*.ipynb"))


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not GITHUB.match(argv[0].rstrip("/")):
        print("usage: python tools/set_repository_url.py https://github.com/OWNER/REPO")
        return 2
    old, new = current_url(), argv[0].rstrip("/")
    for path in files_with_copies():
        text = path.read_text(encoding="utf-8")
        if old in text:
            path.write_text(text.replace(old, new), encoding="utf-8")
            print(f"{path.relative_to(ROOT)}: {text.count(old)} x {old} -> {new}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
