"""Refuse to publish a book whose links point at another repository.

    python tools/check_publish.py                       # in GitHub Actions: $GITHUB_REPOSITORY
    python tools/check_publish.py --repository OWNER/REPO

The workflow that deploys the book (``.github/workflows/deploy-book.yml``) runs this first. A
fork that was pushed without ``python tools/set_repository_url.py https://github.com/OWNER/REPO``
still names the original repository in ``_config.yml`` (the launch buttons), in the first cell
of every chapter (Colab's install) and in the other copies; publishing it would give students
links and installs that point elsewhere. Exit status: 0 when ``repository.url`` is
``https://github.com/OWNER/REPO`` of the repository the workflow runs in and every copy names
it, 1 when not (the message says what to run), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from set_repository_url import ROOT, current_url, files_with_copies

OWNER_REPO = re.compile(r"^[\w.-]+/[\w.-]+$")


def problems(repository: str) -> list[str]:
    """What stops publishing this checkout as ``https://github.com/<repository>``."""
    expected, configured = f"https://github.com/{repository}", current_url()
    if configured.lower() != expected.lower():          # GitHub names ignore case
        return [f"_config.yml's repository.url is {configured}, but this book is being "
                f"published from {expected}: its launch buttons and every chapter's first cell "
                f"would point at {configured}. Run `python tools/set_repository_url.py "
                f"{expected}`, commit and push."]
    stale = [str(p.relative_to(ROOT)) for p in files_with_copies()
             if configured not in p.read_text(encoding="utf-8")]
    return [f"{', '.join(stale)} do not name {configured}: run `python tools/set_repository_url.py "
            f"{expected}`, commit and push."] if stale else []


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python tools/check_publish.py",
                                     description="Refuse to publish a book whose repository URL "
                                                 "is not the repository it is published from.")
    parser.add_argument("--repository", default=os.environ.get("GITHUB_REPOSITORY"),
                        help="OWNER/REPO (default: $GITHUB_REPOSITORY, set by GitHub Actions)")
    args = parser.parse_args(argv)
    if not args.repository or not OWNER_REPO.match(args.repository):
        print(f"check_publish: need the repository as OWNER/REPO, got {args.repository!r}: run it "
              "in GitHub Actions (which sets GITHUB_REPOSITORY) or pass --repository OWNER/REPO.")
        return 2
    found = problems(args.repository)
    for problem in found:
        print(f"check_publish: refusing to publish. {problem}")
    if not found:
        print(f"check_publish: the book points at https://github.com/{args.repository}; publishing.")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
