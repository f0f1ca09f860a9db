"""The paper's Table 1 for any model: how much of each method's map lands in the dead zone.

:func:`leak_table` runs every method on a batch of images, upsamples and normalises the maps
as the paper's pipeline does (bilinear to the input size, min-max to [0, 1]) and reports
``mu x 100`` as mean +- sd over the images, next to :data:`PAPER_TABLE1`.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import cams
from .metrics import mu
from .perturb import check_batch_size

__all__ = ["LeakTable", "leak_table", "fingerprint", "PAPER_TABLE1"]

PAPER_TABLE1: dict[str, dict[str, tuple[float, float]]] = {
    "gradcam": {"STACK-MIX": (22.7, 13.4), "STACK-GEN": (21.6, 11.6)},
    "gradcam++": {"STACK-MIX": (28.8, 8.1), "STACK-GEN": (28.5, 7.9)},
    "xgradcam": {"STACK-MIX": (23.8, 9.0), "STACK-GEN": (22.8, 9.0)},
    "scorecam": {"STACK-MIX": (19.9, 10.3), "STACK-GEN": (18.5, 10.6)},
    "ablationcam": {"STACK-MIX": (21.0, 9.9), "STACK-GEN": (20.8, 9.6)},
    "eigencam": {"STACK-MIX": (51.7, 19.7), "STACK-GEN": (55.8, 21.6)},
    "hirescam": {"STACK-MIX": (0.0, 0.0), "STACK-GEN": (0.0, 0.0)},
}
"""Quoted from the paper's Table 1 (mu x 100, mean +- sd, masked [VGG] on ImageNet
composites). Not computed here: these are the authors' numbers."""


@dataclass
class LeakTable:
    """``mu[method]``: ``[N]`` leak of each image's map; ``seconds[method]``: time spent
    (the one capture the single-layer methods share is split evenly among them);
    ``maps[method]``: the ``[N, H, W]`` maps themselves when asked for (``keep_maps=True``);
    ``fingerprint``: what was computed (model weights, images, methods, options)."""

    mu: dict[str, torch.Tensor]
    seconds: dict[str, float] = field(default_factory=dict)
    maps: dict[str, torch.Tensor] = field(default_factory=dict)
    fingerprint: str = ""

    def rows(self) -> list[tuple[str, float, float]]:
        """``(label, mean x 100, sd x 100)`` per method, in computation order."""
        return [(cams.LABELS.get(m, m), 100 * float(v.mean()),
                 100 * float(v.std()) if len(v) > 1 else 0.0) for m, v in self.mu.items()]

    def to_markdown(self, paper: str | None = None) -> str:
        """A Markdown table; ``paper="STACK-MIX"`` or ``"STACK-GEN"`` adds the quoted column."""
        head = "| method | mu x 100 (here) |" + (f" paper, {paper} (quoted) |" if paper else "")
        rule = "|---|---|" + ("---|" if paper else "")
        lines = [head, rule]
        for (label, mean, sd), method in zip(self.rows(), self.mu):
            line = f"| {label} | {mean:.1f} ± {sd:.1f} |"
            if paper:
                quoted = PAPER_TABLE1.get(method, {}).get(paper)
                line += f" {quoted[0]:.1f} ± {quoted[1]:.1f} |" if quoted else " — |"
            lines.append(line)
        return "\n".join(lines)

    def to_csv(self, path) -> Path:
        """One row per image, one column per method (mu in [0, 1])."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        methods = list(self.mu)
        with open(path, "w", newline="") as f:
            f.write(f"# fingerprint: {self.fingerprint}\n")
            writer = csv.writer(f)
            writer.writerow(["image", *methods])
            for n in range(len(next(iter(self.mu.values())))):
                writer.writerow([n, *(f"{float(self.mu[m][n]):.8f}" for m in methods)])
        return path

    @classmethod
    def from_csv(cls, path) -> "LeakTable":
        with open(path, newline="") as f:
            lines = f.read().splitlines()
        fingerprint = lines[0].split(": ", 1)[1] if lines[0].startswith("# fingerprint") else ""
        rows = list(csv.reader(line for line in lines if not line.startswith("#")))
        methods = rows[0][1:]
        values = torch.tensor([[float(v) for v in r[1:]] for r in rows[1:]])
        return cls({m: values[:, j] for j, m in enumerate(methods)}, fingerprint=fingerprint)


def leak_table(model, x: torch.Tensor, dead_zone: torch.Tensor, methods=None, target=None,
               layer=None, batch_size: int = 64, cache=None, progress: bool = True,
               keep_maps: bool = False, **method_options) -> LeakTable:
    """``mu`` of every method's map on every image of ``x [N, C, H, W]``.

    Parameters
    ----------
    dead_zone : bool ``[H, W]`` (from :func:`camwalls_lib.walls.dead_zone`).
    methods : names from :data:`cams.METHODS` (default: all but ``"cam"``, which is only
        defined on GAP-linear heads) or your own weighting rules (see :func:`cams.compute`),
        listed under their function names.
    target : None explains each image's predicted class, as the paper does.
    layer : the explained layer for single-layer methods; Poly-CAM always uses its own
        ``model.poly_layers`` (or the default CAM layer).
    batch_size : images per call (a positive int), also given to every method that takes a
        ``batch_size`` (forward passes per batch: ScoreCAM, AblationCAM, Poly-CAM). On each
        batch of images one capture serves every single-layer method
        (:func:`cams.compute_many`).
    cache : a CSV path; if it holds the result of the same computation (same model weights,
        images, dead zone, methods, targets and options: see ``fingerprint``) it is read
        instead of recomputed, otherwise it is (over)written.
    keep_maps : also return the normalised maps (``table.maps``), e.g. to score their
        faithfulness with :func:`camwalls_lib.metrics.insertion_deletion`.
    method_options : per-method options, e.g. ``opticam={"steps": 20}``.
    """
    check_batch_size(batch_size)
    methods = methods or [m for m in cams.METHODS if m != "cam"]
    names = [m.__name__ if callable(m) else cams._method_name(m) for m in methods]
    key = fingerprint(model, x, dead_zone, names, target, layer, method_options)
    if cache is not None and Path(cache).exists() and not keep_maps:
        table = LeakTable.from_csv(cache)
        if table.fingerprint == key:
            return table
    table = LeakTable({}, fingerprint=key, seconds=dict.fromkeys(names, 0.0))
    parts = {name: [] for name in names}
    for i in range(0, len(x), batch_size):
        seconds = {}
        maps = cams.saliency_many(methods, model, x[i:i + batch_size],
                                  None if target is None else _slice(target, i, batch_size),
                                  layer, method_options=method_options, seconds=seconds,
                                  progress=progress, batch_size=batch_size)
        for name in names:
            parts[name].append(maps[name])
            table.seconds[name] += seconds[name]
    for name in names:
        maps = torch.cat(parts[name])
        table.mu[name] = mu(maps, dead_zone)
        if keep_maps:
            table.maps[name] = maps
    if cache is not None:
        table.to_csv(cache)
    return table


def fingerprint(model, x, dead_zone, names, target, layer, options) -> str:
    """A short hash of everything a leak table depends on."""
    h = hashlib.sha1()
    for t in (*model.state_dict().values(), x, dead_zone):
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    layer_name = layer if isinstance(layer, (str, type(None))) else type(layer).__name__
    h.update(repr((names, None if target is None else torch.as_tensor(target).tolist(),
                   layer_name, sorted(options.items()))).encode())
    return h.hexdigest()[:16]


def _slice(target, i, n):
    target = torch.as_tensor(target).reshape(-1)
    return target if target.numel() == 1 else target[i:i + n]
