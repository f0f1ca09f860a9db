"""The paper's Table 1 for any model: how much of each method's map lands in the dead zone.

:func:`leak_birth` follows one map through the usual pipeline (ReLU, upsampling, min-max,
smoothing) and says after which step it first puts mass in the dead zone;
:func:`upsampling_margin` says how many input rows separate the dead zone from the farthest
row an upsampling of the visible cells can reach.

:func:`leak_table` runs every method on a batch of images, upsamples and normalises the maps
as the paper's pipeline does (bilinear to the input size, min-max to [0, 1]) and reports
``mu x 100`` as mean +- sd over the images, next to :data:`PAPER_TABLE1`.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import cams, distributed, validate
from ..errors import BadType, BadValue
from .faithfulness import gaussian_blur
from .mu import mu

__all__ = ["LeakTable", "leak_table", "fingerprint", "PAPER_TABLE1", "ABSTRACT_TABLE1", "signed_map",
           "leak_birth", "upsampling_margin", "UPSAMPLINGS"]

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

ABSTRACT_TABLE1: dict[str, dict[str, tuple[float, float]]] = {
    "opticam": {"STACK-MIX": (32.7, 7.9), "STACK-GEN": (32.0, 7.8)},
}
"""The row of the extended abstract's Table 1 that the full paper's lacks (Opti-CAM; same
units and network as :data:`PAPER_TABLE1`, quoted)."""


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
        """One row per image, one column per method (mu in [0, 1]), after two comment lines:
        the fingerprint and the SHA-256 of the rows. Written atomically (temp file, then
        ``os.replace``)."""
        methods = list(self.mu)
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["image", *methods])
        for n in range(len(next(iter(self.mu.values())))):
            writer.writerow([n, *(f"{float(self.mu[m][n]):.8f}" for m in methods)])
        body = out.getvalue()
        return validate.atomic_write_text(
            path, f"# fingerprint: {self.fingerprint}\n# sha256: {_sha(body)}\n{body}")

    @classmethod
    def from_csv(cls, path) -> "LeakTable":
        """Read a table written by :meth:`to_csv`. An empty, truncated or edited file (its rows
        no longer match their SHA-256) raises :class:`~camwalls_lib.validate.CorruptFile`
        naming it."""
        path = Path(path)
        text = path.read_text()
        head = text.split("\n", 2)
        if len(head) < 3 or not (head[0].startswith("# fingerprint: ")
                                 and head[1].startswith("# sha256: ")):
            raise validate.CorruptFile(f"{path} is not a leak-table CSV (no fingerprint and "
                                       "checksum lines): delete it or pass another cache path.")
        if _sha(head[2]) != head[1].split(": ", 1)[1]:
            raise validate.CorruptFile(f"{path} is truncated or was edited (its rows do not "
                                       "match their checksum): delete it to recompute.")
        rows = list(csv.reader(head[2].splitlines()))
        methods = rows[0][1:]
        values = torch.tensor([[float(v) for v in r[1:]] for r in rows[1:]]).reshape(-1, len(methods))
        return cls({m: values[:, j] for j, m in enumerate(methods)},
                   fingerprint=head[0].split(": ", 1)[1])


def leak_table(model, x: torch.Tensor, dead_zone: torch.Tensor, methods=None, target=None,
               layer=None, batch_size: int = 64, cache=None, progress: bool = True,
               keep_maps: bool = False, world: distributed.World | None = None,
               **method_options) -> LeakTable:
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
        images, dead zone, methods, targets and options: see ``fingerprint``; one row per
        image; rows matching their checksum) it is read instead of recomputed. A stale or
        damaged cache is recomputed with a one-line notice and (over)written atomically.
    keep_maps : also return the normalised maps (``table.maps``), e.g. to score their
        faithfulness with :func:`camwalls_lib.metrics.insertion_deletion`.
    world : the processes that share the work (default: the current process group, size 1
        without torchrun). Under torchrun every rank calls ``leak_table`` with the same
        arguments; the batches of ``batch_size`` images are dealt to the ranks in turn, so each
        batch is computed exactly as one process computes it, and every rank returns the whole
        table, identical to the one-process table; rank 0 alone reads and writes ``cache``.
        ``seconds`` are summed over the ranks.
    method_options : per-method options, e.g. ``opticam={"steps": 20}``.
    """
    if isinstance(methods, str):
        raise BadType(f"methods must be a list of method names, got the string {methods!r}: "
                      f"write methods=[{methods!r}].")
    x = validate.images(x)
    dead_zone = validate.tensor(dead_zone, "dead_zone", "bool [H, W]")
    if dead_zone.dtype != torch.bool or dead_zone.shape != x.shape[-2:]:
        raise BadValue(f"dead_zone must be a bool mask [H, W] = {tuple(x.shape[-2:])} (the "
                       f"images' size; walls.dead_zone gives it), got {dead_zone.dtype} "
                       f"{tuple(dead_zone.shape)}.")
    batch_size = validate.positive_int(batch_size, "batch_size")
    methods = methods or [m for m in cams.METHODS if m != "cam"]
    names = [m.__name__ if callable(m) else cams.method_name(m) for m in methods]
    key = fingerprint(model, x, dead_zone, names, target, layer, method_options)
    world = world or distributed.current()
    if cache is not None and not keep_maps:
        table = distributed.broadcast_object(
            _read_cache(Path(cache), key, names, len(x)) if world.main else None)
        if table is not None:
            return table
    mine = {}                          # first image of each of this rank's batches -> results
    for i in range(world.rank * batch_size, len(x), world.size * batch_size):
        seconds = {}
        maps = cams.saliency_many(methods, model, x[i:i + batch_size],
                                  None if target is None else _slice(target, i, batch_size),
                                  layer, method_options=method_options, seconds=seconds,
                                  progress=progress and world.main, batch_size=batch_size)
        mine[i] = ({n: mu(maps[n], dead_zone) for n in names}, seconds,
                   {n: maps[n] for n in names} if keep_maps else {})
    batches = sorted((i, r) for part in distributed.gather_objects(mine) for i, r in part.items())
    table = LeakTable({}, fingerprint=key, seconds=dict.fromkeys(names, 0.0))
    for name in names:
        table.mu[name] = torch.cat([b[0][name] for _, b in batches])
        table.seconds[name] = sum(b[1][name] for _, b in batches)
        if keep_maps:
            table.maps[name] = torch.cat([b[2][name] for _, b in batches])
    if cache is not None and world.main:
        table.to_csv(cache)
    return table


def _read_cache(path: Path, key: str, names: list[str], n: int) -> LeakTable | None:
    """The cached table if it is this computation's; else None, with a one-line notice when
    a file was there but stale or damaged."""
    if path.is_dir():
        raise IsADirectoryError(f"cache={path} is a folder: pass a file path, e.g. "
                                f"{path / 'leak.csv'}.")
    if not path.exists():
        return None
    try:
        table = LeakTable.from_csv(path)
    except (validate.CorruptFile, ValueError, IndexError, UnicodeDecodeError) as e:
        print(f"Leak cache file {path.name} is unreadable ({type(e).__name__}): recomputing.")
        return None
    if table.fingerprint != key or list(table.mu) != names or \
            any(len(v) != n for v in table.mu.values()):
        print(f"Leak cache file {path.name} holds another computation (model, images, methods or "
              "options changed): recomputing.")
        return None
    return table


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


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


UPSAMPLINGS = (("nearest", "nearest", None), ("bilinear", "bilinear", False),
               ("bilinear, align_corners", "bilinear", True), ("bicubic", "bicubic", False),
               ("bicubic, align_corners", "bicubic", True))
"""``(label, mode, align_corners)`` of the upsamplings :func:`leak_birth` compares."""


def signed_map(rule, model, x: torch.Tensor, target=None, layer=None) -> torch.Tensor:
    """``sum_v alpha_v B^(v)`` *before* the ReLU: ``[N, h, w]``, signed. ``rule`` is a
    weighting rule of :mod:`camwalls_lib.cams` (e.g. ``cams.gradcam_weights``)."""
    cap = cams.capture(model, x, target, layer)
    alpha = rule(cap)
    return (alpha[:, :, None, None] if alpha.dim() == 2 else alpha).mul(cap.B).sum(1)


def leak_birth(raw: torch.Tensor, cells: torch.Tensor, zone: torch.Tensor,
               sigma: float = 2.0) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """``mu`` of one map after each step of the usual pipeline.

    ``raw [h, w]``: a signed map at feature resolution (:func:`signed_map`); ``cells [h, w]``:
    the dead cells of that map (:func:`camwalls_lib.walls.dead_cells`); ``zone [H, W]``: the
    input dead zone. The first two stages are measured on ``cells``, the rest on ``zone``.
    ``sigma``: the Gaussian smoothing's standard deviation, in input pixels.
    Returns ``(mu per stage, map per stage)``, stages in pipeline order.
    """
    size, relu = tuple(zone.shape), raw.clamp(min=0)
    maps = {"raw, signed": (raw, cells), "ReLU": (relu, cells)}
    for label, mode, corners in UPSAMPLINGS:
        maps[f"ReLU, {label}"] = (cams.upsample(relu[None], size, mode, corners)[0], zone)
    for label in ("bilinear", "bicubic"):
        maps[f"ReLU, {label}, min-max"] = (cams.normalize(maps[f"ReLU, {label}"][0][None])[0], zone)
    smooth = gaussian_blur(maps["ReLU, bilinear, min-max"][0][None, None], sigma)[0, 0]
    maps[f"ReLU, bilinear, min-max, blur (sigma {sigma:g} px)"] = (smooth, zone)
    maps["no ReLU, nearest, min-max"] = (
        cams.normalize(cams.upsample(raw[None], size, "nearest")[0][None])[0], zone)
    return ({k: float(mu(m, z)) for k, (m, z) in maps.items()}, {k: m for k, (m, _) in maps.items()})


def upsampling_margin(cells: torch.Tensor, zone: torch.Tensor, mode: str = "bilinear",
                      align_corners: bool | None = False) -> int:
    """Rows between the dead zone and the farthest input row that upsampling (``mode``, as in
    :func:`camwalls_lib.cams.upsample`) carries a value of a visible cell to.

    ``cells [h, w]``: the dead cells of a feature map whose dead cells are the bottom rows
    (:func:`camwalls_lib.walls.dead_cells`); ``zone [H, W]``: the input dead zone, also a band
    of bottom rows. A map that is 0 on every dead cell is, once upsampled, 0 on every row below
    the last one a visible cell reaches: the result is the number of such rows above the dead
    zone (0: the reach ends right at the dead zone's edge), or minus the number of dead rows
    it reaches (then even a map that is exactly 0 behind the wall leaks once upsampled).
    """
    cells = _bottom_band(cells, "cells")
    zone = _bottom_band(zone, "zone")
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise BadValue(f"mode must be 'bilinear', 'nearest' or 'bicubic', got {mode!r}.")
    visible = (~cells).float()[None]
    reach = cams.upsample(visible, tuple(zone.shape), mode, align_corners)[0] != 0
    rows = torch.nonzero(reach.any(1)).flatten()
    dead_first = int(torch.nonzero(zone.all(1)).flatten()[0])
    return dead_first - (int(rows[-1]) + 1)


def _bottom_band(mask, name: str) -> torch.Tensor:
    """``mask`` as a bool ``[h, w]`` whose True rows are whole rows at the bottom, at least one
    True and one False row (what :func:`upsampling_margin` measures)."""
    if not isinstance(mask, torch.Tensor):
        raise BadType(f"{name} must be a bool tensor [h, w], got {type(mask).__name__}.")
    if mask.dim() != 2 or mask.dtype != torch.bool or 0 in mask.shape:
        raise BadValue(f"{name} must be a non-empty bool tensor [h, w], got shape "
                       f"{tuple(mask.shape)} and dtype {mask.dtype}.")
    rows = mask.all(1)
    if not (mask.any(1) == rows).all() or not rows.any() or rows.all():
        raise BadValue(f"{name} must mark whole rows, some of them and not all (a wall on the "
                       "bottom rows).")
    first = int(torch.nonzero(rows).flatten()[0])
    if not rows[first:].all():
        raise BadValue(f"{name} must mark the bottom rows, one band down to the last row.")
    return mask.cpu()
