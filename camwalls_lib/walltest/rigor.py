"""The residual networks across training seeds, at initialisation and after training, and
across wall heights: is a verdict a property of the method or of one network?

:func:`compute_rigor` runs :data:`METHODS` on both residual variants for every
``(state, seed, wall_rows)`` of :func:`conditions`: trained (the shipped seeds; the default
wall) and at initialisation (seeds 0-2, three wall heights each). Each row is a
:func:`~.stats.summarize` row (mu and mass share with bootstrap intervals over the 16
standard images, beside the constant-map baseline of *that* dead zone) plus ``state``,
``seed`` and ``wall_rows``. ``python -m camwalls_lib.walltest rigor --out FOLDER`` writes
``rigor.csv`` and ``rigor.json``; the library ships them next to this module.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .. import cams, validate
from ..data.mnist import Digits
from ..data.stacked import stack_digits
from ..metrics import walltest as core
from ..networks.resnet import DEFAULT_WALL_ROWS, WalledResNet
from ..walls import dead_zone
from . import standard
from .stats import summarize

__all__ = ["METHODS", "HEIGHTS", "conditions", "compute_rigor", "load_rigor", "RIGOR"]

METHODS = ("gradcam", "gradcam++", "xgradcam", "hirescam", "layercam", "scorecam", "eigencam")
HEIGHTS = {"head": (5, 7, 9), "stage": (8, 12, 16)}
RIGOR = Path(__file__).resolve().parent / "rigor.json"


def conditions(variant: str) -> list[tuple[str, int, int]]:
    """``(state, seed, wall_rows)``: the shipped trained seeds, then every seed x height at
    initialisation."""
    from ..experiments import resnet_walls as resnet
    trained = [("trained", s, DEFAULT_WALL_ROWS[variant]) for s in resnet.SEEDS
               if (resnet.FOLDER / resnet.name_of(variant, True, s)).is_file()]
    return trained + [("init", s, h) for s in (0, 1, 2) for h in HEIGHTS[variant]]


def _model(variant, state, seed, rows):
    if state == "trained":
        from ..experiments import resnet_walls as resnet
        return resnet.load(variant, True, seed)[0]
    torch.manual_seed(seed)
    return WalledResNet(variant, rows).eval()


def _images(zone, n):
    arrays = standard.read_inputs()
    digits = Digits(torch.cat([arrays["mnist_a"][:n], arrays["mnist_b"][:n]]),
                    torch.cat([arrays["mnist_y"][:n]] * 2), "MNIST test digits")
    return stack_digits(digits, zone, pairs=torch.stack([torch.arange(n), torch.arange(n) + n], 1)).x


def compute_rigor(n: int = standard.N_IMAGES, variants=("head", "stage"),
                  only=None) -> list[dict]:
    """Every row (see the module docstring); ``only``: a subset of :func:`conditions`."""
    rows = []
    for variant in variants:
        for state, seed, wall_rows in only or conditions(variant):
            model = _model(variant, state, seed, wall_rows)
            zone = dead_zone(model, (1, 28, 28))
            x = _images(zone, n)
            for method in METHODS:
                report = core.wall_test(core.camwalls_explainer(method), model, x, zone=zone,
                                        name=cams.LABELS[method], library="camwalls")
                rows.append({**summarize(report, zone, f"resnet-{variant}"), "state": state,
                             "seed": seed, "wall_rows": wall_rows})
    return rows


def write_rigor(folder, n: int = standard.N_IMAGES) -> Path:
    """Compute and write ``rigor.json`` and ``rigor.csv`` into ``folder``."""
    from .__main__ import to_csv
    folder = validate.explicit_dir(folder, "the output folder", "create it first")
    rows = compute_rigor(n)
    validate.atomic_write_text(folder / "rigor.csv", to_csv(rows))
    return validate.atomic_write_text(folder / "rigor.json", json.dumps(
        {"n_images": n, "methods": list(METHODS), "rows": rows}, indent=0))


def load_rigor(path=None) -> dict:
    """The shipped rows: ``{"n_images", "methods", "rows"}``."""
    path = Path(path) if path is not None else RIGOR
    if not path.is_file():
        raise FileNotFoundError(f"No rigor table at {path}; recompute it with "
                                "`python -m camwalls_lib.walltest rigor --out FOLDER`.")
    blob = json.loads(path.read_text())
    if not isinstance(blob, dict) or not isinstance(blob.get("rows"), list):
        raise validate.CorruptFile(f"{path} is not a rigor table; recompute it.")
    return blob
