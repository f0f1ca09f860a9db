"""Point the book at its published repository: the one edit to make when it moves.

    python tools/set_repository_url.py https://github.com/OWNER/REPO

The repository's URL is written once, as ``repository.url`` in ``_config.yml`` (the launch
buttons read it there). A notebook opened on Colab cannot read that file, so the first cell
of every chapter, the template of that cell, the README, ``pyproject.toml`` and
``CITATION.cff`` carry a copy of it; this script replaces the current URL by the new one in
all of them, and ``tests/test_repository_url.py`` fails when any copy disagrees.

All or nothing: the new URL must be a repository's address (``https://github.com/OWNER/REPO``,
nothing after it); every file that must carry a copy must exist and name the configured URL
(a copy that disagrees is reported, and nothing is changed); every new file is computed and
parsed (JSON, TOML, YAML) before any is written; each is then replaced atomically, and a
failure half-way puts back the ones already replaced. Exit status: 0 done, 1 refused (the
report says why), 2 a bad command line.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COPIES = ["_config.yml", "README.md", "pyproject.toml", "CITATION.cff",
          "book/_templates/first_cell.py"]
GITHUB = re.compile(r"https://github\.com/(?!-)[A-Za-z0-9-]{1,39}/(?!\.{1,2}$)[A-Za-z0-9._-]{1,100}")
"""A GitHub repository's address (match with ``fullmatch``): owner, then repository name."""
USAGE = "usage: python tools/set_repository_url.py https://github.com/OWNER/REPO"


class Refused(Exception):
    """The rewrite cannot be done safely; the message says why (nothing was written)."""


def current_url(root: Path = ROOT) -> str:
    """``repository.url`` of ``_config.yml``, without a trailing slash."""
    match = re.search(r"^repository:\s*\n(?:\s+.*\n)*?\s+url:\s*(\S+)",
                      (Path(root) / "_config.yml").read_text(), re.M)
    if match is None:
        raise SystemExit("_config.yml has no repository.url: add one under `repository:`.")
    return match.group(1).rstrip("/")


def files_with_copies(root: Path = ROOT) -> list[Path]:
    """Every file that must carry the repository's URL."""
    root = Path(root)
    return [root / f for f in COPIES] + sorted((root / "book").glob("*.ipynb"))


def valid_url(url) -> str | None:
    """``url`` without a trailing slash if it is a GitHub repository's address, else None."""
    if not isinstance(url, str):
        return None
    url = url[:-1] if url.endswith("/") else url
    return url if GITHUB.fullmatch(url) and not url.endswith(".git") else None


def _check_parses(path: Path, text: str) -> None:
    """Raise if ``text`` is not a valid file of ``path``'s kind."""
    if path.suffix in (".ipynb", ".json"):
        json.loads(text)
    elif path.suffix == ".toml":
        tomllib.loads(text)
    elif path.suffix in (".yml", ".yaml", ".cff"):
        yaml.safe_load(text)


def planned(root: Path, old: str, new: str) -> dict[Path, tuple[str, str]]:
    """``{path: (old text, new text)}`` for every copy, each new text checked to parse; raises
    :class:`Refused` naming every missing file, every copy without ``old`` (and the URLs it
    holds instead) and every file that would not parse."""
    problems, plan = [], {}
    for path in files_with_copies(root):
        rel = path.relative_to(root)
        if not path.is_file():
            problems.append(f"{rel}: missing (it must carry the repository's URL)")
            continue
        text = path.read_text(encoding="utf-8")
        if old not in text:
            found = sorted(set(re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", text)))
            problems.append(f"{rel}: does not name {old} (the URL of _config.yml)"
                            + (f"; it names {', '.join(found)}" if found else ""))
            continue
        try:
            _check_parses(path, text.replace(old, new))
        except (ValueError, yaml.YAMLError) as e:
            problems.append(f"{rel}: would not parse after the change ({type(e).__name__}: "
                            f"{str(e).splitlines()[0][:120]})")
            continue
        plan[path] = (text, text.replace(old, new))
    if problems:
        raise Refused("Nothing was changed:\n  " + "\n  ".join(problems)
                      + "\nFix these files (or _config.yml's repository.url), then rerun.")
    return plan


def _write(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` atomically (temporary file beside it, then os.replace)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(text.encode("utf-8"))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def apply(plan: dict[Path, tuple[str, str]]) -> None:
    """Write every new text; if one write fails, put back the files already written."""
    done = []
    try:
        for path, (_, new) in plan.items():
            _write(path, new)
            done.append(path)
    except BaseException:
        for path in done:               # in place: os.replace itself may be what fails
            path.write_bytes(plan[path][0].encode("utf-8"))
        raise


def main(argv: list[str], root: Path = ROOT) -> int:
    new = valid_url(argv[0]) if len(argv) == 1 else None
    if new is None:
        print(USAGE + "\n  (OWNER and REPO: letters, digits, '-', '.', '_'; nothing after REPO)")
        return 2
    root = Path(root)
    old = current_url(root)
    try:
        plan = planned(root, old, new)
    except Refused as e:
        print(e)
        return 1
    apply(plan)
    for path, (text, _) in plan.items():
        print(f"{path.relative_to(root)}: {text.count(old)} x {old} -> {new}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
