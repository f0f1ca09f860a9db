"""``python -m camwalls_lib.walltest``: the wall-test benchmark from the command line.

Subcommands:

- ``run MODULE:ATTRIBUTE`` -- put an explainer (or a dict of explainers) through the standard
  set; prints one line per method and network; ``--json PATH`` / ``--csv PATH`` (``-`` for
  standard output) write the rows. Exit status 0 when every map holds the wall (exactly zero,
  or below ``--tolerance``), 1 when one leaks, is blank or fails, 2 for bad arguments (and
  for any refusal of the library: one line on stderr, no traceback).
- ``networks`` -- the standard networks with their dead zones and baselines.
- ``board --out FOLDER`` -- recompute the shipped scoreboard (:mod:`.board`).
- ``rigor --out FOLDER`` -- recompute the residual networks' seeds / initialisation / wall
  heights table (:mod:`.rigor`).
- ``inputs --out PATH`` -- re-create the standard inputs from the offline test sets.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys

from .. import validate
from ..readable import num
from . import standard
from .run import load_spec, run


def format_row(r: dict) -> str:
    """One line for people: network, method, verdict and mu beside its baseline."""
    head = f"{r['network']:13s} {r['method'][:34]:34s} {r['verdict']:16s}"
    if "error" in r:
        return f"{head} {r['error']}"
    if r.get("mu_mean") is None:
        return f"{head} (every map blank)"
    return (f"{head} mu {num(r['mu_mean'])} [{num(r['mu_lo'])}, {num(r['mu_hi'])}]  "
            f"mass {num(r['mass_mean'])} [{num(r['mass_lo'])}, {num(r['mass_hi'])}]  "
            f"(constant map: mu {num(r['baseline_mu'])}, mass {num(r['baseline_mass'])})")


def to_csv(rows: list[dict]) -> str:
    """The rows as CSV, columns in first-seen order (every row's keys)."""
    columns = list(dict.fromkeys(k for r in rows for k in r))
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _emit(text: str, path: str) -> None:
    if path == "-":
        sys.stdout.write(text)
    else:
        validate.atomic_write_text(path, text)


def _images(value: str) -> int:
    try:
        n = validate.positive_int(int(value), "--n")
    except (ValueError, TypeError) as err:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value!r}") from err
    if n > standard.N_IMAGES:
        raise argparse.ArgumentTypeError(f"the standard set has {standard.N_IMAGES} images "
                                         f"per network, got {n}")
    return n


def _tolerance(value: str) -> float:
    try:
        return validate.fraction(float(value), "tolerance")
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {value!r}") from err


def _networks(value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"unknown network(s): none named; choose from "
                                         f"{','.join(standard.NETWORKS)}")
    try:
        return [validate.choice(n, "network", standard.NETWORKS) for n in names]
    except ValueError:
        raise argparse.ArgumentTypeError(f"unknown network(s) in {value!r}; choose from "
                                         f"{','.join(standard.NETWORKS)}") from None


def _libraries(value: str) -> list[str]:
    from .board import LIBRARIES
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in LIBRARIES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown library {unknown or value!r}; choose from "
                                         f"{','.join(LIBRARIES)}")
    return names


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m camwalls_lib.walltest",
                                description="The wall test as a benchmark: walled networks "
                                            "with a proved dead zone, any explainer.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="test an explainer (MODULE:ATTRIBUTE) on the standard set")
    r.add_argument("spec", help="MODULE:ATTRIBUTE, an explainer (model, x, target) -> maps "
                                "[N, h, w] or a dict {name: explainer}")
    r.add_argument("--networks", type=_networks, default=list(standard.NETWORKS),
                   help=f"comma-separated subset of {','.join(standard.NETWORKS)}")
    r.add_argument("--n", type=_images, default=standard.N_IMAGES,
                   help=f"images per network (at most {standard.N_IMAGES})")
    r.add_argument("--tolerance", type=_tolerance, default=0.0,
                   help="largest mu still passing (default 0: exactly zero required)")
    r.add_argument("--library", default="", help="library name written in the rows")
    r.add_argument("--json", metavar="PATH", type=validate.file_arg,
                   help="write the rows as JSON ('-': stdout)")
    r.add_argument("--csv", metavar="PATH", type=validate.file_arg,
                   help="write the rows as CSV ('-': stdout)")
    sub.add_parser("networks", help="list the standard networks")
    b = sub.add_parser("board", help="recompute the scoreboard into a folder")
    b.add_argument("--out", required=True, type=validate.existing_dir_arg,
                   help="existing folder for scoreboard.csv/.json")
    b.add_argument("--networks", type=_networks, default=list(standard.NETWORKS))
    b.add_argument("--n", type=_images, default=standard.N_IMAGES)
    b.add_argument("--libraries", type=_libraries, help="comma-separated subset of "
                   "camwalls,grad-cam,torchcam,captum,zennit,shap (one file per network and "
                   "library: run several at once)")
    g = sub.add_parser("rigor", help="recompute the seeds / initialisation / wall-height table")
    g.add_argument("--out", required=True, type=validate.existing_dir_arg,
                   help="existing folder for rigor.csv/.json")
    g.add_argument("--n", type=_images, default=standard.N_IMAGES)
    i = sub.add_parser("inputs", help="re-create the standard inputs")
    i.add_argument("--out", required=True, type=validate.file_arg,
                   help="path of the .npz to write")
    return p


def main(argv=None) -> int:
    p = parser()
    a = p.parse_args(argv)
    if a.command == "inputs" and a.out == "-":
        p.error("inputs --out needs a file path, not '-'")
    with validate.usage_errors(p):            # a refusal: one line and status 2, no traceback
        return _command(p, a)


def _command(p: argparse.ArgumentParser, a: argparse.Namespace) -> int:
    if a.command == "networks":
        for name in standard.NETWORKS:
            case = standard.load(name, 1)
            print(f"{name:13s} input {tuple(case.x.shape[1:])}, dead zone "
                  f"{100 * case.baseline_mass:.1f} % of the pixels, constant-map mu "
                  f"{case.baseline_mu:.3f}")
        return 0
    if a.command == "inputs":
        print(standard.build_inputs(a.out))
        return 0
    if a.command == "board":
        from .board import compute_board
        print(compute_board(a.out, a.networks, a.n, a.libraries))
        return 0
    if a.command == "rigor":
        from .rigor import write_rigor
        print(write_rigor(a.out, a.n))
        return 0
    try:
        explainers = load_spec(a.spec)
    except (ValueError, ImportError, AttributeError, TypeError) as err:
        p.error(str(err))
    if "-" in (a.json, a.csv) and a.json == a.csv:
        p.error("--json - and --csv - cannot both write to standard output")
    rows = run(explainers, a.networks, a.n, a.tolerance, a.library)
    if "-" not in (a.json, a.csv):
        print("\n".join(format_row(r) for r in rows))
    if a.json:
        _emit(json.dumps(rows, indent=1) + "\n", a.json)
    if a.csv:
        _emit(to_csv(rows), a.csv)
    holds = all(r["verdict"] in ("exactly zero", "below tolerance") for r in rows)
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main())
