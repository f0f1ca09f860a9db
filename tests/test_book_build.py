"""The book builds, executes every chapter without error, and renders offline.

Two groups of tests:

* fast checks of the sources (no marker): the table of contents, the chapters' first cell,
  the offline assets the configuration points to;
* ``book``-marked tests: one full ``jupyter-book build`` per pytest session (a session-scoped
  fixture, into a temporary copy of the repository), then checks of the HTML and of the pages
  as headless Chromium renders them **with the network disabled** (MathJax typeset, widgets
  drawn, figures present, no error output, no script from a CDN).

Run only these with ``pytest -m book``; skip them with ``pytest -m "not book"``.
Set ``CAMWALLS_BUILT_BOOK=/path/to/_build`` to inspect an existing build instead of building
(``.ci/run`` does, so the book is executed once per CI run; it keeps the build's output in
``_build/build.log`` for the warning check).
Chromium missing: the Chromium tests are skipped on a developer machine and fail in CI
(``CI=true``); ``.ci/run`` installs it.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
BOOK_DIR = REPO / "book"
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
BUILD_TIMEOUT = int(os.environ.get("CAMWALLS_BOOK_TIMEOUT", "4500"))  # seconds, whole build
MAX_ASSET_BYTES = 5 * 1024 * 1024


# ----------------------------------------------------------------------------- sources

def _config() -> dict:
    return yaml.safe_load((REPO / "_config.yml").read_text())


def toc_files() -> list[str]:
    """Every `file:` of _toc.yml (root first), without extension, in reading order."""
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    walk(toc.get("sections"))
    return files


def _source(entry: str) -> Path | None:
    for suffix in (".ipynb", ".md"):
        if (REPO / (entry + suffix)).exists():
            return REPO / (entry + suffix)
    return None


TOC = toc_files()
CHAPTERS = [f for f in TOC if _source(f) is not None and _source(f).suffix == ".ipynb"]


def test_toc_entries_exist():
    missing = [f for f in TOC if _source(f) is None]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"
    assert len(set(TOC)) == len(TOC), "a file is listed twice in _toc.yml"


def test_chapters_are_notebooks_in_book_dir():
    for f in TOC:
        assert f.startswith("book/"), f"{f}: book sources live in book/"
        if f not in ("book/intro", "book/references", "book/notes_on_the_paper", "book/instructors"):
            assert _source(f).suffix == ".ipynb", f"{f}: chapters are .ipynb (Colab opens them)"
    assert CHAPTERS, "no chapter notebook in _toc.yml"


@pytest.mark.parametrize("entry", CHAPTERS)
def test_first_code_cell_installs_the_library_when_missing(entry):
    """The convention of book/_templates/first_cell.py: no-op if camwalls_lib imports,
    otherwise pip installs the library with the extra of the chapter's group
    ([tool.camwalls.chapter-extras] in pyproject.toml) from the repository named in _config.yml."""
    url = _config()["repository"]["url"].rstrip("/")
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    groups = {n: extra for extra, numbers in pyproject["tool"]["camwalls"]["chapter-extras"].items()
              for n in numbers}
    stem = _source(entry).stem
    extra = groups.get(stem.split("_")[0])
    assert extra in pyproject["project"]["optional-dependencies"], (
        f"{entry}: add its number to a group of [tool.camwalls.chapter-extras] in pyproject.toml")
    nb = nbformat.read(_source(entry), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{entry}: no code cell"
    first = code[0].source
    template = (BOOK_DIR / "_templates" / "first_cell.py").read_text().rstrip("\n")
    assert first.rstrip("\n") == template.replace("ch-GROUP", extra), (
        f"{entry}: the first code cell must be book/_templates/first_cell.py with ch-GROUP "
        f"replaced by {extra}")
    assert "camwalls_lib" in first, f"{entry}: the first code cell must check camwalls_lib is importable"
    assert f'"camwalls[{extra}] @ git+{url}"' in first, (
        f"{entry}: the first code cell must pip install \"camwalls[{extra}] @ git+{url}\" "
        "(see book/_templates/first_cell.py)")


def test_template_first_cell_matches_repository_url():
    url = _config()["repository"]["url"].rstrip("/")
    assert f"git+{url}" in (BOOK_DIR / "_templates" / "first_cell.py").read_text()


def test_config_executes_and_fails_on_errors():
    cfg = _config()
    assert cfg["execute"]["execute_notebooks"] in ("force", "cache")
    assert cfg["execute"]["allow_errors"] is False
    assert cfg["execute"]["timeout"] >= 600
    assert cfg["sphinx"]["config"]["nb_execution_raise_on_error"] is True
    assert cfg["only_build_toc_files"] is True


def test_config_points_to_vendored_offline_assets():
    sc = _config()["sphinx"]["config"]
    static = [REPO / p for p in sc["html_static_path"]]
    assets = [sc["mathjax_path"], *sc["nb_ipywidgets_js"]]
    for asset in assets:
        assert "://" not in asset, f"{asset}: must be a local file, not a CDN"
        found = [s / asset for s in static if (s / asset).is_file()]
        assert found, f"{asset} not found in {static}"
        assert 0 < found[0].stat().st_size < MAX_ASSET_BYTES
    assert not (REPO / "_static").exists(), (
        "a root _static/ makes Jupyter Book load every .js in it on every page; use book/_static")


# ----------------------------------------------------------------------------- the build

@dataclass
class Built:
    html: Path            # _build/html
    executed: Path        # _build/jupyter_execute (the executed notebooks)
    log: str | None       # None: an existing build was given without its log
    returncode: int
    seconds: float


def _copy_repo(dst: Path) -> Path:
    ignore = shutil.ignore_patterns(".git", "_build", ".venv", "venv", "student", "__pycache__",
                                    ".pytest_cache", ".benchmarks", "*.egg-info", ".ipynb_checkpoints")
    shutil.copytree(REPO, dst, ignore=ignore, symlinks=True)
    shared = REPO.parent / "shared"
    if shared.exists() and not (dst.parent / "shared").exists():
        (dst.parent / "shared").symlink_to(shared)   # ../shared/ beside the copy, as beside the repo
    return dst


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Built:
    """Build the whole book once per session, in a temporary copy of the repository."""
    existing = os.environ.get("CAMWALLS_BUILT_BOOK")
    if existing:
        root = Path(existing).resolve()         # a relative path works too
        if not (root / "html" / "index.html").is_file():
            pytest.fail(f"CAMWALLS_BUILT_BOOK={existing} holds no built book (no html/index.html): "
                        "run `jupyter-book build .` first, or unset it to build here")
        log = root / "build.log"         # .ci/run keeps the build's output there
        return Built(root / "html", root / "jupyter_execute",
                     log.read_text(errors="replace") if log.is_file() else None, 0, 0.0)
    work = tmp_path_factory.mktemp("book")
    src = _copy_repo(work / "repo")
    out = work / "out"
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)            # an inherited Agg backend would hide every figure
    shared_data = REPO.parent / "shared" / "data"
    if shared_data.is_dir():
        env.setdefault("CAMWALLS_DATA", str(shared_data))
    # Run jupyter-book with *this* interpreter, so the kernel (sys.executable) sees the same
    # environment as the tests, whatever `jupyter-book` on PATH would resolve to.
    cmd = [sys.executable, "-c", "import sys; from jupyter_book.cli.main import main; sys.exit(main())",
           "build", str(src), "--path-output", str(out)]
    start = time.monotonic()
    try:
        run = subprocess.run(cmd, cwd=src, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
        log, code = run.stdout + run.stderr, run.returncode
    except subprocess.TimeoutExpired as e:
        log = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        log, code = log + f"\nBUILD TIMED OUT after {BUILD_TIMEOUT} s", -1
    seconds = time.monotonic() - start
    (work / "build.log").write_text(log)
    print(f"\njupyter-book build: {seconds:.0f} s, exit code {code}, log: {work / 'build.log'}")
    return Built(out / "_build" / "html", out / "_build" / "jupyter_execute", log, code, seconds)


def _tail(text: str, n: int = 60) -> str:
    """The informative end of a build log: the failing cell if there is one, else the tail."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    lines = text.splitlines()
    for marker in ("An error occurred while executing the following cell", "Executing notebook failed"):
        hits = [i for i, line in enumerate(lines) if marker in line]
        if hits:
            start = max(0, hits[0] - 15)
            return "\n".join(lines[start:hits[0] + 45])
    return "\n".join(lines[-n:])


def _page(built: Built, entry: str) -> Path:
    return built.html / (entry + ".html")


@pytest.mark.book
def test_book_builds(built_book):
    assert built_book.returncode == 0, "jupyter-book build failed:\n" + _tail(built_book.log)
    assert "Executing notebook failed" not in (built_book.log or "")
    reports = built_book.html / "reports"
    errs = sorted(reports.glob("**/*.err.log")) if reports.exists() else []
    assert not errs, "execution error reports: " + ", ".join(p.name for p in errs)


@pytest.mark.book
def test_build_has_no_sphinx_warnings(built_book):
    """Broken references, unknown citations, bad directives... (what `-W` would turn fatal)."""
    if built_book.log is None:
        if IN_CI:
            pytest.fail("CAMWALLS_BUILT_BOOK was given without build.log: .ci/run must keep it")
        pytest.skip("an existing build was given without its build.log: warnings not checked")
    log = re.sub(r"\x1b\[[0-9;]*m", "", built_book.log)
    start = log.rfind("Running Jupyter-Book")     # a kept log may begin with pip's own output
    warnings = [line for line in log[max(start, 0):].splitlines()
                if re.search(r"\b(WARNING|ERROR|CRITICAL|SEVERE):", line) and "[IPKernelApp]" not in line]
    assert not warnings, "Sphinx warnings:\n" + "\n".join(warnings)


@pytest.mark.book
@pytest.mark.parametrize("entry", TOC)
def test_every_toc_entry_has_a_page(built_book, entry):
    page = _page(built_book, entry)
    assert page.is_file() and page.stat().st_size > 1000, f"no HTML page for {entry}"


# An absolute path on the machine that built the book (POSIX or Windows), not part of a URL.
MACHINE_PATH = re.compile(r"(?<![\w.:/~-])(?:/(?:home|root|tmp|work|usr|var|opt|mnt|srv|Users|private|"
                          r"content)/[\w.~-]+|[A-Z]:\\[\w.~-]+)")


def test_machine_path_pattern():
    for text in ["read from /work/shared/data/mnist", "C:\\Users\\me\\data", "(/tmp/x)"]:
        assert MACHINE_PATH.search(text), text
    for text in ["https://example.org/work/x", "rows 170/223", "see ./data/mnist", "a/home/b"]:
        assert not MACHINE_PATH.search(text), text


@pytest.mark.book
@pytest.mark.parametrize("entry", TOC)
def test_no_machine_path_in_page(built_book, entry):
    """Pages say what the data are ("MNIST test set, 10,000 images"), never where the machine
    that built them keeps files."""
    text = _soup(_page(built_book, entry)).get_text(" ")
    hits = sorted({m.group(0) for m in MACHINE_PATH.finditer(text)})
    assert not hits, f"{entry}: absolute path(s) of the build machine in the page: {hits[:5]}"


@pytest.mark.book
def test_index_page_exists(built_book):
    assert (built_book.html / "index.html").is_file()


def _soup(path: Path):
    from bs4 import BeautifulSoup
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


@pytest.mark.book
def test_no_script_or_stylesheet_from_the_network(built_book):
    offenders = []
    for page in sorted(built_book.html.rglob("*.html")):
        soup = _soup(page)
        for tag in soup.find_all("script", src=True):
            if "://" in tag["src"] or tag["src"].startswith("//"):
                offenders.append(f"{page.relative_to(built_book.html)}: <script src={tag['src']}>")
        for tag in soup.find_all("link", href=True):
            if "stylesheet" in (tag.get("rel") or []) and ("://" in tag["href"] or tag["href"].startswith("//")):
                offenders.append(f"{page.relative_to(built_book.html)}: <link href={tag['href']}>")
    assert not offenders, "assets loaded from the network:\n" + "\n".join(offenders)


@pytest.mark.book
@pytest.mark.parametrize("entry", CHAPTERS)
def test_no_error_output_in_chapter(built_book, entry):
    soup = _soup(_page(built_book, entry))
    bad = [div for div in soup.select("div.output.traceback, div.output.error, div.output.ename")
           if not div.find_parent(class_="tag_raises-exception")]
    assert not bad, f"{entry}: error output in the page:\n" + bad[0].get_text()[:2000]
    executed = built_book.executed / (entry + ".ipynb")
    if executed.exists():
        nb = nbformat.read(executed, as_version=4)
        errors = [c for c in nb.cells if c.cell_type == "code"
                  and "raises-exception" not in c.metadata.get("tags", [])
                  and any(o.get("output_type") == "error" for o in c.get("outputs", []))]
        assert not errors, f"{entry}: a cell raised:\n{errors[0].source}"


@pytest.mark.book
@pytest.mark.parametrize("entry", CHAPTERS)
def test_markdown_tables_in_outputs_are_rendered(built_book, entry):
    """A table a cell displays as Markdown must become an HTML table, not a paragraph of pipes."""
    paragraphs = _soup(_page(built_book, entry)).select("div.cell_output p")
    raw = [p.get_text() for p in paragraphs if p.get_text().lstrip().startswith("|")
           and p.get_text().count("|") >= 4]
    assert not raw, f"{entry}: a Markdown table was not rendered:\n{raw[0][:300]}"


@pytest.mark.book
@pytest.mark.parametrize("entry", CHAPTERS)
def test_no_widget_is_shown_twice(built_book, entry):
    """A helper that both displays and returns a widget draws it twice in the page."""
    executed = built_book.executed / (entry + ".ipynb")
    if not executed.exists():
        return
    for cell in nbformat.read(executed, as_version=4).cells:
        views = [o["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
                 for o in cell.get("outputs", [])
                 if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
        assert len(views) == len(set(views)), f"{entry}: a widget is shown twice by\n{cell.source}"


@pytest.mark.book
@pytest.mark.parametrize("entry", CHAPTERS)
def test_colab_launch_button(built_book, entry):
    cfg = _config()
    url = cfg["repository"]["url"].rstrip("/")
    gh = url.split("github.com/", 1)[1]
    expected = (f"{cfg['launch_buttons']['colab_url'].rstrip('/')}/github/{gh}/blob/"
                f"{cfg['repository']['branch']}/{entry}.ipynb")
    assert expected in _page(built_book, entry).read_text(encoding="utf-8"), (
        f"{entry}: no Colab launch link {expected}")


def _image_outputs(built: Built, entry: str) -> int:
    executed = built.executed / (entry + ".ipynb")
    if not executed.exists():
        return 0
    nb = nbformat.read(executed, as_version=4)
    return sum(1 for c in nb.cells if c.cell_type == "code"
               and "remove-output" not in c.metadata.get("tags", [])
               and "remove-cell" not in c.metadata.get("tags", [])
               for o in c.get("outputs", [])
               if any(k.startswith("image/") for k in o.get("data", {})))


@pytest.mark.book
@pytest.mark.parametrize("entry", CHAPTERS)
def test_chapter_figures_are_real_images(built_book, entry):
    from PIL import Image

    expected = _image_outputs(built_book, entry)
    page = _page(built_book, entry)
    imgs = [img for img in _soup(page).select("div.cell_output img, figure img, img")
            if not img.get("src", "").startswith(("http", "data:image/svg"))
            and "logo" not in " ".join(img.get("class", []))]
    imgs = list({id(i): i for i in imgs}.values())
    assert len(imgs) >= expected, f"{entry}: {expected} image outputs but {len(imgs)} <img> in the page"
    for img in imgs:
        src = img["src"]
        if src.startswith("data:"):
            assert len(src) > 100, f"{entry}: empty inline image"
            continue
        path = (page.parent / src.split("?")[0]).resolve()
        assert path.is_file() and path.stat().st_size > 0, f"{entry}: missing/empty image {src}"
        if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".gif", ".webp"):
            with Image.open(path) as im:
                assert im.size[0] > 1 and im.size[1] > 1, f"{entry}: degenerate image {src}"


# ----------------------------------------------------------------------------- Chromium

def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="session")
def chromium():
    exe = _chromium()
    if exe is None:
        if IN_CI:
            pytest.fail("Chromium is required in CI (apt-get install -y chromium); .ci/run installs it")
        pytest.skip("Chromium not installed (apt-get install -y chromium) and not in CI: "
                    "offline rendering not checked")
    return exe


@pytest.fixture(scope="session")
def rendered(built_book, chromium, tmp_path_factory):
    """DOM of every page after Chromium ran its scripts, offline. {entry: BeautifulSoup}."""
    from bs4 import BeautifulSoup

    if built_book.returncode != 0:
        pytest.fail("the book did not build; see test_book_builds")
    profile = tmp_path_factory.mktemp("chromium-profile")
    doms = {}
    for entry in ["index", *TOC]:
        page = built_book.html / f"{entry}.html"
        if not page.exists():
            continue
        cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--disable-quic", "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--disable-extensions",
               "--host-resolver-rules=MAP * ~NOTFOUND",      # no name resolves: no network
               "--proxy-server=http://127.0.0.1:9",          # and nothing gets out anyway
               f"--user-data-dir={profile}", "--virtual-time-budget=15000",
               "--dump-dom", page.as_uri()]
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        assert run.returncode == 0 and run.stdout.strip(), (
            f"Chromium could not render {page}:\n{run.stderr[-2000:]}")
        doms[entry] = BeautifulSoup(run.stdout, "html.parser")
    return doms


def _visible_text(dom) -> str:
    dom = copy.copy(dom)
    for tag in dom.find_all(["script", "style", "pre", "code", "textarea", "mjx-assistive-mml", "math"]):
        tag.decompose()
    return dom.get_text(" ")


@pytest.mark.book
def test_index_redirects_to_the_intro_and_renders(rendered):
    index = rendered["index"]                 # index.html redirects to the root page
    title = _config()["title"]
    assert title in index.get_text(" "), "index.html did not lead to the book"
    assert index.find("mjx-container") is not None, "the landing page's math is not typeset"


@pytest.mark.book
@pytest.mark.parametrize("entry", TOC)
def test_math_is_typeset_offline(built_book, rendered, entry):
    static_math = _soup(_page(built_book, entry)).select(".math")
    dom = rendered[entry]
    untypeset = [m for m in dom.select(".math") if m.find("mjx-container") is None]
    assert not untypeset, (f"{entry}: {len(untypeset)} of {len(static_math)} math elements not typeset "
                           f"by MathJax, e.g. {untypeset[0].get_text()[:200]!r}")
    if static_math:
        assert len(dom.find_all("mjx-container")) >= len(static_math)
    text = _visible_text(dom)
    assert "$$" not in text, f"{entry}: raw $$ left in the page: ...{text[text.index('$$') - 80:][:200]}..."


@pytest.mark.book
@pytest.mark.parametrize("entry", CHAPTERS)
def test_widgets_render_offline(built_book, rendered, entry):
    views = _soup(_page(built_book, entry)).find_all("script", type="application/vnd.jupyter.widget-view+json")
    if not views:
        return
    dom = rendered[entry]
    scripts = dom.find_all("script", type="application/vnd.jupyter.widget-view+json")
    missing = [s for s in scripts if s.parent.find(class_="jupyter-widgets") is None]
    assert not missing, (f"{entry}: {len(missing)} of {len(scripts)} widgets not drawn offline "
                         f"(model {json.loads(missing[0].string or '{}').get('model_id')})")


@pytest.mark.book
@pytest.mark.parametrize("entry", CHAPTERS)
def test_figures_present_in_rendered_page(built_book, rendered, entry):
    expected = _image_outputs(built_book, entry)
    if not expected:
        return
    imgs = [i for i in rendered[entry].select("div.cell_output img") if i.get("src")]
    assert len(imgs) >= expected, f"{entry}: {expected} figures expected, {len(imgs)} <img> rendered"


# ----------------------------------------------------------------------------- figures and layout

IMAGE_FILE = re.compile(r"\.(png|jpe?g|svg|gif|webp)\b", re.I)


def alt_text_problem(alt: str | None) -> str | None:
    """Why ``alt`` does not describe a figure (None if it does): missing, empty, a file path
    (myst-nb's default for a figure without alt metadata), or too short to describe anything."""
    alt = (alt or "").strip()
    if not alt:
        return "empty alt text"
    if IMAGE_FILE.search(alt) or (" " not in alt and ("/" in alt or "\\" in alt)):
        return f"alt text is a file path ({alt[:80]!r})"
    if len(alt.split()) < 4:
        return f"alt text too short to describe the figure ({alt!r})"
    return None


def test_alt_text_problem():
    for bad in ["", "  ", "../_images/abc123.png", "_build/jupyter_execute/x.png",
                "C:\\images\\fig", "figure"]:
        assert alt_text_problem(bad), bad
    assert alt_text_problem("A grid of heat maps, dark below the red line.") is None


def _content_images(built: Built, entry: str) -> list:
    """<img> of the page's content (not the theme's logo)."""
    soup = _soup(_page(built, entry))
    article = soup.select_one("article") or soup
    return [img for img in article.find_all("img") if "logo" not in " ".join(img.get("class", []))]


# ----------------------------------------------------------------------------- reader text
# Reader pages speak of the subject only: no repository paths or test names, no facts about
# the machine that built the book, no build targets or timings (those live in the README's
# benchmarks), no stray object reprs or empty prints. PROSE_* apply to the text a reader reads
# (code and math removed); OUTPUT_* to what the executed cells printed.

# Words about the machinery that built a page, not about the subject (prose and outputs).
MACHINE_WORDS = (r"\boffline (?:fallback|subset|copy)\b|\bdevice:\s*(?:cpu|cuda|mps)\b"
                 r"|\bcach(?:e|es|ed|ing)\b|\bsmoke model\b|\bupdate:\s*\d+\s*ms\b|\.\./shared\b"
                 r"|\bdelete the (?:file|checkpoint)\b|\bvendored\b|\bwe ask for\b|\btest tolerance")
# A float printed with all its digits (69.54438018798828), not rounded for a reader.
UNROUNDED_FLOAT = r"(?<![\w./])-?\d+\.\d{7,}(?:e[+-]?\d+)?"   # not a DOI (10.1145/2939672.2939778)
# μ is a ratio of norms (μ² is the dead zone's share of the energy), not "a share of the norm".
SHARE_OF_NORM = r"\bshare of\s+(?:the\s+|a\s+|its\s+)?(?:map's\s+)?(?:(?:ℓ\s?2|l2|ℓ²)\s+)?norm\b"

PROSE_FORBIDDEN = {
    "a repository path (shared/...)": r"\bshared/",
    "a test file or folder": r"\btests/|\btest_\w+\.py\b",
    "a fact about the build machine": r"\b\d+-core\b|\bthis machine\b|\bbuild machine\b|\bmachine that builds\b",
    # (the expected run time of the authors' own table on a Colab GPU is advice to the reader
    # who will run it there, not a fact about this book's build: it may stay)
    "a timing": r"\bseconds\b|\bmilliseconds?\b|\bhalf a second\b|\bminutes? (?:on|per)\b(?! a Colab)",
    "a build target": r"\btargets?\b(?! (?:class|classes|logit|probability|label|score|network|layer))",
    "a word about the build machinery (offline fallback, device, cache, ...)": MACHINE_WORDS,
    "an unrounded float": UNROUNDED_FLOAT,
    "μ called a share of the norm (μ is a ratio of norms)": SHARE_OF_NORM + r"|%\s+of its\s+(?:map's\s+)?norm\b",
}
OUTPUT_FORBIDDEN = {
    "a repository path (shared/...)": r"\bshared/",
    "a test file or folder": r"\btests/|\btest_\w+\.py\b",
    "an object repr (0x...)": r"\bat 0x[0-9a-fA-F]+|<[\w.]+ object>",
    "an empty dict/list/set printed": r"(?m)(?:^|[:=]\s*)(?:\{\}|\[\]|set\(\))\s*$",
    "a timing": r"(?<![\w.])\d+(?:\.\d+)?\s?(?:s|ms|sec|seconds)\b(?![\w/-])|\bs/image\b|\bseconds\b",
    "a word about the build machinery (offline fallback, device, cache, ...)": MACHINE_WORDS,
    "an unrounded float": UNROUNDED_FLOAT,
    "a tensor repr": r"\btensor\(",
    "a model repr (print(model))": r"\bSequential\(|\(\w+\): [A-Z]\w*\(",
    "a dict printed as Python": r"\{\s*(?:'[^'\n]*'|\"[^\"\n]*\"|-?\d[\w.+-]*|\(\d[^)\n]*\))\s*:\s*\S",
    "a list printed as Python": (r"\[(?:\s*(?:-?\d[\d.]*(?:e[+-]?\d+)?|'[^'\n]*'|\"[^\"\n]*\""
                                 r"|True|False|None|\((?:[^()\n]|\([^()\n]*\))*\))\s*,){2,}"),
    "a raw sympy / Python expression": (r"\w\*\*\d|\b[A-Za-z]\w*_\w+\s?\*\s?[A-Za-z(]|\)\*[A-Za-z(]"
                                        r"|\bHeaviside\([^)\d]"),
    "μ called a share of the norm (μ is a ratio of norms)": SHARE_OF_NORM,
}


def _forbidden(text: str, patterns: dict[str, str]) -> list[str]:
    hits = []
    for what, pattern in patterns.items():
        for m in re.finditer(pattern, text, flags=re.IGNORECASE):
            hits.append(f"{what}: ...{text[max(0, m.start() - 60):m.end() + 40]!r}...")
    return hits


def _markdown_prose(src: str) -> str:
    """A Markdown cell's prose: fenced code, inline code and math removed."""
    src = re.sub(r"(?ms)^(`{3,}|~{3,})\s*(?:python|py|text|bash|console)?\s*$.*?^\1\s*$", " ", src)
    src = re.sub(r"``.*?``|`[^`\n]*`", " ", src)
    src = re.sub(r"(?s)\$\$.*?\$\$|\$[^$\n]*\$", " ", src)
    return src


def test_forbidden_text_patterns_catch_what_they_should():
    for text in ["see shared/papers/x.txt", "tests/test_theorem3.py checks it", "on the 2-core box",
                 "The target is half a second per move", "the targets set for this book",
                 "a timings table: 3.2 seconds", "that takes a few seconds",
                 "trained on the offline fallback", "Fig. 6.1 (offline subset)",
                 "results are cached on disk", "delete the file to retrain",
                 "read from ../shared/data", "vendored in book/_static", "the smoke model",
                 "far below the 10⁻⁵ we ask for", "a change of 69.54438018798828",
                 "the share of a map's ℓ2 norm that lies there", "the share of a map's    norm",
                 "puts between 30.7 % and 48.7 % of its map's norm in the dead zone"]:
        assert _forbidden(text, PROSE_FORBIDDEN), text
    for text in ["doi:10.1145/2939672.2939778", "the target class", "explain the target logit",
                 "rows 170..223 of the image",
                 "trained on 19,690 of MNIST's 60,000 training images", "μ = 0.67 (a constant map: 0.65)",
                 "μ² is the dead zone's share of the map's energy", "a ratio of norms",
                 "the device of a wall", "π ≈ 3.14159"]:
        assert not _forbidden(text, PROSE_FORBIDDEN), text
    for text in ["<torch._C.Generator at 0x7f3a2b>", "seconds per method: {}", "empty: []",
                 "GradCAM  12.3 s", "median 410 ms", "0.52 s/image",
                 "device: cpu", "training data: offline fallback: the first 19,690 images",
                 "update: 384 ms", "loaded from the cache", "max |change| = 69.54438018798828",
                 "0.45730751752853394", "1.7881393432617188e-07", "tensor([0., 0.])",
                 "ToyCNN(\n  (features): Sequential(\n    (0): Conv2d(1, 64)", "(0): Conv2d(1, 64",
                 "mu = {'GradCAM': 0.3}", "{1: 0.5, 8: 0.0039, 64: 5.421010862427522e-20}",
                 "{(7, 2): 12}", "['96.4%', '97.0%', '95.1%']", "[0.473, 0.51, 0.6]",
                 "[True, True, True, True]", "[((7, 2), 12), ((9, 4), 8), ((8, 9), 5)]",
                 "beta_1*c/gamma_1 + beta_2", "tau**2*hprime", "Heaviside(a_1)", "sqrt(2)*tau/2",
                 "mu (share of the map's l2 norm in the dead zone) = 0.67"]:
        assert _forbidden(text, OUTPUT_FORBIDDEN), text
    for text in ["rows (20, 27)", "4 s-shaped strokes", "μ x 100: 12.1 ± 3.0",
                 "saliency normalised to [0, 1]", "dead zone: input rows 16..27",
                 "| GradCAM | 66.9 ± 5.3 | 65.5 |", "μ = 0.67 (a constant map: 0.65)",
                 "top-1 accuracy 72.5 %", "largest |alpha - closed form|: 1.2e-07",
                 "predictions unchanged: 100.0 %", "seed 0: Z = 49, ratio 0.5810",
                 "g(  8) = 1.8381   sqrt(V/2) = 2.0000", "sympy's Heaviside(0) = 1/2"]:
        assert not _forbidden(text, OUTPUT_FORBIDDEN), text


# Every μ a reader sees is read against the μ of a map that ignores the image: a page that
# shows μ says "constant map" (mu_text writes "μ = 0.67 (a constant map: 0.65)"; figures put
# "a constant map: μ=0.65" in the input's title; prose says "a constant map scores ...").
MU_SHOWN = re.compile(r"μ|\\mu\b")
BASELINE_SHOWN = re.compile(r"\bconstant(?:-|\s+)map\b", re.IGNORECASE)   # a line break may split it


def mu_without_baseline(text: str) -> bool:
    """True when ``text`` (a whole page: prose, math source, outputs, captions, alt texts,
    figure titles) shows μ but never a constant map's μ beside it."""
    return bool(MU_SHOWN.search(text)) and not BASELINE_SHOWN.search(text)


def test_mu_baseline_check():
    for text in ["GradCAM: μ = 0.67", r"\(\mu(\Lambda) = \|\Lambda_D\|/\|\Lambda\|\)",
                 "mu x 100 | μ = 66.9 ± 5.3", "a map that is constant scores μ = 0.65"]:
        assert mu_without_baseline(text), text
    for text in ["μ = 0.67 (a constant map: 0.65)", "input (a constant map: μ=0.65) GradCAM μ=0.60",
                 r"\(\mu\) ... a Constant map already scores 0.65", "no leak metric on this page",
                 "the mean of a map", "the constant-map row: 49.1",
                 "μ is 0.53; a constant\n  map scores as much"]:
        assert not mu_without_baseline(text), text


def _page_text_for_mu(built: Built, entry: str) -> str:
    """Everything a reader can see of a page: text (math source included), alt texts and
    the titles drawn inside figures (their captions and alt texts carry them)."""
    soup = _soup(_page(built, entry))
    article = soup.select_one("article") or soup
    alts = " ".join(img.get("alt", "") for img in article.find_all("img"))
    return article.get_text(" ") + " " + alts


@pytest.mark.book
@pytest.mark.parametrize("entry", TOC)
def test_every_page_with_mu_shows_a_constant_map_baseline(built_book, entry):
    assert not mu_without_baseline(_page_text_for_mu(built_book, entry)), (
        f"{entry}: the page shows μ but no constant-map baseline; print μ with "
        "camwalls_lib.book.report.mu_text, or say what a constant map scores "
        "(camwalls_lib.metrics.baseline_mu)")


@pytest.mark.parametrize("entry", TOC)
def test_no_forbidden_text_in_sources(entry):
    """Fast check of the sources (the built pages are checked by the book test below)."""
    path = _source(entry)
    if path.suffix == ".md":
        cells = [path.read_text(encoding="utf-8")]
    else:
        cells = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown"]
    hits = [h for src in cells for h in _forbidden(_markdown_prose(src), PROSE_FORBIDDEN)]
    assert not hits, f"{entry}: text about the project, not the subject:\n" + "\n".join(hits[:10])


HIDDEN_CODE = {"remove-input", "remove-cell"}         # hide-input code unfolds: it is shown


@pytest.mark.parametrize("entry", CHAPTERS)
def test_visible_code_holds_no_glue(entry):
    """The code a reader sees is the computation: the ``glue(...)`` calls that feed numbers to
    the prose (and the lines only they need) sit in a hidden cell after it."""
    cells = nbformat.read(_source(entry), as_version=4).cells
    shown = [c for c in cells if c.cell_type == "code" and "solution" not in c.metadata.get("tags", [])
             and not HIDDEN_CODE & set(c.metadata.get("tags", []))]
    glued = [c.source.splitlines()[0][:70] for c in shown if re.search(r"\bglue\(", c.source)]
    assert not glued, (f"{entry}: glue(...) in code cells the reader sees; move it to a following "
                       f"cell tagged remove-cell: {glued}")


@pytest.mark.book
@pytest.mark.parametrize("entry", TOC)
def test_every_image_has_descriptive_alt_text(built_book, entry):
    bad = [f"{img.get('src', '')[:60]}: {alt_text_problem(img.get('alt'))}"
           for img in _content_images(built_book, entry) if alt_text_problem(img.get("alt"))]
    assert not bad, (f"{entry}: images without descriptive alt text (give the cell "
                     '"mystnb": {"image": {"alt": "..."}} metadata):\n' + "\n".join(bad))


UNNUMBERED = {"fig-intro-claim"}
"""The intro's opening figure: unnumbered (its text under the image is a legend), so that the
first numbered figure is chapter 1's "Fig. 1.1", not a "Fig. 1" beside it."""


@pytest.mark.book
@pytest.mark.parametrize("entry", TOC)
def test_every_figure_has_a_numbered_caption(built_book, entry):
    """Every figure a cell draws (an image file in a cell output) and every {figure} sits in a
    <figure> with a caption number, so that the text can say "Fig. 7.2" and link to it."""
    soup = _soup(_page(built_book, entry))
    missing = []
    for img in _content_images(built_book, entry):
        src = img.get("src", "")
        if src.startswith("data:"):          # frames of an HTML slider, not a drawn figure
            continue
        figure = img.find_parent("figure")
        if figure is not None and figure.get("id") in UNNUMBERED:
            continue
        if figure is None or figure.select_one(".caption-number") is None:
            missing.append(src)
    missing += [f"<figure id={f.get('id')}>" for f in soup.select("article figure")
                if f.select_one(".caption-number") is None and f.get("id") not in UNNUMBERED]
    assert not missing, (f"{entry}: figures without a numbered caption (give the cell "
                         '"mystnb": {"figure": {"caption": "...", "name": "fig-..."}} metadata): '
                         f"{missing}")


NARROW = 400                                 # px: a phone held upright


def _overflow_probe(chromium: str, page: Path, tmp: Path, width: int = NARROW) -> dict:
    """Load ``page`` in an iframe ``width`` px wide in headless Chromium (offline) and report
    how wide its document is, and which elements stick out of the viewport outside a block
    that scrolls by itself (code, display math, wide tables)."""
    probe = tmp / f"probe-{page.stem}.html"
    probe.write_text(f"""<!doctype html><html><body style="margin:0">
<iframe id="f" src="{page.as_uri()}" style="width:{width}px;height:1000px;border:0"></iframe>
<pre id="result">pending</pre>
<script>
function scrolls(el) {{
  for (; el && el.nodeType === 1; el = el.parentElement) {{
    var o = getComputedStyle(el).overflowX;
    if (o === 'auto' || o === 'scroll') return true;
  }}
  return false;
}}
document.getElementById('f').addEventListener('load', function () {{
  var frame = this;
  setTimeout(function () {{
    var d = frame.contentDocument, w = frame.contentWindow.innerWidth, culprits = [];
    var outermost = [];
    d.querySelectorAll('article *').forEach(function (el) {{
      var r = el.getBoundingClientRect();
      if (r.width > 0 && r.right > w + 1 && !scrolls(el.parentElement)
          && getComputedStyle(el).position !== 'fixed'
          && !outermost.some(function (o) {{ return o.contains(el); }})) {{
        outermost.push(el);
        culprits.push('<' + el.tagName.toLowerCase() + ' class="' + el.getAttribute('class')
                      + '"> ends at ' + Math.round(r.right) + ' px: '
                      + (el.textContent || '').trim().slice(0, 60));
      }}
    }});
    document.getElementById('result').textContent = JSON.stringify({{
      width: w, scrollWidth: d.documentElement.scrollWidth, culprits: culprits.slice(0, 8)}});
  }}, 4000);
}});
</script></body></html>""")
    profile = tmp / "chromium-profile-narrow"
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--disable-background-networking", "--disable-extensions",
           "--allow-file-access-from-files", "--host-resolver-rules=MAP * ~NOTFOUND",
           "--proxy-server=http://127.0.0.1:9", f"--user-data-dir={profile}",
           "--window-size=1000,1200", "--virtual-time-budget=20000", "--dump-dom", probe.as_uri()]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    from bs4 import BeautifulSoup
    result = BeautifulSoup(run.stdout, "html.parser").find(id="result")
    assert result is not None and result.get_text() != "pending", (
        f"Chromium did not measure {page}:\n{run.stderr[-2000:]}")
    return json.loads(result.get_text())


@pytest.mark.book
@pytest.mark.parametrize("entry", TOC)
def test_page_fits_a_400px_screen(built_book, chromium, tmp_path_factory, entry):
    """At 400 px the page does not scroll sideways: text and figures fit, and only code,
    display math and wide tables may scroll inside their own block."""
    got = _overflow_probe(chromium, _page(built_book, entry), tmp_path_factory.mktemp("narrow"))
    assert got["scrollWidth"] <= got["width"] + 1 and not got["culprits"], (
        f"{entry}: at {NARROW} px the page is {got['scrollWidth']} px wide; sticking out: "
        f"{got['culprits']}")


@pytest.mark.book
@pytest.mark.parametrize("entry", TOC)
def test_no_forbidden_text_in_page(built_book, entry):
    soup = _soup(_page(built_book, entry))
    article = soup.select_one("article") or soup
    shown = copy.copy(article)
    for listing in shown.select('div.cell_output div[class*="highlight-python"]'):
        listing.decompose()      # source code a chapter shows on purpose, not a repr
    outputs = "\n".join(div.get_text("\n") for div in shown.select("div.cell_output"))
    prose = copy.copy(article)
    for tag in prose.select("div.cell_output, div.cell_input, pre, code, .math, script, style"):
        tag.decompose()
    hits = _forbidden(prose.get_text(" "), PROSE_FORBIDDEN) + _forbidden(outputs, OUTPUT_FORBIDDEN)
    assert not hits, f"{entry}: text about the project, not the subject:\n" + "\n".join(hits[:10])


# ----------------------------------------------------------------------------- solutions
# Solutions whose answer is code are gated solutions with code cells: the build runs them with
# the chapter, so a reader who unfolds a solution sees its output (tests/test_solutions.py
# checks the sources).

def _solution_code_cells(entry: str) -> int:
    from edition import Removal, strip_solutions

    removed: list[Removal] = []
    nb = nbformat.read(_source(entry), as_version=4)
    unrendered = {c.source for c in nb.cells if c.cell_type == "code"    # e.g. a solution's glue
                  and "remove-cell" in c.metadata.get("tags", [])}
    strip_solutions(nb, removed)
    return sum(code not in unrendered for r in removed if r.kind == "solution-start/end"
               for code in r.code)


@pytest.mark.book
@pytest.mark.parametrize("entry", CHAPTERS)
def test_every_solution_ran_at_build_time(built_book, entry):
    soup = _soup(_page(built_book, entry))
    cells = [cell for box in soup.select("div.solution") for cell in box.select("div.cell")]
    expected = _solution_code_cells(entry)
    assert len(cells) == expected, (
        f"{entry}: {expected} code cells in gated solutions, {len(cells)} inside solution boxes")
    for cell in cells:
        code = cell.select_one("div.cell_input")
        source = code.get_text()[:300] if code else "?"
        output = cell.select_one("div.cell_output")
        assert output is not None and (output.get_text(strip=True) or output.find("img")), (
            f"{entry}: a solution's code shows no output when unfolded:\n{source}")
        assert not output.select("div.output.traceback, div.output.error, div.output.ename"), (
            f"{entry}: a solution raised:\n{source}")


# ----------------------------------------------------------------------------- student edition

@pytest.fixture(scope="session")
def student_edition(built_book, tmp_path_factory) -> Path:
    """The student edition built from the book's build (no execution)."""
    from student_build import build_student_edition

    if built_book.returncode != 0:
        pytest.fail("the book did not build; see test_book_builds")
    out = tmp_path_factory.mktemp("student")
    return build_student_edition(REPO, out, built=built_book.html.parent, echo=lambda *_: None)


@pytest.mark.book
@pytest.mark.slow
def test_student_edition_builds_without_warnings(student_edition):
    log = re.sub(r"\x1b\[[0-9;]*m", "", (student_edition.parent.parent / "build.log").read_text())
    warnings = [line for line in log.splitlines() if re.search(r"\b(WARNING|ERROR):", line)]
    assert not warnings, "student edition build warnings:\n" + "\n".join(warnings[:20])


@pytest.mark.book
@pytest.mark.slow
@pytest.mark.parametrize("entry", CHAPTERS)
def test_student_edition_has_exercises_and_no_solutions(built_book, student_edition, entry):
    from edition import count_directives

    teacher = _soup(_page(built_book, entry))
    student = _soup(student_edition / (entry + ".html"))
    assert teacher.select("div.solution"), f"{entry}: the book itself shows no solution"
    assert not student.select("div.solution"), f"{entry}: a solution in the student edition"
    assert len(student.select("div.exercise")) == len(teacher.select("div.exercise")) > 0
    assert len(student.select("div.cell_output")) >= len(teacher.select("div.cell_output")) - (
        _solution_code_cells(entry)), f"{entry}: the student edition lost the chapter's outputs"
    download = student_edition / "_sources" / (entry + ".ipynb")
    nb = nbformat.read(download, as_version=4)
    assert count_directives(nb, "solution") == count_directives(nb, "solution-start") == 0
    assert count_directives(nb, "exercise") + count_directives(nb, "exercise-start") >= 3
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        f"{entry}: the downloadable student notebook carries outputs")
