"""The scoreboard: every method of six libraries on every network of the standard set.

One row per method x library x network (columns :data:`~.stats.COLUMNS`, plus
``library_version`` and ``error`` for a method that cannot run there), computed by

    python -m camwalls_lib.walltest board --out FOLDER [--networks a,b] [--n 16]

which writes ``rows-<network>.json`` per network (a network already there is not recomputed:
delete its file to redo it) and merges every such file into ``scoreboard.csv`` and
``scoreboard.json`` (rows plus the versions of torch and of each library). The library ships
the result next to this module (:func:`load_board`); the book reads it and never recomputes it.

Libraries (:data:`LIBRARIES`): ``camwalls`` (:mod:`camwalls_lib.cams`), ``grad-cam``,
``torchcam``, ``captum`` (:mod:`~camwalls_lib.peers.captum_attr` and
:mod:`~camwalls_lib.peers.captum_more`), ``zennit`` and ``shap``.
"""

from __future__ import annotations

import contextlib
import html
import importlib.metadata
import io
import json
import logging
import platform
import warnings
from pathlib import Path

import torch

from .. import cams, validate
from ..metrics import walltest as core
from . import standard
from ..peers.superpixels import straddling
from ..walls import dead_rows
from .predictions import predicted_pass
from .run import run

__all__ = ["LIBRARIES", "VERSION", "BOARD", "explainers_of", "compute_network", "merge",
           "compute_board", "load_board", "to_html"]

VERSION = 1
"""Bumped whenever the networks, inputs, methods or their settings change."""
BOARD = Path(__file__).resolve().parent / "scoreboard.json"
LIBRARIES = {"camwalls": "camwalls", "grad-cam": "grad-cam", "torchcam": "torchcam",
             "captum": "captum", "zennit": "zennit", "shap": "shap"}
"""Library -> its PyPI distribution (whose version goes in every row)."""


def explainers_of(library: str) -> dict:
    """``{method: explainer}`` of ``library`` with the scoreboard's settings."""
    from .. import peers
    if library == "camwalls":
        return {cams.LABELS[m]: core.camwalls_explainer(m, **({"steps": 10} if m == "opticam"
                                                              else {}))
                for m in cams.METHODS}
    if library == "captum":
        from ..peers import captum_more
        return {**peers.explainers("captum"), **captum_more.explainers()}
    if library == "zennit":
        from ..peers import zennit_lrp
        return zennit_lrp.explainers()
    if library == "shap":
        from ..peers import shap_values
        return shap_values.explainers()
    if library in ("grad-cam", "torchcam"):
        return peers.explainers(library)
    raise ValueError(f"Unknown library {library!r}; choose from {list(LIBRARIES)}.")


def versions() -> dict:
    """The versions the scoreboard is computed with."""
    out = {"python": platform.python_version(), "torch": torch.__version__.split("+")[0]}
    for library, dist in {**LIBRARIES, "camwalls": "camwalls"}.items():
        try:
            out[library] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[library] = "not installed"
    return out


def compute_network(network: str, n: int = standard.N_IMAGES, libraries=tuple(LIBRARIES),
                    methods: dict | None = None) -> list[dict]:
    """The rows of one network; ``methods``: optional ``{library: [method names]}`` subset."""
    case = standard.load(network, n)
    have = versions()
    rows = []
    for library in libraries:
        explainers = explainers_of(library)
        if methods is not None:
            explainers = {k: v for k, v in explainers.items() if k in methods.get(library, ())}
        torch.manual_seed(0)                   # SS-CAM, SmoothGrad++ and the noise tunnels
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            logging.getLogger("torchcam").setLevel(logging.ERROR)
            found = run(explainers, [network], n, library=library, cases={network: case})
        rows += [{**r, "library_version": have[library]} for r in found]
    return rows


def merge(folder) -> Path:
    """Merge every ``rows-*.json`` of ``folder`` into ``scoreboard.json`` and ``.csv``."""
    from .__main__ import to_csv
    folder = Path(folder)
    parts = sorted(folder.glob("rows-*.json"))
    if not parts:
        raise FileNotFoundError(f"No rows-*.json in {folder}: compute a network first.")
    rows, meta = [], {}
    for part in parts:
        blob = json.loads(part.read_text())
        case = standard.load(blob["network"], 1)
        rows += blob["rows"]
        meta[blob["network"]] = {"n_images": blob["n_images"], "versions": blob["versions"],
                                 "dead_rows": dead_rows(case.zone),
                                 "baseline_mu": case.baseline_mu,
                                 "straddling": straddling(case.zone)}
    straddles = {k: v["straddling"] for k, v in meta.items()}
    for r in rows:
        r["predicted"] = "passes" if predicted_pass(r["library"], r["method"], r["network"],
                                                    straddles[r["network"]]) else "leaks"
    board = {"version": VERSION, "networks": meta, "rows": rows,
             "command": "python -m camwalls_lib.walltest board --out FOLDER"}
    validate.atomic_write_text(folder / "scoreboard.csv", to_csv(rows))
    return validate.atomic_write_text(folder / "scoreboard.json", json.dumps(board, indent=0))


def compute_board(folder, networks=standard.NETWORKS, n: int = standard.N_IMAGES,
                  libraries=None) -> Path:
    """Compute the networks not yet in ``folder`` (one file each; with ``libraries``, one
    file per network and library, so that several processes can share the work), then
    :func:`merge`."""
    folder = validate.explicit_dir(folder, "the output folder", "create it first")
    for network in networks:
        suffix = "" if libraries is None else "-" + "-".join(libraries)
        path = folder / f"rows-{network}{suffix}.json"
        if path.is_file():
            continue
        rows = compute_network(network, n, tuple(libraries or LIBRARIES))
        validate.atomic_write_text(path, json.dumps(
            {"network": network, "n_images": n, "versions": versions(), "rows": rows}))
    return merge(folder)


def load_board(path=None) -> dict:
    """The shipped scoreboard: ``{"version", "networks", "rows", "command"}``."""
    path = Path(path) if path is not None else BOARD
    fix = "recompute it with `python -m camwalls_lib.walltest board --out FOLDER`"
    if not path.is_file():
        raise FileNotFoundError(f"No scoreboard at {path}; {fix}.")
    try:
        board = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise validate.CorruptFile(f"The scoreboard {path} is not valid JSON ({err}); {fix}.")
    if not isinstance(board, dict) or board.get("version") != VERSION or \
            not isinstance(board.get("rows"), list):
        raise validate.CorruptFile(f"The scoreboard {path} is not a version-{VERSION} "
                                   f"scoreboard; {fix}.")
    return board


_SORT_JS = """<script>
function cwSort(th) {
  const table = th.closest("table"), body = table.tBodies[0];
  const i = Array.from(th.parentNode.children).indexOf(th), up = th.dataset.up !== "1";
  th.dataset.up = up ? "1" : "0";
  Array.from(body.rows).sort((a, b) => {
    const x = a.cells[i].dataset.v, y = b.cells[i].dataset.v;
    const c = isNaN(x) || isNaN(y) || x === "" || y === "" ? x.localeCompare(y) : x - y;
    return up ? c : -c;
  }).forEach(r => body.appendChild(r));
}
</script>"""


def _interval(r, key):
    if r.get(f"{key}_mean") is None:
        return "", ""
    mean, lo, hi = r[f"{key}_mean"], r[f"{key}_lo"], r[f"{key}_hi"]
    if r["verdict"] == "exactly zero":
        return "0 (exact)", "0"
    return f"{mean:.3f} [{lo:.3f}, {hi:.3f}]", f"{mean:.6g}"


def to_html(rows: list[dict]) -> str:
    """A static HTML table of scoreboard rows, sortable by clicking a header (a few lines of
    JavaScript, no library, works offline). mu and mass share with their 95 % intervals,
    each beside the constant map's."""
    heads = ["network", "library", "method", "verdict", "μ [95 % interval]", "constant map μ",
             "mass share [95 % interval]", "constant map mass", "predicted"]
    out = ['<table class="cw-board"><thead><tr>'
           + "".join(f'<th onclick="cwSort(this)" style="cursor:pointer">{h} &#x2195;</th>'
                     for h in heads) + "</tr></thead><tbody>"]
    for r in rows:
        mu_text, mu_v = _interval(r, "mu")
        mass_text, mass_v = _interval(r, "mass")
        verdict = r["verdict"] if r["verdict"] != "n/a" else "cannot run"
        cells = [(r["network"], r["network"]), (r["library"], r["library"]),
                 (r["method"], r["method"]), (verdict, verdict), (mu_text, mu_v),
                 (f"{r['baseline_mu']:.3f}", f"{r['baseline_mu']:.6g}"), (mass_text, mass_v),
                 (f"{r['baseline_mass']:.3f}", f"{r['baseline_mass']:.6g}"),
                 (r.get("predicted", ""), r.get("predicted", ""))]
        out.append("<tr>" + "".join(f'<td data-v="{html.escape(str(v))}">{html.escape(t)}</td>'
                                    for t, v in cells) + "</tr>")
    return "\n".join(out) + "</tbody></table>" + _SORT_JS
